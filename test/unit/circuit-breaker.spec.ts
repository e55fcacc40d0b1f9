import { describe, expect, it } from 'vitest';
import {
  afterFailure,
  afterProbe,
  afterRelease,
  afterSuccess,
  breakerState,
} from '../../lib/health/circuit-breaker.js';

const policy = {
  failureThreshold: 3,
  failureThresholdPercentage: 0,
  minimumRequests: 10,
  windowMs: 1000,
  cooldownMs: 5000,
  openForMs: 0,
};

describe('circuit breaker transitions', () => {
  it('opens after the threshold of failures within the window', () => {
    let health = afterFailure(undefined, 0, policy);
    health = afterFailure(health, 100, policy);
    expect(breakerState(health, 200)).toBe('closed');
    health = afterFailure(health, 200, policy);
    expect(breakerState(health, 200)).toBe('open');
    expect(health.openUntil).toBe(5200);
  });

  it('starts a new window when failures are far apart', () => {
    let health = afterFailure(undefined, 0, policy);
    health = afterFailure(health, 500, policy);
    health = afterFailure(health, 1500, policy);
    expect(breakerState(health, 1500)).toBe('closed');
    expect(health.failures).toBe(1);
  });

  it('goes half-open after the cooldown, lets one probe through, and re-opens if it fails', () => {
    const open = afterFailure(undefined, 0, { ...policy, failureThreshold: 1 });
    expect(breakerState(open, 4999)).toBe('open');
    expect(breakerState(open, 5000)).toBe('half-open');
    const probe = afterProbe(open, 5000, 2000);
    expect(probe.granted).toBe(true);
    expect(breakerState(probe.health, 5001)).toBe('probing');
    expect(afterProbe(probe.health, 5001, 2000).granted).toBe(false);
    // A probe that never ends frees the slot after its TTL; a released one at once.
    expect(breakerState(probe.health, 7000)).toBe('half-open');
    expect(breakerState(afterRelease(probe.health), 5002)).toBe('half-open');
    const reopened = afterFailure(probe.health, 5100, policy);
    expect(breakerState(reopened, 5100)).toBe('open');
    expect(reopened.openUntil).toBe(10_100);
  });

  it('opens at once for a given duration (a 429 with retry-after), also after a failed probe', () => {
    const health = afterFailure(undefined, 0, { ...policy, openForMs: 1500 });
    expect(health.rateLimited).toBe(true);
    expect(breakerState(health, 1499)).toBe('open');
    expect(breakerState(health, 1500)).toBe('half-open');
    const again = afterFailure(health, 1500, { ...policy, openForMs: 1000 });
    expect(again.openUntil).toBe(2500);
  });

  it('closes on a success once the cooldown is over, not before', () => {
    const open = afterFailure(undefined, 0, { ...policy, failureThreshold: 1 });
    const plain = { windowMs: 1000, countRequests: false };
    expect(afterSuccess(open, 100, plain)).toBe(open);
    expect(afterSuccess(open, 5000, plain)).toBeUndefined();
  });
});
