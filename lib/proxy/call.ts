import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfigTree, TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import type { HealthGate } from '../health/health-gate.js';
import type { RoutingFacts, RoutingGate } from '../routing/router.js';
import { runPlan } from '../routing/run-plan.js';
import type { Clock } from '../types.js';
import type { Attempt, PreparedRequest, UpstreamAnswer } from './attempt.js';
import { deliver } from './call-delivery.js';
import { CallDriver } from './call-driver.js';
import type { CallEvents } from './call-events.js';
import type { CallInput, RequestPreparer } from './prepare-request.js';
import { sendError } from './send-error.js';
import type { LeftOut } from './serving-targets.js';
import { UpstreamBodyError } from './upstream-body.js';
import { type ListenerBaseline, releaseAttempt } from './upstream-proxy.js';

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

/** Runs http-proxy-middleware for the attempt attached to the request. */
export type Transport = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** Everything a call is made of, known once its config is resolved. */
export interface CallParts {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The config's tree without the targets that cannot serve the request (see serving-targets). */
  readonly tree: ConfigTree;
  /** The targets left out of the choice because they cannot serve the request. */
  readonly leftOut: readonly LeftOut[];
  readonly input: CallInput;
  readonly events: CallEvents;
  /** Epoch milliseconds after which nothing more is attempted. */
  readonly deadlineAt: number;
  readonly preparer: RequestPreparer;
  /** Whether the config came from the server (its hosts need no address checks). */
  readonly trusted: boolean;
  readonly proxy: Transport;
  readonly health: HealthGate | undefined;
  /** Checks that need I/O before anything is sent (custom host addresses); rejects to refuse. */
  readonly preflight: Promise<void> | undefined;
  /** What conditional routing and sticky sessions read: metadata, params, headers, path. */
  readonly facts: RoutingFacts;
  /** Sticky sessions, load-aware picks and budgets; undefined when the config uses none. */
  readonly routing: RoutingGate | undefined;
}

/** One client request from validation to its answer, across every attempt. */
export class Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly tree: ConfigTree;
  readonly leftOut: readonly LeftOut[];
  readonly events: CallEvents;
  readonly deadlineAt: number;
  readonly proxy: Transport;
  readonly health: HealthGate | undefined;
  readonly preflight: Promise<void> | undefined;
  readonly facts: RoutingFacts;
  readonly routing: RoutingGate | undefined;
  /** Retries made so far, for `x-portkey-retry-attempt-count`. */
  retries = 0;
  current: Attempt | undefined = undefined;
  clientGone = false;
  /** Client request listener counts before the first attempt (set then). */
  listenerBaseline: ListenerBaseline | undefined = undefined;
  readonly #input: CallInput;
  readonly #trusted: boolean;
  readonly #preparer: RequestPreparer;
  readonly #prepared = new Map<TargetNode, PreparedRequest>();

  constructor(parts: CallParts) {
    this.req = parts.req;
    this.res = parts.res;
    this.tree = parts.tree;
    this.leftOut = parts.leftOut;
    this.events = parts.events;
    this.deadlineAt = parts.deadlineAt;
    this.proxy = parts.proxy;
    this.health = parts.health;
    this.preflight = parts.preflight;
    this.facts = parts.facts;
    this.routing = parts.routing;
    this.#input = parts.input;
    this.#preparer = parts.preparer;
    this.#trusted = parts.trusted;
  }

  get traceId(): string {
    return this.events.requestId;
  }

  /** The upstream request of a target, prepared once; may throw ERR_PARAMS_INVALID. */
  prepare(target: TargetNode): PreparedRequest {
    let request = this.#prepared.get(target);
    if (request === undefined) {
      request = this.#preparer.prepare(this.#input, target, this.#trusted);
      this.#prepared.set(target, request);
    }
    return request;
  }
}

/** Runs the plan of a validated call and answers the client. Never rejects. */
export async function runCall(call: Call, settings: CallSettings): Promise<void> {
  if (clientLeft(call.res)) {
    // It left while the config, metadata or a stored response's target was being looked up:
    // its 'close' has been and gone, and nothing is sent on its behalf.
    onClientClose(call);
    return;
  }
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

/** Whether the client's connection is already gone, before anything was answered. */
function clientLeft(res: ServerResponse): boolean {
  return res.destroyed || res.socket === null || res.socket.destroyed;
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
