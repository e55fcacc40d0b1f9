import { describe, expect, it } from 'vitest';
import { FailOpenStore, type StoreFailure, storeRestMs } from '../../lib/health/fail-open-store.js';
import { MemoryStore, type StateStore } from '../../lib/index.js';

const policy = {
  failureThreshold: 10,
  failureThresholdPercentage: 0,
  minimumRequests: 10,
  windowMs: 60_000,
  cooldownMs: 30_000,
  openForMs: 0,
};

describe('FailOpenStore', () => {
  it('applies a timed-out operation locally once, even if the shared store rejects later', async () => {
    let rejectLate: (error: Error) => void = () => undefined;
    const late = new Proxy(new MemoryStore(), {
      get: () => () =>
        new Promise((_resolve, reject) => {
          rejectLate = reject;
        }),
    }) as StateStore;
    const failures: StoreFailure[] = [];
    const store = new FailOpenStore(
      late,
      10,
      () => 0,
      (failure) => failures.push(failure),
    );
    const health = await store.run(
      'recordFailure',
      (shared) => shared.recordFailure('k', 0, policy),
      (local) => local.recordFailure('k', 0, policy),
    );
    expect(health.failures).toBe(1);
    rejectLate(new Error('late'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(store.local.snapshot(['k'], 0)[0]?.failures).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it('rests after a failure, then tries the shared store again', async () => {
    let now = 0;
    let down = true;
    const shared = new MemoryStore();
    const flaky = new Proxy(shared, {
      get: (target, property) => {
        const value = Reflect.get(target, property);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          down ? Promise.reject(new Error('down')) : value.apply(target, args);
      },
    }) as StateStore;
    const store = new FailOpenStore(
      flaky,
      50,
      () => now,
      () => undefined,
    );
    const record = () =>
      store.run(
        'recordFailure',
        (s) => s.recordFailure('k', now, policy),
        (l) => l.recordFailure('k', now, policy),
      );
    await record();
    down = false;
    await record();
    expect(shared.snapshot(['k'], now)).toEqual([undefined]);
    now += storeRestMs;
    await record();
    expect(shared.snapshot(['k'], now)[0]?.failures).toBe(1);
  });
});
