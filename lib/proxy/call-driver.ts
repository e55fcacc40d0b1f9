import type { Readable } from 'node:stream';
import type { ConfigNode, RetryPolicy, StrategyNode, TargetNode } from '../config/config-tree.js';
import type { LoadBalancerError } from '../errors.js';
import type { RoutingFacts } from '../routing/router.js';
import {
  type Availability,
  type Choice,
  nodeAvailability,
  type PlanDriver,
  type SelectionReason,
} from '../routing/run-plan.js';
import type { AttemptOutcome, PreparedRequest, UpstreamAnswer } from './attempt.js';
import type { Call, CallSettings } from './call.js';
import { discard, retryDelay, runAttempt } from './call-attempt.js';
import type { CallEvents } from './call-events.js';
import { availabilityOf, plainWeight, slowStartWeights } from './call-routing.js';
import type { Delivery } from './upstream-response.js';

/**
 * The plan's driver for a real call, and then the delivery of its answer: a class, so a request
 * allocates one object, not a dozen closures.
 */
export class CallDriver implements PlanDriver<UpstreamAnswer>, Delivery {
  answerHeaders: Record<string, string> = {};
  reading: Readable | undefined = undefined;
  /** The answer being delivered, once there is one. */
  delivered: { prepared: PreparedRequest; status: number } | undefined = undefined;

  readonly #slowStart: ((node: ConfigNode) => number) | undefined;

  constructor(
    readonly call: Call,
    private readonly settings: CallSettings,
  ) {
    this.#slowStart = slowStartWeights(call);
  }

  /**
   * Slow start's weights, only while a target of this request may be ramping: otherwise (the
   * usual case) picks use the configured weights and allocate nothing.
   */
  get weightOf(): ((node: ConfigNode) => number) | undefined {
    return this.call.health?.ramping === true ? this.#slowStart : undefined;
  }

  get events(): CallEvents {
    return this.call.events;
  }

  upstreamFailed(error: LoadBalancerError): void {
    const delivered = this.delivered;
    if (delivered === undefined) return;
    const { target, secrets } = delivered.prepared;
    // The message may quote the provider, which may quote the key.
    const message = secrets === undefined ? error.message : secrets.maskText(error.message);
    this.call.events.failed(error.code, error.status, message, target);
    // A failure status was counted when it arrived; any other answer that fails now counts now.
    const health = this.call.health;
    if (health !== undefined && !health.isFailureStatus(target, delivered.status)) {
      void health.endAttempt(target, { kind: 'failure' });
    }
  }

  attempt(target: TargetNode, retry: number): Promise<AttemptOutcome> {
    return runAttempt(this.call, this.settings, target, retry);
  }

  discard(outcome: AttemptOutcome): void {
    if (outcome.kind === 'response') {
      this.call.routing?.endInFlight(outcome.response.attempt.prepared.target);
    }
    discard(outcome);
  }

  availability(target: TargetNode): Availability {
    return availabilityOf(this.call, target);
  }

  stopped(): boolean {
    return this.call.clientGone || this.settings.clock.now() >= this.call.deadlineAt;
  }

  retryDelay(outcome: AttemptOutcome, policy: RetryPolicy, retry: number): number | undefined {
    return retryDelay(this.call, this.settings, outcome, policy, retry);
  }

  sleep(ms: number): Promise<void> {
    return this.settings.clock.sleep(ms);
  }

  now(): number {
    return this.settings.clock.now();
  }

  random(): number {
    return this.settings.random();
  }

  onSelect(
    node: StrategyNode,
    remaining: readonly ConfigNode[],
    available: readonly ConfigNode[],
    picked: ConfigNode,
    reason: SelectionReason,
  ): void {
    this.call.events.selected(
      node,
      remaining,
      available,
      picked,
      (child) => nodeAvailability(child, this),
      reason,
    );
  }

  conditionFacts(): RoutingFacts {
    return this.call.facts;
  }

  choose(
    node: StrategyNode,
    candidates: readonly ConfigNode[],
    first: boolean,
  ): Choice | undefined | Promise<Choice | undefined> {
    return this.call.routing?.choose(node, candidates, first, this.#slowStart ?? plainWeight);
  }

  onRetry(target: TargetNode, retry: number, delayMs: number, outcome: AttemptOutcome): void {
    this.call.events.retry(target, retry, delayMs, outcome);
  }

  onMoveOn(from: ConfigNode, outcome: AttemptOutcome): void {
    this.call.events.movedOn(from, outcome);
  }
}
