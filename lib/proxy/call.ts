import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type {
  ConfigNode,
  ConfigTree,
  RetryPolicy,
  StrategyNode,
  TargetNode,
} from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import type { HealthGate } from '../health/health-gate.js';
import type { RoutingFacts, RoutingGate } from '../routing/router.js';
import {
  type Availability,
  type Choice,
  nodeAvailability,
  type PlanDriver,
  runPlan,
  type SelectionReason,
} from '../routing/run-plan.js';
import { retryAfterMs as budgetWaitMs, retryAfterSeconds } from '../routing/usage-budget.js';
import type { Clock } from '../types.js';
import {
  type Attempt,
  type AttemptOutcome,
  attachAttempt,
  type PreparedRequest,
  type UpstreamAnswer,
} from './attempt.js';
import type { CallEvents } from './call-events.js';
import { retryAfterMs } from './retry-after.js';
import { sendError } from './send-error.js';
import { UpstreamBodyError } from './upstream-body.js';
import {
  type ListenerBaseline,
  listenerBaseline,
  releaseAttempt,
  removeAttemptListeners,
} from './upstream-proxy.js';
import { type Delivery, handleUpstreamResponse } from './upstream-response.js';

/** Settings a call reads; resolved once per middleware. */
export interface CallSettings {
  readonly clock: Clock;
  readonly random: () => number;
  readonly timeout: number;
  readonly deadline: number;
  readonly backoff: { initialDelayMs: number; maxDelayMs: number; maxRetryAfterMs: number };
  /** The longest a 429's retry-after may eject a target for. */
  readonly maxEjectionMs: number;
}

/** One client request from validation to its answer, across every attempt. */
export interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly tree: ConfigTree;
  readonly traceId: string;
  /** Epoch milliseconds after which nothing more is attempted. */
  readonly deadlineAt: number;
  /** Prepares (once) the upstream request of a target; may throw ERR_PARAMS_INVALID. */
  readonly prepare: (target: TargetNode) => PreparedRequest;
  /** Runs http-proxy-middleware for the attempt attached to the request. */
  readonly proxy: (
    req: IncomingMessage,
    res: ServerResponse,
    next: (error?: unknown) => void,
  ) => void;
  readonly health: HealthGate | undefined;
  /** Checks that need I/O before anything is sent (custom host addresses); rejects to refuse. */
  readonly preflight: Promise<void> | undefined;
  readonly events: CallEvents;
  /** What conditional routing and sticky sessions read: metadata, params, headers, path. */
  readonly facts: RoutingFacts;
  /** Sticky sessions, load-aware picks and budgets; undefined when the config uses none. */
  readonly routing: RoutingGate | undefined;
  /** Retries made so far, for `x-portkey-retry-attempt-count`. */
  retries: number;
  current: Attempt | undefined;
  clientGone: boolean;
  /** Client request listener counts before the first attempt (set then). */
  listenerBaseline: ListenerBaseline | undefined;
}

/** Runs the plan of a validated call and answers the client. Never rejects. */
export async function runCall(call: Call, settings: CallSettings): Promise<void> {
  const driver = new CallDriver(call, settings);
  const deadline = setTimeout(
    onDeadline,
    Math.max(0, call.deadlineAt - settings.clock.now()),
    driver,
  );
  deadline.unref();
  call.res.once('close', () => {
    clearTimeout(deadline);
    onClientClose(call);
    call.routing?.endAll();
  });
  try {
    await call.preflight;
    await call.health?.load(call.tree.targets);
    await call.routing?.load();
    const outcome = await runPlan<UpstreamAnswer>(call.tree.root, driver);
    deliver(call, outcome, settings, driver);
  } catch (error) {
    if (call.current !== undefined) releaseAttempt(call.current);
    const failure =
      error instanceof LoadBalancerError
        ? error
        : new LoadBalancerError('ERR_INTERNAL', 'The load balancer failed to handle the request', {
            cause: error,
          });
    call.events.error(failure);
    sendError(call.res, failure, { 'x-portkey-trace-id': call.traceId });
  }
}

/**
 * The deadline bounds getting a whole answer: an attempt still waiting is cut as a timeout, and
 * an answer still being read (a provider trickling bytes) is cut too. A stream that has begun
 * is bounded by the idle timeout alone.
 */
