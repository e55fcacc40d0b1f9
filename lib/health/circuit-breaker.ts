/**
 * Passive health as pure state transitions: a target that keeps failing is ejected for a
 * cooldown, then one probe is let through (half-open) and its outcome closes or re-opens the
 * breaker. Time is always passed in, so tests drive it with a fake clock. The memory store runs
 * these functions; the Redis store runs the same rules in Lua (and the store contract tests hold
 * both to them).
 */

import type { FailurePolicy, SuccessPolicy, TargetHealth } from '../types.js';

export type { FailurePolicy, SuccessPolicy, TargetHealth };

export type BreakerState = 'closed' | 'open' | 'half-open' | 'probing';

export function breakerState(health: TargetHealth | undefined, now: number): BreakerState {
  if (health === undefined || health.openUntil === 0) return 'closed';
  if (health.openUntil > now) return 'open';
  return health.probeUntil > now ? 'probing' : 'half-open';
}

/** When an unavailable target may be tried again. */
export function availableAgainAt(health: TargetHealth): number {
  return Math.max(health.openUntil, health.probeUntil);
}

function opened(now: number, forMs: number, rateLimited: boolean): TargetHealth {
  return {
    failures: 0,
    requests: 0,
    windowStart: now,
    openUntil: now + forMs,
    probeUntil: 0,
    rateLimited,
  };
}

/**
 * The state after a failure. While open, nothing changes (the failure is old news). A failure
 * while half-open or probing (a failed probe) re-opens at once, for `openForMs` when the
 * provider asked for it, else for the cooldown. `openForMs` opens a closed breaker at once too.
 * Otherwise the failure is counted and the breaker opens when the count or the percentage rule
 * says so.
 */
export function afterFailure(
  health: TargetHealth | undefined,
  now: number,
  policy: FailurePolicy,
): TargetHealth {
  const state = breakerState(health, now);
  if (state === 'open') return health as TargetHealth;
  const rateLimited = policy.openForMs > 0;
  const ejectFor = rateLimited ? policy.openForMs : policy.cooldownMs;
  if (state !== 'closed' || rateLimited) return opened(now, ejectFor, rateLimited);
  const inWindow = health !== undefined && now - health.windowStart < policy.windowMs;
  const failures = (inWindow ? health.failures : 0) + 1;
  const requests = (inWindow ? health.requests : 0) + 1;
  const windowStart = inWindow ? health.windowStart : now;
  const byCount = policy.failureThreshold > 0 && failures >= policy.failureThreshold;
  const byPercentage =
    policy.failureThresholdPercentage > 0 &&
    requests >= policy.minimumRequests &&
    failures * 100 >= policy.failureThresholdPercentage * requests;
  if (byCount || byPercentage) return opened(now, policy.cooldownMs, false);
  return withClosedAt(
    { failures, requests, windowStart, openUntil: 0, probeUntil: 0, rateLimited: false },
    health,
  );
}

/** A closed state keeps the time its breaker closed (slow start is still ramping). */
function withClosedAt(next: TargetHealth, previous: TargetHealth | undefined): TargetHealth {
  return previous?.closedAt === undefined ? next : { ...next, closedAt: previous.closedAt };
}

/**
 * The state after a success: a half-open or probing breaker closes (undefined: forgotten, or
 * with slow start a closed state holding `closedAt`); an open one stays open; a closed one
 * counts the success when the policy counts requests.
 */
export function afterSuccess(
  health: TargetHealth | undefined,
  now: number,
  policy: SuccessPolicy,
): TargetHealth | undefined {
  const state = breakerState(health, now);
  if (state === 'open') return health;
  if (state !== 'closed') {
    if (!((policy.slowStartMs ?? 0) > 0)) return undefined;
    return {
      failures: 0,
      requests: 0,
      windowStart: now,
      openUntil: 0,
      probeUntil: 0,
      rateLimited: false,
      closedAt: now,
    };
  }
  if (!policy.countRequests) return health;
  const inWindow = health !== undefined && now - health.windowStart < policy.windowMs;
  return withClosedAt(
    {
      failures: inWindow ? health.failures : 0,
      requests: (inWindow ? health.requests : 0) + 1,
      windowStart: inWindow ? health.windowStart : now,
      openUntil: 0,
      probeUntil: 0,
      rateLimited: false,
    },
    health,
  );
}

/** The outcome of a probe request: whether it may go, and the state after. */
export function afterProbe(
  health: TargetHealth | undefined,
  now: number,
  ttlMs: number,
): { granted: boolean; health: TargetHealth | undefined } {
  const state = breakerState(health, now);
  if (state === 'closed') return { granted: true, health };
  if (state !== 'half-open') return { granted: false, health };
  return { granted: true, health: { ...(health as TargetHealth), probeUntil: now + ttlMs } };
}

/** The state after a probe is given back. */
export function afterRelease(health: TargetHealth | undefined): TargetHealth | undefined {
  return health === undefined || health.probeUntil === 0 ? health : { ...health, probeUntil: 0 };
}

/**
 * Until when a state matters: the end of its window, of its ejection plus one cooldown (so that
 * a half-open target stays half-open a while rather than closing unseen), and of its probe.
 */
export function keepUntil(health: TargetHealth, windowMs: number, cooldownMs: number): number {
  return Math.max(
    health.windowStart + windowMs,
    health.openUntil === 0 ? 0 : health.openUntil + cooldownMs,
    health.probeUntil,
  );
}
