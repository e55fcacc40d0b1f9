import { describe, expect, it } from 'vitest';
import { redisStore } from '../../lib/index.js';
import {
  cleanUpAfterAll,
  keysUnder,
  redis,
  sendCommandOf,
  uniquePrefix,
} from '../helpers/redis.js';
import { describeStoreContract } from '../helpers/store-contract.js';

const prefix = uniquePrefix();
cleanUpAfterAll(() => [prefix]);

describe.skipIf(redis === undefined)('redisStore on a real Redis server', () => {
  const client = redis as NonNullable<typeof redis>;
  const store = () => redisStore({ sendCommand: sendCommandOf(client), prefix });

  describeStoreContract('redisStore', store);

  const policy = {
    failureThreshold: 1,
    failureThresholdPercentage: 0,
    minimumRequests: 10,
    windowMs: 10_000,
    cooldownMs: 30_000,
    openForMs: 0,
  };

  it('gives every key a TTL and keeps them under its prefix', async () => {
    const own = uniquePrefix();
    const shared = redisStore({ sendCommand: sendCommandOf(client), prefix: own });
    const now = Date.now();
    await shared.recordFailure('a', now, { ...policy, failureThreshold: 5 });
    await shared.recordFailure('b', now, policy);
    await shared.tryProbe('b', now + 30_000, 600_000);
    await shared.recordSuccess('c', now, { windowMs: 1000, countRequests: true });
    await shared.increment('d', 1, now, 5000);
    const keys = await keysUnder(client, own);
    expect(keys).toHaveLength(4);
    for (const key of keys) expect(await client.pTTL(key)).toBeGreaterThan(0);
    await client.del(keys);
  });

  it('reloads its scripts when Redis has forgotten them (NOSCRIPT)', async () => {
    const shared = store();
    await client.scriptFlush();
    const health = await shared.recordFailure('flushed', Date.now(), policy);
    expect(health.openUntil).toBeGreaterThan(0);
    expect(await shared.snapshot(['flushed'], Date.now())).toHaveLength(1);
  });

  it('loads its scripts in init', async () => {
    await client.scriptFlush();
    await expect(Promise.resolve(store().init?.())).resolves.toBeUndefined();
  });
});