function onDeadline(driver: CallDriver): void {
  const attempt = driver.call.current;
  if (attempt !== undefined && !attempt.settled) {
    attempt.timedOut = true;
    if (attempt.upstreamRequest !== undefined) {
      attempt.upstreamRequest.destroy();
    } else {
      attempt.settle({
        kind: 'failure',
        timedOut: true,
        target: attempt.prepared.target,
        detail: 'did not answer within the deadline',
      });
    }
    return;
  }
  driver.reading?.destroy(new UpstreamBodyError('deadline'));
}

function onClientClose(call: Call): void {
  if (call.res.writableFinished) return;
  call.clientGone = true;
  call.events.failed(
    'ERR_CLIENT_CLOSED',
    499,
    'The client closed the connection before the answer ended',
    call.current?.prepared.target,
  );
  const attempt = call.current;
  if (attempt !== undefined && !attempt.settled) {
    attempt.upstreamRequest?.destroy();
    attempt.settle({ kind: 'stopped' });
  } else {
    // The answer is being relayed: stop reading it.
    attempt?.upstreamRequest?.destroy();
  }
}

const alwaysAvailable: Availability = { available: true, retryAt: 0, rateLimited: false };

/**
 * The plan's driver for a real call, and then the delivery of its answer: a class, so a request
 * allocates one object, not a dozen closures.
 */
class CallDriver implements PlanDriver<UpstreamAnswer>, Delivery {
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
    return attempt(this.call, this.settings, target, retry);
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

/** Weights lowered by slow start for targets whose breaker just closed; undefined when off. */
export function slowStartWeights(call: Call): ((node: ConfigNode) => number) | undefined {
  const health = call.health;
  if (health === undefined || !health.slowStart) return undefined;
  return (node) => (node.kind === 'target' ? health.weightOf(node) : node.weight);
}

function plainWeight(node: ConfigNode): number {
  return node.weight;
}

/** The breaker's word on a target, then its usage budgets'. */
export function availabilityOf(call: Call, target: TargetNode): Availability {
  const health = call.health?.availability(target) ?? alwaysAvailable;
  return call.routing === undefined ? health : call.routing.availability(target, health);
}

function attempt(
  call: Call,
  settings: CallSettings,
  target: TargetNode,
  retry: number,
): Promise<AttemptOutcome> {
  // Usage budgets count each attempt at admission; a full one skips the target like a breaker.
  const admitted = call.routing?.admit(target) ?? true;
  if (admitted === true) return admittedAttempt(call, settings, target, retry);
  if (admitted === false) return Promise.resolve(unavailableOutcome(call, target));
  return admitted.then((ok) =>
    ok ? admittedAttempt(call, settings, target, retry) : unavailableOutcome(call, target),
  );
}

function admittedAttempt(
  call: Call,
  settings: CallSettings,
  target: TargetNode,
  retry: number,
): Promise<AttemptOutcome> {
  const prepared = call.prepare(target);
  const remaining = call.deadlineAt - settings.clock.now();
  const timeout = Math.max(1, Math.min(target.requestTimeout ?? settings.timeout, remaining));
  // A probe is held for the attempt's timeout at most (and released if the request stops).
  const allowed = call.health?.beginAttempt(target, timeout + probeMarginMs) ?? true;
  if (allowed === true) return startAttempt(call, settings, target, retry, prepared, timeout);
  if (allowed === false) return Promise.resolve(unavailableOutcome(call, target));
  return allowed.then((granted) => {
    if (!granted) return unavailableOutcome(call, target);
    if (call.clientGone) {
      call.health?.endAttempt(target, { kind: 'stopped' });
      return { kind: 'stopped' };
    }
    return startAttempt(call, settings, target, retry, prepared, timeout);
  });
}

/** Slack over an attempt's timeout before its probe expires on its own. */
const probeMarginMs = 1000;

function unavailableOutcome(call: Call, target: TargetNode): AttemptOutcome {
  const health = availabilityOf(call, target);
  const outcome: AttemptOutcome = {
    kind: 'unavailable',
    retryAt: health.retryAt,
    rateLimited: health.rateLimited,
  };
  if (health.overBudget === true) outcome.overBudget = true;
  return outcome;
}

function startAttempt(
  call: Call,
  settings: CallSettings,
  target: TargetNode,
  retry: number,
  prepared: PreparedRequest,
  timeout: number,
): Promise<AttemptOutcome> {
  if (retry > 0) call.retries++;
  call.routing?.beginInFlight(target);
  const startedAt = settings.clock.now();
  if (call.events.sink.has('attempt')) {
    call.events.attempt(
      target,
      retry,
      `${prepared.proxyTarget.protocol}//${prepared.proxyTarget.host}${prepared.upstreamPath}`,
    );
  }
  return new Promise<AttemptOutcome>((resolve, reject) => {
    const current = new CallAttempt(prepared, timeout, call.req.url ?? '/', (outcome) => {
      if (call.routing !== undefined)
        routingAfter(call.routing, target, outcome, settings.clock.now() - startedAt, timeout);
      resolve(withHealth(call, settings, current, outcome));
    });
    current.reject = reject;
    if (call.listenerBaseline === undefined) call.listenerBaseline = listenerBaseline(call.req);
    else removeAttemptListeners(call.req, call.listenerBaseline);
    call.current = current;
    attachAttempt(call.res, current);
    call.proxy(call.req, call.res, (error?: unknown) => {
      current.abort(error ?? new Error('http-proxy-middleware did not proxy the request'));
    });
  });
}

/** One try at one target, settled once by whichever of its hooks comes first. */
class CallAttempt implements Attempt {
  upstreamRequest: ClientRequest | undefined = undefined;
  timedOut = false;
  settled = false;
  proxyOptions: Record<string, unknown> | undefined = undefined;
  resent = false;
  reject: (error: unknown) => void = ignore;

