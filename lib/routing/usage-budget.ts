/**
 * Usage budgets (`rpm`, `tpm`, LiteLLM's names) over fixed windows, as keys and arithmetic for
 * the state store's `increment(key, by, now, ttlMs)` and `counters(keys, now)`. The store adds
 * atomically, so a limit holds across every replica sharing it instead of multiplying by the
 * replica count. Fixed windows (not sliding): one counter per window and metric, one atomic
 * increment per request, and a `retry-after` that is exact (the window's end).
 *
 * Windows are aligned to the epoch (`floor(now / windowMs)`), so replicas agree on them
 * without talking; clocks that differ by a few milliseconds only disagree at the boundary.
 */

/** One budget window. */
export interface UsageWindow {
  /** Epoch milliseconds the window began at (inclusive). */
  start: number;
  /** Epoch milliseconds it ends at (exclusive): when its capacity is free again. */
  end: number;
  /** Names the window in a counter key: its length and index, so windows never collide. */
  keySuffix: string;
}

/** What a target (or virtual key) may use per window. Absent: no limit. */
export interface UsageLimits {
  /** Requests per window (a minute for `rpm`). */
  rpm?: number | undefined;
  /** Tokens (prompt and completion) per window. */
  tpm?: number | undefined;
}

/** What was used in the current window, as read from the store. */
export interface UsageCounts {
  requests: number;
  tokens: number;
}

/** The metric a counter holds. */
export type UsageMetric = 'requests' | 'tokens';

/** `rpm` and `tpm` count per minute. */
export const usageWindowMs = 60_000;

/**
 * How long a counter outlives its window: a replica whose clock is behind still adds to (and
 * reads) the right counter until its own clock leaves the window.
 */
export const clockSkewAllowanceMs = 5_000;

/** The fixed window `now` falls in. */
export function windowOf(now: number, windowMs: number = usageWindowMs): UsageWindow {
  const index = Math.floor(now / windowMs);
  const start = index * windowMs;
  return { start, end: start + windowMs, keySuffix: `${windowMs}:${index}` };
}

/**
 * The store key of one counter: `usage:<metric>:<window>:<scope>`. `scope` names what is
 * limited (a target's identity, as the health state keys it, or `vk:<virtual key>`); it goes
 * last so a scope holding `:` cannot collide with another metric or window.
 */
export function usageKey(metric: UsageMetric, window: UsageWindow, scope: string): string {
  return `usage:${metric}:${window.keySuffix}:${scope}`;
}

/**
 * The `ttlMs` to pass to `increment` for a counter of `window` at `now`: until the window ends
 * plus the skew allowance. A counter is never reused (its key names the window), so the TTL
 * only bounds what the store keeps.
 */
export function counterTtlMs(window: UsageWindow, now: number): number {
  return Math.max(0, window.end - now) + clockSkewAllowanceMs;
}

/**
 * Which budget is used up, if any, before a request is admitted: `rpm` once `rpm` requests
 * were counted, `tpm` once the counted tokens reach `tpm`. Tokens are counted after each
 * answer, so a window may end a little over `tpm` (the answers in flight when it was reached);
 * what is blocked is the next request. A limit of 0 blocks every request.
 */
export function overBudget(counts: UsageCounts, limits: UsageLimits): 'rpm' | 'tpm' | undefined {
  if (limits.rpm !== undefined && counts.requests >= limits.rpm) return 'rpm';
  if (limits.tpm !== undefined && counts.tokens >= limits.tpm) return 'tpm';
  return undefined;
}

/**
 * Whether a request is admitted, given the count `increment` returned for it (its own included).
 * Two replicas that both read 4 of 5 both increment; the store gives one 5 and the other 6, so
 * exactly `rpm` are admitted per window. A refused increment stays counted: the window is full
 * anyway, and taking it back would let a third request in between.
 */
export function admitted(countAfterIncrement: number, rpm: number | undefined): boolean {
  return rpm === undefined || countAfterIncrement <= rpm;
}

/**
 * Milliseconds until the window ending at `windowEnd` frees capacity: the 429's `retry-after`.
 * When every target is over budget, the answer's `retry-after` is the least of theirs.
 */
export function retryAfterMs(now: number, windowEnd: number): number {
  return Math.max(0, windowEnd - now);
}

/**
 * The `retry-after` header value (whole seconds) for a wait: rounded up, so a client that
 * waits that long finds the window over, and at least 1, as `0` invites a busy loop.
 */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
