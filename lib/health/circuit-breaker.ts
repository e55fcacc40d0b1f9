/**
 * Passive health as pure state transitions: a target that keeps failing is ejected for a
 * cooldown, then one probe is let through (half-open) and its outcome closes or re-opens the
 * breaker. Time is always passed in, so tests drive it with a fake clock.
 */

import type { HealthRecord } from '../types.js';

export type { HealthRecord };

export interface BreakerPolicy {
  /** Failures within `windowMs` that open the breaker. */
  readonly failureThreshold: number;
  readonly windowMs: number;
  /** How long an opened breaker ejects its target. */
  readonly cooldownMs: number;
  /** How long a half-open probe may take before another is allowed. */
  readonly probeTimeoutMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'probing';

export function breakerState(record: HealthRecord | undefined, now: number): BreakerState {
  if (record === undefined || record.openUntil === 0) return 'closed';
  if (record.openUntil > now) return 'open';
  return record.probeUntil > now ? 'probing' : 'half-open';
}

/** When an unavailable target may be tried again. */
export function availableAgainAt(record: HealthRecord): number {
  return Math.max(record.openUntil, record.probeUntil);
}

/** The record after a half-open target lets its probe through. */
export function withProbe(record: HealthRecord, now: number, policy: BreakerPolicy): HealthRecord {
  return { ...record, probeUntil: now + policy.probeTimeoutMs };
}

/**
 * The record after a failure. A failed probe re-opens at once; `openForMs` (a 429's Retry-After)
 * opens at once for that long; otherwise the breaker opens when the window's count reaches the
 * threshold.
 */
export function afterFailure(
  record: HealthRecord | undefined,
  now: number,
  policy: BreakerPolicy,
  openForMs?: number,
): HealthRecord {
  const state = breakerState(record, now);
  if (state === 'half-open' || state === 'probing') {
    return { failures: 0, windowStart: now, openUntil: now + policy.cooldownMs, probeUntil: 0 };
  }
  if (openForMs !== undefined && openForMs > 0) {
    return { failures: 0, windowStart: now, openUntil: now + openForMs, probeUntil: 0 };
  }
  const inWindow = record !== undefined && now - record.windowStart < policy.windowMs;
  const failures = inWindow ? record.failures + 1 : 1;
  const windowStart = inWindow ? record.windowStart : now;
  if (failures >= policy.failureThreshold) {
    return { failures: 0, windowStart: now, openUntil: now + policy.cooldownMs, probeUntil: 0 };
  }
  return { failures, windowStart, openUntil: record?.openUntil ?? 0, probeUntil: 0 };
}
