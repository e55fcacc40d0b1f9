import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoadBalancerEventMap, LoadBalancerOptions } from '../../lib/index.js';
import { keys, type RunningServer } from '../helpers/app.js';
import { chat, openaiTarget } from '../helpers/fixtures.js';
import { type GatedUpstream, startGatedUpstream, until } from '../helpers/gated-upstream.js';
import {
  cleanUpAfterAll,
  keysUnder,
  type RedisClient,
  redis,
  sendCommandOf,
  uniquePrefix,
} from '../helpers/redis.js';
import { startReplicas } from '../helpers/replicas.js';
import { virtualKeySecrets } from '../helpers/secrets.js';

const prefixes: string[] = [];
cleanUpAfterAll(() => prefixes);

/** A prefix for one test: two replicas share it, no other test does. */
function testPrefix(): string {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return prefix;
}

describe.skipIf(redis === undefined)('two replicas sharing a Redis store', () => {
  const client = redis as RedisClient;
  let upstream: GatedUpstream;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    upstream = await startGatedUpstream();
  });
  afterAll(async () => {
    for (const server of servers.splice(0)) await server.close();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.open();
    upstream.answer(200);
  });

  /** Two middleware instances (replicas) on one prefix and one clock. */
  function replicas(prefix: string, extra: LoadBalancerOptions = {}) {
    return startReplicas(
      { upstreamUrl: upstream.url, prefix, sendCommand: sendCommandOf(client), servers },
      { circuitBreaker: { failureThreshold: 3 }, ...extra },
    );
  }

  function send(url: string, config: unknown = openaiTarget) {
    return request(url)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);
  }

  it('stops traffic on one replica after failures seen by the other; one probe across both closes it on both', async () => {
    const { time, a, b } = await replicas(testPrefix());
    upstream.answer(500);
    upstream.barrier(3);
    const failures = await Promise.all([send(a), send(a), send(a)]);
    expect(failures.map((res) => res.status)).toEqual([500, 500, 500]);
    const before = upstream.count();
    const ejected = await send(b);
    expect(ejected.status).toBe(503);
    expect(ejected.body.error.code).toBe('ERR_NO_HEALTHY_TARGET');
    expect(upstream.count()).toBe(before);

    time.advance(30_000);
    upstream.answer(200);
    upstream.hold();
    let refused = 0;
    const contenders = Array.from({ length: 10 }, (_, index) =>
      send(index % 2 === 0 ? a : b).then((res) => {
        if (res.status === 503) refused++;
        return res;
      }),
    );
    // Everyone but the probe is told to come back soon while the probe waits at the gate.
    await until(() => refused === 9 && upstream.waiting() === 1);
    upstream.open();
    const results = await Promise.all(contenders);
    expect(results.filter((res) => res.status === 200)).toHaveLength(1);
    expect(results.filter((res) => res.status === 503)).toHaveLength(9);
    expect(upstream.count()).toBe(before + 1);
    expect((await send(a)).status).toBe(200);
    expect((await send(b)).status).toBe(200);
  });

  it('resumes shared state when Redis is back after an outage', async () => {
    const prefix = testPrefix();
    let down = false;
    const events: LoadBalancerEventMap['store-error'][] = [];
    const shared = (args: string[]) =>
      down
        ? Promise.reject(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' }))
        : client.sendCommand(args);
    const { time, a, b } = await startReplicas(
      { upstreamUrl: upstream.url, prefix, sendCommand: shared, servers },
      {
        circuitBreaker: { failureThreshold: 1 },
        on: { 'store-error': (event) => events.push(event) },
      },
    );
    down = true;
    expect((await send(a)).status).toBe(200);
    expect((await send(b)).status).toBe(200);
    expect(events.length).toBeGreaterThan(0);

    down = false;
    time.advance(1000);
    upstream.answer(500);
    expect((await send(a)).status).toBe(500);
    upstream.answer(200);
    expect((await send(b)).status).toBe(503);
  });

  it('gives every key a TTL and stores no API key, in keys or values', async () => {
    const prefix = testPrefix();
    const { time, a, b } = await replicas(prefix, {
      circuitBreaker: { failureThreshold: 2, failureThresholdPercentage: 50, minimumRequests: 2 },
    });
    const other = { ...openaiTarget, api_key: virtualKeySecrets.openaiProd };
    upstream.answer(200);
    await send(a);
    await send(b, other);
    upstream.answer(500);
    await send(a);
    await send(b);
    time.advance(30_000);
    upstream.answer(200);
    await send(a);
    await send(b, other);
    const stored = await keysUnder(client, prefix);
    expect(stored.length).toBeGreaterThan(0);
    const secrets = [...Object.values(keys), ...Object.values(virtualKeySecrets)];
    for (const key of stored) {
      expect(await client.pTTL(key)).toBeGreaterThan(0);
      const dump = `${key} ${JSON.stringify(await client.hGetAll(key))}`;
      for (const secret of secrets) expect(dump).not.toContain(secret);
      expect(dump).not.toContain('http');
    }
  });
});
