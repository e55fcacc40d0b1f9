import { describe, expect, it } from 'vitest';
import { afterFailure, breakerState, withProbe } from '../../lib/health/circuit-breaker.js';
import { MemoryHealthStore } from '../../lib/health/memory-store.js';

const policy = { failureThreshold: 3, windowMs: 1000, cooldownMs: 5000, probeTimeoutMs: 2000 };

describe('circuit breaker transitions', () => {
  it('opens after the threshold of failures within the window', () => {
    let record = afterFailure(undefined, 0, policy);
    record = afterFailure(record, 100, policy);
    expect(breakerState(record, 200)).toBe('closed');
    record = afterFailure(record, 200, policy);
    expect(breakerState(record, 200)).toBe('open');
    expect(record.openUntil).toBe(5200);
  });

  it('starts a new window when failures are far apart', () => {
    let record = afterFailure(undefined, 0, policy);
    record = afterFailure(record, 500, policy);
    record = afterFailure(record, 1500, policy);
    expect(breakerState(record, 1500)).toBe('closed');
    expect(record.failures).toBe(1);
  });

  it('goes half-open after the cooldown, lets one probe through, and re-opens if it fails', () => {
    const open = afterFailure(undefined, 0, { ...policy, failureThreshold: 1 });
    expect(breakerState(open, 4999)).toBe('open');
    expect(breakerState(open, 5000)).toBe('half-open');
    const probing = withProbe(open, 5000, policy);
    expect(breakerState(probing, 5001)).toBe('probing');
    // A probe that never answers frees the slot after its timeout.
    expect(breakerState(probing, 7000)).toBe('half-open');
    const reopened = afterFailure(probing, 5100, policy);
    expect(breakerState(reopened, 5100)).toBe('open');
    expect(reopened.openUntil).toBe(10_100);
  });

  it('opens at once for a given duration (a 429 with retry-after)', () => {
    const record = afterFailure(undefined, 0, policy, 1500);
    expect(breakerState(record, 1499)).toBe('open');
    expect(breakerState(record, 1500)).toBe('half-open');
  });
});

describe('MemoryHealthStore', () => {
  it('forgets the oldest records beyond its capacity', () => {
    const store = new MemoryHealthStore(2);
    const record = { failures: 1, windowStart: 0, openUntil: 0, probeUntil: 0 };
    store.set('a', record);
    store.set('b', record);
    store.set('a', { ...record, failures: 2 });
    store.set('c', record);
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')?.failures).toBe(2);
    store.set('a', undefined);
    expect(store.get('a')).toBeUndefined();
  });
});
