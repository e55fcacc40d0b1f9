import type { ClientRequest } from 'node:http';
import type { RetryPolicy, TargetNode } from '../config/config-tree.js';
import type { SignableRequest } from '../providers/provider.js';
import {
  type Attempt,
  type AttemptOutcome,
  attachAttempt,
  type PreparedRequest,
} from './attempt.js';
import type { Call, CallSettings } from './call.js';
import { admitted, routingAfter, unavailableOutcome } from './call-routing.js';
import { retryAfterMs } from './retry-after.js';
import { listenerBaseline, releaseAttempt, removeAttemptListeners } from './upstream-proxy.js';

/**
 * One attempt at one target: admitted by its health (a half-open probe may be refused),
 * signed when its provider signs, sent through the proxy, and its outcome recorded.
 */
export function runAttempt(
  call: Call,
  settings: CallSettings,
  target: TargetNode,
  retry: number,
): Promise<AttemptOutcome> {
  // Usage budgets count each attempt at admission; a full one skips the target like a breaker.
  return admitted(call, target, () => healthyAttempt(call, settings, target, retry));
}

function healthyAttempt(
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

function startAttempt(
  call: Call,
  settings: CallSettings,
  target: TargetNode,
  retry: number,
  prepared: PreparedRequest,
  timeout: number,
): Promise<AttemptOutcome> {
  // The client may have left while a budget or a probe was being granted.
  if (call.clientGone) {
    call.health?.endAttempt(target, { kind: 'stopped' });
    return Promise.resolve({ kind: 'stopped' });
  }
  if (prepared.adapter.sign === undefined) {
    return sendAttempt(call, settings, retry, prepared, timeout, prepared.upstreamHeaders);
  }
  // Signed before every attempt: over the final bytes, with a fresh timestamp.
  return prepared.adapter.sign(signableRequest(prepared), target).then(
    (headers) => {
      if (!call.clientGone) return sendAttempt(call, settings, retry, prepared, timeout, headers);
      call.health?.endAttempt(target, { kind: 'stopped' });
      return { kind: 'stopped' };
    },
    (error: unknown) => {
      call.health?.endAttempt(target, { kind: 'stopped' });
      throw error;
    },
  );
}

function signableRequest(prepared: PreparedRequest): SignableRequest {
  const { protocol, host } = prepared.proxyTarget;
  return {
    method: 'POST',
    url: `${protocol}//${host}${prepared.upstreamPath}`,
    headers: prepared.upstreamHeaders,
    body: prepared.body.bytes,
  };
}

function sendAttempt(
  call: Call,
  settings: CallSettings,
  retry: number,
  prepared: PreparedRequest,
  timeout: number,
  headers: Record<string, string>,
): Promise<AttemptOutcome> {
  if (retry > 0) call.retries++;
  call.routing?.beginInFlight(prepared.target);
  const startedAt = settings.clock.now();
  if (call.events.sink.has('attempt')) {
    call.events.attempt(
      prepared.target,
      retry,
      `${prepared.proxyTarget.protocol}//${prepared.proxyTarget.host}${prepared.upstreamPath}`,
    );
  }
  return new Promise<AttemptOutcome>((resolve, reject) => {
    const current = new CallAttempt(prepared, headers, timeout, call.req.url ?? '/', (outcome) => {
      const elapsed = settings.clock.now() - startedAt;
      if (call.routing !== undefined) {
        routingAfter(call.routing, prepared.target, outcome, elapsed, timeout);
      }
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
    readonly headers: Record<string, string>,
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

function afterRecording(
  recorded: void | Promise<void>,
  outcome: AttemptOutcome,
): AttemptOutcome | Promise<AttemptOutcome> {
  return recorded === undefined ? outcome : recorded.then(() => outcome);
}

export function discard(outcome: AttemptOutcome): void {
  if (outcome.kind !== 'response') return;
  const { upstream } = outcome.response;
  upstream.on('error', ignore);
  upstream.resume();
}

export function retryDelay(
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

function ignore(): void {
  // A discarded answer's late errors matter to no one.
}
