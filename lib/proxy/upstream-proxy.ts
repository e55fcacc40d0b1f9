import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
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
type Web = (
  req: IncomingMessage,
  res: ServerResponse,
  options: WebOptions,
  ...rest: unknown[]
) => void;
type Listener = (...args: unknown[]) => void;

const trackedClientEvents = ['error', 'aborted'] as const;

const attemptPlugin: Plugin<IncomingMessage, ServerResponse> = (proxyServer) => {
  const server = proxyServer as unknown as { web: Web };
  const web = server.web.bind(proxyServer);
  server.web = (req, res, options, ...rest) => {
    const attempt = attemptOf(req);
    options.buffer = attempt.prepared.body;
    options.agent = attempt.prepared.agent;
    options.proxyTimeout = attempt.timeout;
    // http-proxy copies req.headers and req.url synchronously while starting the call; the
    // host app keeps seeing the client's own afterwards.
    const clientHeaders = req.headers;
    const before = trackedClientEvents.map((event) => req.listenerCount(event));
    req.headers = attempt.prepared.upstreamHeaders;
    try {
      web(req, res, options, ...rest);
    } finally {
      req.headers = clientHeaders;
      req.url = attempt.clientUrl;
      trackedClientEvents.forEach((event, index) => {
        for (const listener of req.listeners(event).slice(before[index])) {
          attempt.clientListeners.push([event, listener as Listener]);
        }
      });
    }
  };
  proxyServer.on('proxyReq', onUpstreamRequest);
  proxyServer.on('proxyRes', onUpstreamResponse);
  proxyServer.on('error', onProxyError);
  proxyServer.on('econnreset', onProxyError);
};

function onUpstreamRequest(
  proxyReq: ClientRequest,
  _req: IncomingMessage,
  res: ServerResponse,
): void {
  const attempt = maybeAttemptOf(res);
  if (attempt === undefined) return;
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

function onProxyError(error: Error, _req: IncomingMessage, res: ServerResponse | Socket): void {
  const attempt = 'writeHead' in res ? maybeAttemptOf(res) : undefined;
  if (attempt === undefined || attempt.settled) return;
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

/** Once an attempt is settled, its leftovers must not touch the request or the next attempt. */
export function releaseAttempt(req: IncomingMessage, attempt: Attempt): void {
  for (const [event, listener] of attempt.clientListeners) req.off(event, listener);
  attempt.clientListeners.length = 0;
  const upstreamRequest = attempt.upstreamRequest;
  if (upstreamRequest !== undefined) {
    upstreamRequest.removeAllListeners('error');
    upstreamRequest.on('error', ignore);
  }
}

function ignore(): void {
  // A settled attempt's late errors have no one left to tell.
}
