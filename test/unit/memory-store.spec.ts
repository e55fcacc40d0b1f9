import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../lib/index.js';
import { describeStoreContract } from '../helpers/store-contract.js';

describeStoreContract('MemoryStore', () => new MemoryStore());

describe('MemoryStore bounds', () => {
  const policy = {
    failureThreshold: 5,
    failureThresholdPercentage: 0,
    minimumRequests: 10,
    windowMs: 1000,
    cooldownMs: 5000,
    openForMs: 0,
  };

  it('forgets the least recently changed entries beyond its capacity', () => {
    const store = new MemoryStore(2);
    store.recordFailure('a', 0, policy);
    store.recordFailure('b', 0, policy);
    store.recordFailure('a', 1, policy);
    store.recordFailure('c', 2, policy);
    expect(store.snapshot(['a', 'b', 'c'], 3).map((health) => health?.failures)).toEqual([
      2,
      undefined,
      1,
    ]);
    store.increment('x', 1, 0, 100);
    store.increment('y', 1, 0, 100);
    store.increment('z', 1, 0, 100);
    expect(store.counters(['x', 'y', 'z'], 1)).toEqual([0, 1, 1]);
  });

  it('forgets a state once its window, ejection and cooldown are over', () => {
    const store = new MemoryStore();
    store.recordFailure('a', 0, policy);
    expect(store.snapshot(['a'], 999)[0]?.failures).toBe(1);
    expect(store.snapshot(['a'], 1000)).toEqual([undefined]);
    store.recordFailure('b', 0, { ...policy, failureThreshold: 1 });
    // Half-open from 5000 until one more cooldown has passed, then forgotten.
    expect(store.snapshot(['b'], 9999)[0]?.openUntil).toBe(5000);
    expect(store.snapshot(['b'], 10_000)).toEqual([undefined]);
  });
});
