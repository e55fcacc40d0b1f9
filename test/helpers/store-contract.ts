import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FailOpenStore, type StoreFailure } from '../../lib/health/fail-open-store.js';
import type { FailurePolicy, StateStore } from '../../lib/index.js';

/**
 * The contract every {@link StateStore} keeps, run against the memory store and the Redis
 * store alike. Time is the `now` the tests pass, so no test waits for a clock.
 */
export function describeStoreContract(name: string, makeStore: () => StateStore): void {
  const t0 = 1_700_000_000_000;
  const policy: FailurePolicy = {
    failureThreshold: 5,
    failureThresholdPercentage: 0,
    minimumRequests: 10,
    windowMs: 10_000,
    cooldownMs: 30_000,
    openForMs: 0,
  };
  const counting = { windowMs: policy.windowMs, countRequests: true };
  const plain = { windowMs: policy.windowMs, countRequests: false };
  const key = () => `openai http://127.0.0.1:1/v1 - ${randomUUID()}`;

  async function openBreaker(store: StateStore, target: string, at = t0) {
    return store.recordFailure(target, at, { ...policy, failureThreshold: 1 });
  }

  describe(`${name}: the StateStore contract`, () => {
    it('counts every one of N concurrent failures, each seeing its own count', async () => {
      const store = makeStore();
      const target = key();
      const unlimited = { ...policy, failureThreshold: 1000 };
      const results = await Promise.all(
        Array.from({ length: 50 }, () => store.recordFailure(target, t0, unlimited)),
      );
      expect(results.map((health) => health.failures).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 50 }, (_, index) => index + 1),
      );
      const [health] = await store.snapshot([target], t0);
      expect(health).toMatchObject({ failures: 50, requests: 50, openUntil: 0 });
    });

    it('opens once the threshold is reached by concurrent failures', async () => {
      const store = makeStore();
      const target = key();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.recordFailure(target, t0, policy)),
      );
      const opened = results.filter((health) => health.openUntil === t0 + policy.cooldownMs);
      expect(opened.length).toBeGreaterThan(0);
      const [health] = await store.snapshot([target], t0 + 1);
      expect(health).toMatchObject({ openUntil: t0 + policy.cooldownMs, rateLimited: false });
    });

    it('lets exactly one of many concurrent callers take the probe', async () => {
      const store = makeStore();
      const target = key();
      await openBreaker(store, target);
      const halfOpen = t0 + policy.cooldownMs;
      expect(await store.tryProbe(target, halfOpen - 1, 5000)).toBe(false);
      const wins = await Promise.all(
        Array.from({ length: 30 }, () => store.tryProbe(target, halfOpen, 5000)),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      // The probe holds until its TTL; then another caller may probe.
      expect(await store.tryProbe(target, halfOpen + 4999, 5000)).toBe(false);
      expect(await store.tryProbe(target, halfOpen + 5000, 5000)).toBe(true);
    });

    it('gives a released probe to the next caller at once', async () => {
      const store = makeStore();
      const target = key();
      await openBreaker(store, target);
      const halfOpen = t0 + policy.cooldownMs;
      expect(await store.tryProbe(target, halfOpen, 600_000)).toBe(true);
      expect(await store.tryProbe(target, halfOpen + 1, 600_000)).toBe(false);
      await store.releaseProbe(target);
      expect(await store.tryProbe(target, halfOpen + 2, 600_000)).toBe(true);
    });

    it('releases only the lease it is given: a late release never frees a newer probe', async () => {
      const store = makeStore();
      const target = key();
      await openBreaker(store, target);
      const halfOpen = t0 + policy.cooldownMs;
      // Replica A's probe lease expires; replica B takes a new one.
      expect(await store.tryProbe(target, halfOpen, 1000)).toBe(true);
      expect(await store.tryProbe(target, halfOpen + 1000, 1000)).toBe(true);
      // A's request stops late and gives back its own (expired) lease: B keeps the probe.
      await store.releaseProbe(target, halfOpen + 1000);
      expect(await store.tryProbe(target, halfOpen + 1500, 1000)).toBe(false);
      // B gives back its lease: the next caller may probe.
      await store.releaseProbe(target, halfOpen + 2000);
      expect(await store.tryProbe(target, halfOpen + 1501, 1000)).toBe(true);
    });

    it('closes on a probe success, re-opens on a probe failure for the cooldown or the asked time', async () => {
      const store = makeStore();
      const target = key();
      await openBreaker(store, target);
      const halfOpen = t0 + policy.cooldownMs;
      expect(await store.tryProbe(target, halfOpen, 5000)).toBe(true);
      const reopened = await store.recordFailure(target, halfOpen + 10, policy);
      expect(reopened).toMatchObject({ openUntil: halfOpen + 10 + policy.cooldownMs });

      const later = reopened.openUntil;
      expect(await store.tryProbe(target, later, 5000)).toBe(true);
      const limited = await store.recordFailure(target, later + 1, { ...policy, openForMs: 2000 });
      expect(limited).toMatchObject({ openUntil: later + 2001, rateLimited: true });

      expect(await store.tryProbe(target, later + 2001, 5000)).toBe(true);
      expect(await store.recordSuccess(target, later + 2002, plain)).toBeUndefined();
      expect(await store.snapshot([target], later + 2003)).toEqual([undefined]);
      // Closed: a probe is not needed, and every caller may go.
      expect(await store.tryProbe(target, later + 2004, 5000)).toBe(true);
    });

    it('remembers when a breaker closed for slow start, through counted failures', async () => {
      const store = makeStore();
      const target = key();
      await openBreaker(store, target);
      const halfOpen = t0 + policy.cooldownMs;
      expect(await store.tryProbe(target, halfOpen, 5000)).toBe(true);
      const ramp = { ...plain, slowStartMs: 20_000 };
      const closed = await store.recordSuccess(target, halfOpen + 1, ramp);
      expect(closed).toMatchObject({ openUntil: 0, failures: 0, closedAt: halfOpen + 1 });
      // Closed: every caller may go.
      expect(await store.tryProbe(target, halfOpen + 2, 5000)).toBe(true);
      const counted = await store.recordFailure(target, halfOpen + 3, policy);
      expect(counted).toMatchObject({ failures: 1, openUntil: 0, closedAt: halfOpen + 1 });
      const [during] = await store.snapshot([target], halfOpen + 15_000);
      expect(during).toMatchObject({ closedAt: halfOpen + 1 });
      // A breaker that opens again forgets the ramp.
      const other = key();
      await openBreaker(store, other);
      expect(await store.tryProbe(other, halfOpen, 5000)).toBe(true);
      await store.recordSuccess(other, halfOpen + 1, ramp);
      const reopened = await store.recordFailure(other, halfOpen + 2, {
        ...policy,
        failureThreshold: 1,
      });
      expect(reopened.closedAt).toBeUndefined();
    });

    it('leaves an open breaker open on a success and on further failures', async () => {
      const store = makeStore();
      const target = key();
      const open = await openBreaker(store, target);
      expect(await store.recordSuccess(target, t0 + 5, plain)).toEqual(open);
      expect(await store.recordFailure(target, t0 + 6, policy)).toEqual(open);
    });

    it('opens at once, rate-limited, for a failure with openForMs', async () => {
      const store = makeStore();
      const target = key();
      const health = await store.recordFailure(target, t0, { ...policy, openForMs: 12_000 });
      expect(health).toMatchObject({ openUntil: t0 + 12_000, rateLimited: true, failures: 0 });
    });

    it('starts a new window once the old one is over', async () => {
      const store = makeStore();
      const target = key();
      for (let index = 0; index < 4; index++) await store.recordFailure(target, t0, policy);
      const next = await store.recordFailure(target, t0 + policy.windowMs, policy);
      expect(next).toMatchObject({ failures: 1, windowStart: t0 + policy.windowMs, openUntil: 0 });
    });

    it('opens on the failure percentage once the window holds minimumRequests', async () => {
      const store = makeStore();
      const target = key();
      const percentage = { ...policy, failureThreshold: 0, failureThresholdPercentage: 50 };
      await Promise.all(Array.from({ length: 5 }, () => store.recordSuccess(target, t0, counting)));
      for (let index = 0; index < 4; index++) {
        expect((await store.recordFailure(target, t0, percentage)).openUntil).toBe(0);
      }
      // 5 of 10: the window holds minimumRequests and half of them failed.
      const opened = await store.recordFailure(target, t0, percentage);
      expect(opened.openUntil).toBe(t0 + policy.cooldownMs);
    });

    it('does not count successes unless asked to', async () => {
      const store = makeStore();
      const target = key();
      expect(await store.recordSuccess(target, t0, plain)).toBeUndefined();
      await store.recordFailure(target, t0, policy);
      expect(await store.recordSuccess(target, t0, plain)).toMatchObject({ requests: 1 });
      expect(await store.recordSuccess(target, t0, counting)).toMatchObject({ requests: 2 });
    });

    it('reads many keys in one snapshot, in order', async () => {
      const store = makeStore();
      const keys = Array.from({ length: 60 }, key);
      await Promise.all(
        keys.map((target, index) =>
          index % 3 === 0 ? store.recordFailure(target, t0, policy) : undefined,
        ),
      );
      const states = await store.snapshot(keys, t0);
      expect(states).toHaveLength(60);
      states.forEach((state, index) => {
        if (index % 3 === 0) expect(state).toMatchObject({ failures: 1 });
        else expect(state).toBeUndefined();
      });
      expect(await store.snapshot([], t0)).toEqual([]);
    });

    it('counts concurrent increments, expires counters after their TTL, reads them in batch', async () => {
      const store = makeStore();
      const inFlight = key();
      const results = await Promise.all(
        Array.from({ length: 40 }, () => store.increment(inFlight, 1, t0, 60_000)),
      );
      expect([...results].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, index) => index + 1),
      );
      expect(await store.increment(inFlight, -3, t0 + 1, 60_000)).toBe(37);
      const other = key();
      await store.increment(other, 250, t0, 1000);
      expect(await store.counters([inFlight, other, key()], t0 + 999)).toEqual([37, 250, 0]);
      expect(await store.counters([other], t0 + 1000)).toEqual([0]);
      expect(await store.increment(other, 5, t0 + 1000, 1000)).toBe(5);
      expect(await store.counters([], t0)).toEqual([]);
    });

    it('holds a sticky move: one of many concurrent moves wins, a held move is replaced only from its own target, it expires', async () => {
      const store = makeStore();
      const pin = store.pin?.bind(store);
      expect(pin).toBeTypeOf('function');
      if (pin === undefined) return;
      const session = key();
      expect(await pin(session, t0)).toBeUndefined();
      const moves = await Promise.all(
        ['b', 'c', 'd', 'b', 'c'].map((to) =>
          pin(session, t0, { from: undefined, to, ttlMs: 1000 }),
        ),
      );
      const winner = moves[0] as string;
      // Every replica follows the one move that won.
      expect(new Set(moves)).toEqual(new Set([winner]));
      expect(await pin(session, t0 + 10)).toBe(winner);
      // A move from a target it is not held on is refused (someone moved it already).
      expect(await pin(session, t0 + 20, { from: 'zzz', to: 'e', ttlMs: 1000 })).toBe(winner);
      // Its held target is gone too: it moves on, for a fresh TTL.
      expect(await pin(session, t0 + 30, { from: winner, to: 'e', ttlMs: 1000 })).toBe('e');
      expect(await pin(session, t0 + 1029)).toBe('e');
      expect(await pin(session, t0 + 1030)).toBeUndefined();
      // An expired move is no move: a new one takes its place.
      expect(await pin(session, t0 + 1031, { from: 'x', to: 'f', ttlMs: 500 })).toBe('f');
      expect(await pin(key(), t0)).toBeUndefined();
    });

    it('never fails a request through the fail-open wrapper, even when every call rejects or hangs', async () => {
      const store = makeStore();
      const failures: StoreFailure[] = [];
      let now = t0;
      const broken = (mode: 'reject' | 'hang') =>
        new Proxy(store, {
          get(target, property) {
            const value = Reflect.get(target, property);
            if (typeof value !== 'function') return value;
            return () =>
              mode === 'reject'
                ? Promise.reject(
                    Object.assign(new Error('secret-key-in-message'), { code: 'ECONNREFUSED' }),
                  )
                : new Promise(() => undefined);
          },
        });
      for (const mode of ['reject', 'hang'] as const) {
        const wrapped = new FailOpenStore(
          broken(mode),
          20,
          () => now,
          (failure) => failures.push(failure),
        );
        const target = key();
        const opened = await wrapped.run(
          'recordFailure',
          (shared) => shared.recordFailure(target, now, { ...policy, failureThreshold: 1 }),
          (local) => local.recordFailure(target, now, { ...policy, failureThreshold: 1 }),
        );
        expect(opened.openUntil).toBe(now + policy.cooldownMs);
        // Resting: the next call goes local at once and sees the local state.
        const [seen] = await wrapped.run(
          'snapshot',
          (shared) => shared.snapshot([target], now),
          (local) => local.snapshot([target], now),
        );
        expect(seen?.openUntil).toBe(now + policy.cooldownMs);
        now += 1000;
      }
      expect(failures).toEqual([
        { operation: 'recordFailure', reason: 'error', error: 'ECONNREFUSED' },
        { operation: 'recordFailure', reason: 'timeout', error: undefined },
      ]);
    });
  });
}
