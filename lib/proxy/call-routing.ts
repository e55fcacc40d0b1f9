import type { ConfigNode, TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import type { RoutingGate } from '../routing/router.js';
import type { Availability } from '../routing/run-plan.js';
import { retryAfterMs, retryAfterSeconds } from '../routing/usage-budget.js';
import type { AttemptOutcome } from './attempt.js';
import type { Call } from './call.js';

/**
 * Where a call meets the routing rules of issue 13 (usage budgets, in-flight counts, latency,
 * slow start): the few hooks the call's driver, attempts and delivery use, kept here so that
 * those modules only call them.
 */

/** What a target with no health tracking always is. */
export const alwaysAvailable: Availability = { available: true, retryAt: 0, rateLimited: false };

/** The breaker's word on a target, then its usage budgets'. */
export function availabilityOf(call: Call, target: TargetNode): Availability {
  const health = call.health?.availability(target) ?? alwaysAvailable;
  return call.routing === undefined ? health : call.routing.availability(target, health);
}

/** The outcome of an attempt that may not go: ejected, or over its budget. */
export function unavailableOutcome(call: Call, target: TargetNode): AttemptOutcome {
  const health = availabilityOf(call, target);
  const outcome: AttemptOutcome = {
    kind: 'unavailable',
    retryAt: health.retryAt,
    rateLimited: health.rateLimited,
  };
  if (health.overBudget === true) outcome.overBudget = true;
  return outcome;
}

/**
 * Runs `attempt` once the target's `rpm` budgets admit it (each attempt counts); a full budget
 * skips the target like an open breaker.
 */
export function admitted(
  call: Call,
  target: TargetNode,
  attempt: () => Promise<AttemptOutcome>,
): Promise<AttemptOutcome> {
  const admission = call.routing?.admit(target) ?? true;
  if (admission === true) return attempt();
  if (admission === false) return Promise.resolve(unavailableOutcome(call, target));
  return admission.then((ok) => (ok ? attempt() : unavailableOutcome(call, target)));
}

/** Weights lowered by slow start for targets whose breaker just closed; undefined when off. */
export function slowStartWeights(call: Call): ((node: ConfigNode) => number) | undefined {
  const health = call.health;
  if (health === undefined || !health.slowStart) return undefined;
  return (node) => (node.kind === 'target' ? health.weightOf(node) : node.weight);
}

export function plainWeight(node: ConfigNode): number {
  return node.weight;
}

/** What an attempt's outcome tells the routing rules: its latency; the end of a failed one. */
export function routingAfter(
  routing: RoutingGate,
  target: TargetNode,
  outcome: AttemptOutcome,
  elapsedMs: number,
  timeoutMs: number,
): void {
  if (outcome.kind === 'stopped') {
    routing.endInFlight(target);
    return;
  }
  // A quick failure (connection refused, a fast 5xx or 429) must not look fast: it counts as
  // slow as the attempt's timeout.
  const failed = outcome.kind !== 'response' || outcome.status === 429 || outcome.status >= 500;
  routing.recordLatency(target, failed ? Math.max(elapsedMs, timeoutMs) : elapsedMs);
  // An answer stays in flight until it is delivered (the call's end) or discarded.
  if (outcome.kind !== 'response') routing.endInFlight(target);
}

/** Counts the delivered answer's tokens against `tpm` budgets once it has been sent. */
export function countTokensWhenSent(call: Call, target: TargetNode): void {
  const routing = call.routing;
  if (routing?.countsTokens !== true) return;
  call.res.once('close', () => routing.countTokens(target, call.events.tokenUsage));
}

/** The 429 when every target is over its budget: `retry-after` is the earliest window's end. */
export function budgetExceeded(
  retryAt: number,
  now: number,
): { error: LoadBalancerError; seconds: number } {
  const seconds = retryAfterSeconds(retryAfterMs(now, retryAt));
  const error = new LoadBalancerError(
    'ERR_BUDGET_EXCEEDED',
    `Every target of this config has used its rpm/tpm budget for this window; retry in ${seconds} s`,
    { type: 'rate_limit_error' },
  );
  return { error, seconds };
}
