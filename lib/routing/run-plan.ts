import type { ConfigNode, RetryPolicy, StrategyNode, TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import { isPromise } from '../shared/values.js';
import type { SelectionRule } from '../telemetry/events.js';
import type { MaybePromise } from '../types.js';
import { type ConditionFacts, evaluate } from './conditions.js';
import { pickByWeight, type Weighted } from './weighted-pick.js';

/**
 * Walks a config tree and runs attempts until one answer is final: the strategy logic of
 * fallback, loadbalance re-picks and per-target retries, free of HTTP. The driver performs the
 * attempts, knows target health and owns time, so tests can drive it with fakes.
 */

/** What one attempt (or a whole subtree) came to. `R` is the driver's handle on a response. */
export type Outcome<R> =
  /** The provider answered; its body is not consumed until the answer is final. */
  | { kind: 'response'; status: number; retryAfterMs: number | undefined; response: R }
  /** No answer: connection refused or dropped, or silence past the timeout. */
  | { kind: 'failure'; timedOut: boolean; target: TargetNode; detail: string }
  /**
   * Every target that could answer is ejected by its circuit breaker; `rateLimited` when every
   * one of them is ejected for a provider's rate limit (a 429 with retry-after).
   */
  | { kind: 'unavailable'; retryAt: number; rateLimited: boolean; overBudget?: boolean }
  /** The client left or the overall deadline passed: nothing more is attempted. */
  | { kind: 'stopped' };

export interface Availability {
  available: boolean;
  /** When an unavailable target may be tried again. */
  retryAt: number;
  /** Whether it is out because of a provider's rate limit. */
  rateLimited: boolean;
  /** Whether it is out because its `rpm` / `tpm` budget is used up for this window. */
  overBudget?: boolean;
}

/**
 * Which rule chose a node's target, for events and the dry run: a weighted pick (slow start
 * may have lowered some weights), a sticky session's own target or the one it moved to, a
 * load-aware algorithm, or a conditional rule (`condition` is its index) or the `default`.
 */
export interface SelectionReason {
  rule: SelectionRule;
  /** The matching rule's index in `conditions` (rule `condition`). */
  condition?: number;
  /** Targets whose weight slow start lowered in this pick, by path. */
  slowStart?: string[];
}

/** A pick made by a routing rule rather than by weight. */
export interface Choice {
  /** Index among the candidates. */
  index: number;
  reason: SelectionReason;
}

export interface PlanDriver<R> {
  /** Runs one attempt at `target`; `retry` counts the retries of this target before it. */
  attempt(target: TargetNode, retry: number): Promise<Outcome<R>>;
  /** Releases an answer that will not be delivered (drains its body). */
  discard(outcome: Outcome<R>): void;
  /** Current health of a target, as far as this request knows it. */
  availability(target: TargetNode): Availability;
  /** Whether to stop attempting: the client left, or the deadline passed. */
  stopped(): boolean;
  /** The wait before retry number `retry` (0-based) of a target, or undefined not to retry. */
  retryDelay(outcome: Outcome<R>, policy: RetryPolicy, retry: number): number | undefined;
  sleep(ms: number): Promise<void>;
  /** The driver's clock, epoch milliseconds. */
  now(): number;
  random(): number;
  /** Told when a fallback moves on or a loadbalance re-picks, for events. */
  onMoveOn?(from: ConfigNode, outcome: Outcome<R>): void;
  /** Told of each pick: the node, its targets still in play, those available, the pick, why. */
  onSelect?(
    node: StrategyNode,
    remaining: readonly ConfigNode[],
    available: readonly ConfigNode[],
    picked: ConfigNode,
    reason: SelectionReason,
  ): void;
  /** What a conditional node decides on. Defaults to no metadata, params or URL. */
  conditionFacts?(): ConditionFacts;
  /**
   * A pick by a routing rule (sticky session, load-aware algorithm) among the available
   * `candidates` of a loadbalance node; undefined for a weighted pick. `first` is false for a
   * re-pick after a failure (a session is sticky to its first pick only).
   */
  choose?(
    node: StrategyNode,
    candidates: readonly ConfigNode[],
    first: boolean,
  ): MaybePromise<Choice | undefined>;
  /** The weight a node is picked with now (slow start lowers a recovering target's). */
  weightOf?(node: ConfigNode): number;
  /** Told before waiting `delayMs` to retry `target` (retry counts from 1). */
  onRetry?(target: TargetNode, retry: number, delayMs: number, outcome: Outcome<R>): void;
}

export function runPlan<R>(root: ConfigNode, driver: PlanDriver<R>): Promise<Outcome<R>> {
  return runNode(root, driver);
}

function runNode<R>(node: ConfigNode, driver: PlanDriver<R>): Promise<Outcome<R>> {
  if (node.kind === 'target') return runTarget(node, driver);
  switch (node.mode) {
    case 'single':
      return runNode(node.targets[0] as ConfigNode, driver);
    case 'fallback':
      return runFallback(node, driver);
    case 'loadbalance':
      return runLoadbalance(node, driver);
    case 'conditional':
      return runConditional(node, driver);
  }
}

async function runConditional<R>(node: StrategyNode, driver: PlanDriver<R>): Promise<Outcome<R>> {
  const decision = evaluate(
    node.conditions as NonNullable<StrategyNode['conditions']>,
    driver.conditionFacts?.() ?? {},
  );
  const child = node.targets.find((target) => target.name === decision.target);
  if (child === undefined) {
    throw new LoadBalancerError(
      'ERR_NO_MATCHING_CONDITION',
      `No condition of ${node.label}.strategy matched the request and it has no default`,
      { param: `${node.label}.strategy.conditions` },
    );
  }
  const reason: SelectionReason =
    decision.rule === 'default'
      ? { rule: 'default' }
      : { rule: 'condition', condition: decision.rule as number };
  driver.onSelect?.(node, node.targets, node.targets, child, reason);
  return runNode(child, driver);
}

const weighted: SelectionReason = { rule: 'weighted' };

/** The pick among available candidates: a routing rule's, else by (slow-start) weight. */
async function pick<R>(
  node: StrategyNode,
  candidates: readonly ConfigNode[],
  first: boolean,
  driver: PlanDriver<R>,
): Promise<Choice> {
  if (driver.choose !== undefined) {
    const chosen = driver.choose(node, candidates, first);
    const choice = isPromise(chosen) ? await chosen : chosen;
    if (choice !== undefined) return choice;
  }
  const weightOf = driver.weightOf;
  if (weightOf === undefined) {
    return { index: pickByWeight(candidates, () => driver.random()), reason: weighted };
  }
  const lowered: string[] = [];
  const weights: Weighted[] = candidates.map((candidate) => {
    const weight = weightOf(candidate);
    if (weight < candidate.weight) lowered.push(candidate.label);
    return { weight };
  });
  const index = pickByWeight(weights, () => driver.random());
  return {
    index,
    reason: lowered.length === 0 ? weighted : { rule: 'weighted', slowStart: lowered },
  };
}

async function runTarget<R>(target: TargetNode, driver: PlanDriver<R>): Promise<Outcome<R>> {
  const health = driver.availability(target);
  if (!health.available) return unavailable(health);
  for (let retry = 0; ; retry++) {
    const outcome = await driver.attempt(target, retry);
    const policy = target.retry;
    if (policy === undefined || retry >= policy.attempts || !isRetryable(outcome, policy))
      return outcome;
    const delay = driver.retryDelay(outcome, policy, retry);
    if (delay === undefined || driver.stopped()) return outcome;
    // A retry never waits for a breaker: if the target will still be ejected when the wait ends
    // (this very failure may have opened it), the answer in hand is final. A wait that outlasts
    // the ejection (a provider's own retry-after) may go on.
    const next = driver.availability(target);
    if (!next.available && next.retryAt > driver.now() + delay) return outcome;
    driver.onRetry?.(target, retry + 1, delay, outcome);
    driver.discard(outcome);
    await driver.sleep(delay);
    if (driver.stopped()) return { kind: 'stopped' };
    // Another request may have taken the probe meanwhile.
    const now = driver.availability(target);
    if (!now.available) return unavailable(now);
  }
}

async function runFallback<R>(node: StrategyNode, driver: PlanDriver<R>): Promise<Outcome<R>> {
  let last: Outcome<R> | undefined;
  for (const child of node.targets) {
    if (driver.stopped()) break;
    const outcome = await runNode(child, driver);
    if (outcome.kind === 'stopped') return keepBetter(last, outcome, driver);
    if (!isFailure(outcome, node.onStatusCodes ?? 'non-2xx')) {
      if (last !== undefined) driver.discard(last);
      return outcome;
    }
    last = keepBetter(last, outcome, driver);
    driver.onMoveOn?.(child, outcome);
  }
  return last ?? { kind: 'stopped' };
}

async function runLoadbalance<R>(node: StrategyNode, driver: PlanDriver<R>): Promise<Outcome<R>> {
  let remaining: ConfigNode[] | readonly ConfigNode[] = node.targets;
  let last: Outcome<R> | undefined;
  while (remaining.length > 0 && !driver.stopped()) {
    const candidates = availableOf(remaining, driver);
    const { index, reason } = await pick(node, candidates, remaining === node.targets, driver);
    if (index === -1) {
      return keepBetter(last, unavailableOf(remaining, driver), driver);
    }
    const child = candidates[index] as ConfigNode;
    driver.onSelect?.(node, remaining, candidates, child, reason);
    const outcome = await runNode(child, driver);
    // Without on_status_codes a pick is final, as in Portkey; with them, a failed pick is
    // replaced by a weighted pick among the others. An ejected pick is always replaced.
    const repick =
      outcome.kind === 'unavailable' ||
      (node.onStatusCodes !== undefined &&
        outcome.kind !== 'stopped' &&
        isFailure(outcome, node.onStatusCodes));
    if (!repick) {
      if (last !== undefined) driver.discard(last);
      return outcome;
    }
    last = keepBetter(last, outcome, driver);
    remaining = remaining.filter((other) => other !== child);
    driver.onMoveOn?.(child, outcome);
  }
  return last ?? { kind: 'stopped' };
}

/** The available nodes; the same array when all are, which is the usual case. */
function availableOf<R>(
  nodes: readonly ConfigNode[],
  driver: PlanDriver<R>,
): readonly ConfigNode[] {
  let available: ConfigNode[] | undefined;
  for (let index = 0; index < nodes.length; index++) {
    const node = nodes[index] as ConfigNode;
    const ok = nodeAvailability(node, driver).available;
    if (!ok && available === undefined) available = nodes.slice(0, index);
    else if (ok && available !== undefined) available.push(node);
  }
  return available ?? nodes;
}

/**
 * Of two failed outcomes, the one to answer with if nothing better comes: a provider's own answer
 * over an ejection or a stop, and the later answer over the earlier (the last target's answer).
 */
function keepBetter<R>(
  kept: Outcome<R> | undefined,
  next: Outcome<R>,
  driver: PlanDriver<R>,
): Outcome<R> {
  if (kept === undefined) return next;
  if (next.kind === 'unavailable' || next.kind === 'stopped') {
    if (kept.kind === 'unavailable' && next.kind === 'unavailable') {
      return {
        kind: 'unavailable',
        retryAt: Math.min(kept.retryAt, next.retryAt),
        rateLimited: kept.rateLimited && next.rateLimited,
        ...overBudgetFlag(kept.overBudget === true && next.overBudget === true),
      };
    }
    return kept.kind === 'stopped' ? next : kept;
  }
  driver.discard(kept);
  return next;
}

/** Whether a subtree has a target that may be tried now; if not, when one may. */
export function nodeAvailability<R>(node: ConfigNode, driver: PlanDriver<R>): Availability {
  if (node.kind === 'target') return driver.availability(node);
  // A conditional node's availability is its children's: any of them may be the one it picks.
  const children = node.mode === 'single' ? node.targets.slice(0, 1) : node.targets;
  let retryAt = Number.POSITIVE_INFINITY;
  let rateLimited = true;
  let overBudget = true;
  for (const child of children) {
    if (node.mode === 'loadbalance' && child.weight === 0) continue;
    const health = nodeAvailability(child, driver);
    if (health.available) return health;
    retryAt = Math.min(retryAt, health.retryAt);
    rateLimited &&= health.rateLimited;
    overBudget &&= health.overBudget === true;
  }
  return { available: false, retryAt, rateLimited, ...overBudgetFlag(overBudget) };
}

function unavailableOf<R>(nodes: readonly ConfigNode[], driver: PlanDriver<R>): Outcome<R> {
  let retryAt = Number.POSITIVE_INFINITY;
  let rateLimited = true;
  let overBudget = true;
  for (const node of nodes) {
    const health = nodeAvailability(node, driver);
    retryAt = Math.min(retryAt, health.retryAt);
    rateLimited &&= health.rateLimited;
    overBudget &&= health.overBudget === true;
  }
  return { kind: 'unavailable', retryAt, rateLimited, ...overBudgetFlag(overBudget) };
}

function unavailable<R>(health: Availability): Outcome<R> {
  return {
    kind: 'unavailable',
    retryAt: health.retryAt,
    rateLimited: health.rateLimited,
    ...overBudgetFlag(health.overBudget === true),
  };
}

/** The flag only when set: most outcomes have nothing to do with budgets. */
function overBudgetFlag(overBudget: boolean): { overBudget?: true } {
  return overBudget ? { overBudget: true } : {};
}

/** A failure for a strategy: no answer, an ejection, or a status it lists (default: not 2xx). */
export function isFailure<R>(
  outcome: Outcome<R>,
  statuses: readonly number[] | 'non-2xx',
): boolean {
  if (outcome.kind !== 'response') return true;
  if (statuses === 'non-2xx') return outcome.status < 200 || outcome.status >= 300;
  return statuses.includes(outcome.status);
}

function isRetryable<R>(outcome: Outcome<R>, policy: RetryPolicy): boolean {
  if (outcome.kind === 'failure') return true;
  return outcome.kind === 'response' && policy.onStatusCodes.includes(outcome.status);
}
