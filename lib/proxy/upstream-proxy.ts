import type {
  Agent,
  AgentOptions,
  ClientRequest,
  IncomingMessage,
  ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type Plugin, type RequestHandler } from 'http-proxy-middleware';
import { type Attempt, attemptOf, maybeAttemptOf } from './attempt.js';

/**
 * The one http-proxy-middleware instance. Everything per attempt was prepared into the request's
 * attempt beforehand; the router and pathRewrite only read it, and the hooks settle it.
 */
export function createUpstreamProxy(): RequestHandler<IncomingMessage, ServerResponse> {
  return createProxyMiddleware<IncomingMessage, ServerResponse>({
    router: (req) => attemptOf(req).prepared.proxyTarget as unknown as string,
    pathRewrite: (_path, req) => attemptOf(req).prepared.upstreamPath,
    changeOrigin: true,
    selfHandleResponse: true,
    followRedirects: false,
    xfwd: false,
    // Our plugin installs every listener (error included), and skips the default logger's
    // per-response URL building.
    ejectPlugins: true,
    plugins: [attemptPlugin],
  });
}

type WebOptions = Record<string, unknown>;
type Web = (req: IncomingMessage, res: ServerResponse, options: WebOptions) => void;

/** Errors of a request that met a socket the provider had already closed. */
const staleSocketErrors = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

const attemptPlugin: Plugin<IncomingMessage, ServerResponse> = (proxyServer) => {
  const server = proxyServer as unknown as { web: Web };
  const web = server.web.bind(proxyServer);

  /** Starts the attempt's upstream request; anything thrown on the way fails the attempt. */
  function send(req: IncomingMessage, res: ServerResponse, attempt: Attempt, options: WebOptions) {
    options.buffer = attempt.prepared.body;
    options.proxyTimeout = attempt.timeout;
    // http-proxy copies req.headers and req.url synchronously while starting the call; the
    // host app keeps seeing the client's own afterwards.
    const clientHeaders = req.headers;
    req.headers = attempt.headers;
    req.url = attempt.prepared.upstreamPath;
    try {
      web(req, res, options);
    } catch (error) {
      // Node refuses to build some requests (a header it will not send, say): that must end as
      // our JSON error, never reach the host's error handler.
      attempt.abort(error);
    } finally {
      req.headers = clientHeaders;
      req.url = attempt.clientUrl;
    }
  }

  server.web = (req, res, options) => {
    const attempt = attemptOf(req);
    options.agent = attempt.prepared.agent;
    attempt.proxyOptions = options;
    send(req, res, attempt, options);
  };

  /**
   * A pooled connection that the provider closed while idle fails the first request written to
   * it before any answer: that request is sent once more on a new connection, within the same
   * attempt (no retry counted, no health failure).
   */
  function resendOnFreshConnection(
    error: NodeJS.ErrnoException,
    req: IncomingMessage,
    res: ServerResponse,
    attempt: Attempt,
  ): boolean {
    const stale = attempt.upstreamRequest;
    if (
      stale?.reusedSocket !== true ||
      attempt.resent ||
      attempt.timedOut ||
      res.destroyed ||
      attempt.proxyOptions === undefined ||
      !staleSocketErrors.has(error.code ?? '')
    ) {
      return false;
    }
    attempt.resent = true;
    stale.removeAllListeners('error');
    stale.on('error', ignore);
    attempt.upstreamRequest = undefined;
    send(req, res, attempt, {
      ...attempt.proxyOptions,
      agent: freshAgentOf(attempt.prepared.agent),
    });
    return true;
  }

  function onProxyError(error: Error, req: IncomingMessage, res: ServerResponse | Socket): void {
    const attempt = 'writeHead' in res ? maybeAttemptOf(res) : undefined;
    if (attempt === undefined || attempt.settled) return;
    if (resendOnFreshConnection(error, req, res as ServerResponse, attempt)) return;
    const detail = attempt.timedOut
      ? `did not answer within ${attempt.timeout} ms`
      : `could not be reached (${(error as NodeJS.ErrnoException).code ?? 'connection error'})`;
    attempt.settle({
      kind: 'failure',
      timedOut: attempt.timedOut,
      target: attempt.prepared.target,
      detail,
    });
  }

  proxyServer.on('proxyReq', onUpstreamRequest);
  proxyServer.on('proxyRes', onUpstreamResponse);
  proxyServer.on('error', onProxyError);
  proxyServer.on('econnreset', onProxyError);
};

/** Companions of the pooling agents that open a new connection for every request. */
const freshAgents = new WeakMap<Agent, Agent>();

function freshAgentOf(agent: Agent): Agent {
  let fresh = freshAgents.get(agent);
  if (fresh === undefined) {
    const options = (agent as Agent & { options?: AgentOptions }).options ?? {};
    const Constructor = agent.constructor as new (options: AgentOptions) => Agent;
    // Same options (a guarded lookup, TLS settings), without pooling.
    fresh = new Constructor({ ...options, keepAlive: false });
    freshAgents.set(agent, fresh);
  }
  return fresh;
}

function onUpstreamRequest(
  proxyReq: ClientRequest,
  _req: IncomingMessage,
  res: ServerResponse,
): void {
  const attempt = maybeAttemptOf(res);
  if (attempt === undefined) return;
  if (attempt.settled) {
    // The client left while the call was being set up: do not let it reach the provider.
    proxyReq.destroy();
    return;
  }
  attempt.upstreamRequest = proxyReq;
  proxyReq.once('timeout', () => {
    attempt.timedOut = true;
  });
}

function onUpstreamResponse(
  upstream: IncomingMessage,
  _req: IncomingMessage,
  res: ServerResponse,
): void {
  const attempt = maybeAttemptOf(res);
  // Only the current attempt's own response may settle it.
  const request = (upstream as IncomingMessage & { req?: ClientRequest }).req;
  if (attempt === undefined || attempt.settled || request !== attempt.upstreamRequest) {
    upstream.resume();
    return;
  }
  attempt.settle({
    kind: 'response',
    status: upstream.statusCode ?? 502,
    retryAfterMs: undefined,
    response: { attempt, upstream },
  });
}

/** Listener counts of the client request before any attempt, to clean up after retries. */
export interface ListenerBaseline {
  error: number;
  aborted: number;
}

export function listenerBaseline(req: IncomingMessage): ListenerBaseline {
  return { error: req.listenerCount('error'), aborted: req.listenerCount('aborted') };
}

/**
 * Removes the listeners earlier attempts' http-proxy calls left on the client request, so that
 * retries do not pile them up. Only runs before a second attempt.
 */
export function removeAttemptListeners(req: IncomingMessage, baseline: ListenerBaseline): void {
  for (const event of ['error', 'aborted'] as const) {
    for (const listener of req.listeners(event).slice(baseline[event])) {
      req.off(event, listener as (...args: unknown[]) => void);
    }
  }
}

/** Once an attempt is settled, its upstream request's late errors must not reach anyone. */
export function releaseAttempt(attempt: Attempt): void {
  const upstreamRequest = attempt.upstreamRequest;
  if (upstreamRequest !== undefined) {
    upstreamRequest.removeAllListeners('error');
    upstreamRequest.on('error', ignore);
  }
}

function ignore(): void {
  // A settled attempt's late errors have no one left to tell.
}
