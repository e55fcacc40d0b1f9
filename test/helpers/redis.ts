import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll } from 'vitest';

/**
 * A real Redis server for the Redis suites: `REDIS_URL` (default `redis://127.0.0.1:6379`), a
 * unique key prefix per test file, and every key under it deleted afterwards. When no server
 * answers, the suite is skipped with a loud warning; under `CI=true` it fails instead, so CI
 * always runs it.
 */

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export type RedisClient = ReturnType<typeof createClient>;

async function connect(): Promise<RedisClient | undefined> {
  const client = createClient({
    url: redisUrl,
    // Fail fast when nobody listens; do not reconnect for ever in the background.
    socket: { connectTimeout: 2000, reconnectStrategy: false },
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    try {
      client.destroy();
    } catch {
      // Never connected: nothing to close.
    }
    const message = `No Redis at ${redisUrl} (${(error as Error).message}).`;
    if (process.env.CI === 'true') {
      throw new Error(`${message} CI=true requires the Redis suites to run.`);
    }
    const bar = '!'.repeat(78);
    console.warn(
      `\n${bar}\n!! ${message}\n!! SKIPPING the Redis store suites. Start one with:\n!!   redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no\n${bar}\n`,
    );
    return undefined;
  }
}

/** The shared client of a test file, or undefined (suite skipped) when no Redis answers. */
export const redis: RedisClient | undefined = await connect();

/** A prefix no other run or file shares. */
export function uniquePrefix(): string {
  return `pklb-test:${randomUUID().slice(0, 8)}:`;
}

/** node-redis as `redisStore` takes it. */
export function sendCommandOf(client: RedisClient): (args: string[]) => Promise<unknown> {
  return (args) => client.sendCommand(args);
}

/** Every key under a prefix. */
export async function keysUnder(client: RedisClient, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    keys.push(...batch);
  }
  return keys;
}

/** Deletes the keys of the given prefixes and closes the client after the file's tests. */
export function cleanUpAfterAll(prefixes: () => string[]): void {
  afterAll(async () => {
    if (redis === undefined) return;
    for (const prefix of prefixes()) {
      const keys = await keysUnder(redis, prefix);
      if (keys.length > 0) await redis.del(keys);
    }
    await redis.close();
  });
}