  constructor(
    readonly prepared: PreparedRequest,
    readonly timeout: number,
    readonly clientUrl: string,
    private readonly resolve: (outcome: AttemptOutcome) => void,
  ) {}

  settle(outcome: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    releaseAttempt(this);
    this.resolve(outcome);
  }

  abort(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.upstreamRequest?.destroy();
    releaseAttempt(this);
    this.reject(error);
  }
}

/**
 * Completes an outcome with the provider's retry-after and records what it says of health. A
 * failure resolves once recorded (bounded by the store timeout), so the plan's next step sees
 * the breaker it may have opened.
 */
function withHealth(
  call: Call,
  settings: CallSettings,
  attempt: Attempt,
  outcome: AttemptOutcome,
): AttemptOutcome | Promise<AttemptOutcome> {
  const target = attempt.prepared.target;
  const health = call.health;
  if (outcome.kind === 'failure') {
    const timeoutMs = outcome.timedOut ? attempt.timeout : undefined;
    return afterRecording(health?.endAttempt(target, { kind: 'failure', timeoutMs }), outcome);
  }
  if (outcome.kind !== 'response') {
    health?.endAttempt(target, { kind: 'stopped' });
    return outcome;
  }
  const { status } = outcome;
  const waitMs =
    status === 429 || status === 503
      ? retryAfterMs(outcome.response.upstream.headers, settings.clock.now())
      : undefined;
  const answered = { ...outcome, retryAfterMs: waitMs };
  if (health === undefined) return answered;
  if (health.isFailureStatus(target, status)) {
    const openForMs =
      status === 429 && waitMs !== undefined ? Math.min(waitMs, settings.maxEjectionMs) : undefined;
    return afterRecording(health.endAttempt(target, { kind: 'failure', openForMs }), answered);
  }
  health.endAttempt(target, { kind: 'success' });
  return answered;
}

/** What an attempt's outcome tells the routing rules: its latency; the end of a failed one. */
function routingAfter(
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

function afterRecording(
  recorded: void | Promise<void>,
  outcome: AttemptOutcome,
): AttemptOutcome | Promise<AttemptOutcome> {
  return recorded === undefined ? outcome : recorded.then(() => outcome);
}

function discard(outcome: AttemptOutcome): void {
  if (outcome.kind !== 'response') return;
  const { upstream } = outcome.response;
  upstream.on('error', ignore);
  upstream.resume();
}

function retryDelay(
  call: Call,
  settings: CallSettings,
  outcome: AttemptOutcome,
  policy: RetryPolicy,
  retry: number,
): number | undefined {
  const { initialDelayMs, maxDelayMs, maxRetryAfterMs } = settings.backoff;
  let delay: number;
  if (
    policy.useRetryAfterHeader &&
    outcome.kind === 'response' &&
    outcome.retryAfterMs !== undefined
  ) {
    if (outcome.retryAfterMs > maxRetryAfterMs) return undefined;
    delay = outcome.retryAfterMs;
  } else {
    // Exponential with "equal jitter": at least half the step, so retries stay spaced.
    const step = Math.min(maxDelayMs, initialDelayMs * 2 ** retry);
    delay = step / 2 + settings.random() * (step / 2);
  }
  return settings.clock.now() + delay < call.deadlineAt ? delay : undefined;
}

function deliver(
  call: Call,
  outcome: AttemptOutcome,
  settings: CallSettings,
  driver: CallDriver,
): void {
  switch (outcome.kind) {
    case 'response': {
      const { attempt, upstream } = outcome.response;
      const target = attempt.prepared.target;
      const stream = upstream.headers['content-type']?.startsWith('text/event-stream') === true;
      call.events.answered(call.res, target, outcome.status, stream, () => call.retries);
      const routing = call.routing;
      if (routing?.countsTokens === true) {
        call.res.once('close', () => routing.countTokens(target, call.events.tokenUsage));
      }
      driver.answerHeaders = answerHeaders(call, target);
      driver.delivered = { prepared: attempt.prepared, status: outcome.status };
      handleUpstreamResponse(attempt, upstream, call.res, driver);
      return;
    }
    case 'failure': {
      const message = `Provider ${outcome.target.provider} ${outcome.detail}`;
      const code = outcome.timedOut ? 'ERR_UPSTREAM_TIMEOUT' : 'ERR_UPSTREAM_UNREACHABLE';
      fail(
        call,
        new LoadBalancerError(code, message),
        answerHeaders(call, outcome.target),
        outcome.target,
      );
      return;
    }
    case 'unavailable': {
      if (outcome.overBudget === true) {
        const seconds = retryAfterSeconds(budgetWaitMs(settings.clock.now(), outcome.retryAt));
        const error = new LoadBalancerError(
          'ERR_BUDGET_EXCEEDED',
          `Every target of this config has used its rpm/tpm budget for this window; retry in ${seconds} s`,
          { type: 'rate_limit_error' },
        );
        fail(call, error, { 'retry-after': String(seconds), 'x-portkey-trace-id': call.traceId });
        return;
      }
      const waitSeconds = Math.max(1, Math.ceil((outcome.retryAt - settings.clock.now()) / 1000));
      const error = outcome.rateLimited
        ? new LoadBalancerError(
            'ERR_RATE_LIMITED',
            `Every target of this config is rate-limited by its provider; retry in ${waitSeconds} s`,
            { type: 'rate_limit_error' },
          )
        : new LoadBalancerError(
            'ERR_NO_HEALTHY_TARGET',
            `Every target of this config is ejected after repeated failures; retry in ${waitSeconds} s`,
          );
      fail(call, error, { 'retry-after': String(waitSeconds), 'x-portkey-trace-id': call.traceId });
      return;
    }
    case 'stopped': {
      if (call.clientGone) return;
      const error = new LoadBalancerError(
        'ERR_UPSTREAM_TIMEOUT',
        `No provider answered within the deadline of ${settings.deadline} ms`,
      );
      fail(call, error, { 'x-portkey-trace-id': call.traceId });
      return;
    }
  }
}

function fail(
  call: Call,
  error: LoadBalancerError,
  headers: Record<string, string>,
  target?: TargetNode,
): void {
  call.events.error(error, target);
  sendError(call.res, error, headers);
}

/** Headers this middleware adds to an answer from (or about) a target. */
function answerHeaders(call: Call, target: TargetNode): Record<string, string> {
  return {
    'x-portkey-provider': target.provider,
    'x-portkey-last-used-option-index': target.label,
    'x-portkey-retry-attempt-count': String(call.retries),
    'x-portkey-trace-id': call.traceId,
  };
}

function ignore(): void {
  // A discarded answer's late errors matter to no one.
}
