/**
 * Slow start after recovery, Envoy's way: a target whose breaker has just closed gets a share
 * of traffic that grows from a small fraction of its weight to all of it over a window, so a
 * provider back from an outage (cold caches, a queue still draining, autoscaling behind) is
 * not hit with its whole share at once.
 *
 * Envoy's formula: `weight × max(minFraction, t^(1/aggression))` with `t` the elapsed part of
 * the window (0 to 1). `aggression` 1 (the default, as in Envoy) ramps linearly; above 1 the
 * ramp is slower at first and faster at the end; below 1 the reverse.
 */

/** Defaults of the ramp: Envoy's `min_weight_percent` (10%) and aggression; a 30 s window. */
export const slowStartDefaults = {
  /**
   * Envoy has no default window (slow start is off until one is set); 30 s is long enough to
   * spread the return over a few hundred requests at usual LLM rates and short next to the
   * 30 s to minutes a breaker stays open.
   */
  windowMs: 30_000,
  minFraction: 0.1,
  aggression: 1,
} as const;

/**
 * The weight to pick `weight`'s target with, `now - closedAt` after its breaker closed.
 * Full weight when `closedAt` is undefined (never opened, or the ramp is not tracked), when
 * the window is over, or when `windowMs` is 0 (slow start off). A `closedAt` after `now` (a
 * replica whose clock is behind the one that closed the breaker) counts as just closed.
 */
export function slowStartWeight(
  weight: number,
  closedAt: number | undefined,
  now: number,
  windowMs: number = slowStartDefaults.windowMs,
  minFraction: number = slowStartDefaults.minFraction,
  aggression: number = slowStartDefaults.aggression,
): number {
  return weight * slowStartFraction(closedAt, now, windowMs, minFraction, aggression);
}

/** The part of its weight a target gets (`minFraction` to 1); see {@link slowStartWeight}. */
export function slowStartFraction(
  closedAt: number | undefined,
  now: number,
  windowMs: number = slowStartDefaults.windowMs,
  minFraction: number = slowStartDefaults.minFraction,
  aggression: number = slowStartDefaults.aggression,
): number {
  if (closedAt === undefined || !(windowMs > 0)) return 1;
  const elapsed = Math.max(0, now - closedAt);
  if (elapsed >= windowMs) return 1;
  const ramp = (elapsed / windowMs) ** (1 / aggression);
  // A floor above 0: a target at weight 0 would never be picked, so never measured.
  return Math.min(1, Math.max(minFraction, ramp));
}
