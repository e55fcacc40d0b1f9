import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { TargetNode } from '../config/config-tree.js';
import type { ProviderAdapter, RequestShape } from '../providers/provider.js';
import type { Outcome } from '../routing/run-plan.js';
import type { SecretForms } from '../security/secret-scrubber.js';
import type { Operation } from '../types.js';

/** http-proxy's view of a target: parsed once per origin, never per request. */
export interface ProxyTarget {
  protocol: string;
  hostname: string;
  host: string;
  port: string;
  path: string;
}

/** A target's upstream request, prepared once per call and reused by its retries. */
export interface PreparedRequest {
  readonly target: TargetNode;
  readonly adapter: ProviderAdapter;
  readonly operation: Operation;
  /** What the answer's translation needs from the request (translating providers only read it). */
  readonly shape: RequestShape;
  readonly proxyTarget: ProxyTarget;
  readonly agent: Agent;
  /** Upstream path and query, e.g. `/v1/chat/completions`. */
  readonly upstreamPath: string;
  readonly upstreamHeaders: Record<string, string>;
  /** The same bytes on every attempt. */
  readonly body: PreparedBody;
  /** The target's secrets as answers are searched for them; undefined when it has none. */
  readonly secrets: SecretForms | undefined;
}

/** A provider's answer as the plan sees it. */
export interface UpstreamAnswer {
  readonly attempt: Attempt;
  readonly upstream: IncomingMessage;
}

export type AttemptOutcome = Outcome<UpstreamAnswer>;

/** One try at one target: what http-proxy-middleware's hooks read and settle. */
export interface Attempt {
  readonly prepared: PreparedRequest;
  /** The headers this attempt sends: the prepared ones, or those its signature produced. */
  readonly headers: Record<string, string>;
  /** Milliseconds of upstream silence before this attempt is aborted. */
  readonly timeout: number;
  /** The client's URL, restored after http-proxy has read the rewritten one. */
  readonly clientUrl: string;
  upstreamRequest: ClientRequest | undefined;
  timedOut: boolean;
  settled: boolean;
  /** http-proxy's options for this attempt, kept to send it again on a fresh connection. */
  proxyOptions: Record<string, unknown> | undefined;
  /** Whether it was sent again after meeting a stale pooled connection (at most once). */
  resent: boolean;
  settle(outcome: AttemptOutcome): void;
  /** Ends the attempt with an error of the middleware's own (the call answers ERR_INTERNAL). */
  abort(error: unknown): void;
}

const attemptKey = Symbol('portkeyLoadBalancer.attempt');

type Locals = Record<symbol, Attempt | undefined>;
type WithLocals = ServerResponse & { locals?: Locals };

/**
 * The current attempt travels in `res.locals` under a symbol: Express gives every response that
 * dictionary, so no Node object changes shape on the hot path (a WeakMap or a property on the
 * request cost measurably more). The router and pathRewrite reach it through `req.res`.
 */
export function attachAttempt(res: ServerResponse, attempt: Attempt): void {
  const withLocals = res as WithLocals;
  withLocals.locals ??= Object.create(null) as Locals;
  withLocals.locals[attemptKey] = attempt;
}

export function maybeAttemptOf(res: ServerResponse | undefined): Attempt | undefined {
  return (res as WithLocals | undefined)?.locals?.[attemptKey];
}

export function attemptOf(req: IncomingMessage): Attempt {
  const attempt = maybeAttemptOf((req as IncomingMessage & { res?: ServerResponse }).res);
  if (attempt === undefined) throw new Error('No load-balancer attempt on this request');
  return attempt;
}

/**
 * The rewritten body in the one form http-proxy reads it (`buffer.pipe(proxyReq)`): written whole,
 * so that no `proxyReq` header juggling or stream re-reading is needed.
 */
export class PreparedBody {
  constructor(readonly bytes: Buffer) {}

  pipe<T extends NodeJS.WritableStream>(destination: T): T {
    destination.end(this.bytes);
    return destination;
  }
}
