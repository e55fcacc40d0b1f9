import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type Plugin, type RequestHandler } from 'http-proxy-middleware';
import { LoadBalancerError } from '../errors.js';
import { attachExchange, exchangeOf } from './exchange.js';
import { sendError } from './send-error.js';
import { handleUpstreamResponse } from './upstream-response.js';

/**
 * The one http-proxy-middleware instance. Everything per request was prepared into the
 * request's exchange beforehand; the router and pathRewrite only read it.
 */
export function createUpstreamProxy(): RequestHandler<IncomingMessage, ServerResponse> {
  return createProxyMiddleware<IncomingMessage, ServerResponse>({
    router: (req) => exchangeOf(req).proxyTarget as unknown as string,
    pathRewrite: (_path, req) => exchangeOf(req).upstreamPath,
    changeOrigin: true,
    selfHandleResponse: true,
    followRedirects: false,
    xfwd: false,
    // Our plugin installs every listener (error included), and skips the default logger's
    // per-response URL building.
    ejectPlugins: true,
    plugins: [exchangePlugin],
  });
}

type WebOptions = Record<string, unknown>;
type Web = (
  req: IncomingMessage,
  res: ServerResponse,
  options: WebOptions,
  ...rest: unknown[]
) => void;

const exchangePlugin: Plugin<IncomingMessage, ServerResponse> = (proxyServer) => {
  const server = proxyServer as unknown as { web: Web };
  const web = server.web.bind(proxyServer);
  server.web = (req, res, options, ...rest) => {
    const exchange = exchangeOf(req);
    options.buffer = exchange.body;
    options.agent = exchange.agent;
    options.proxyTimeout = exchange.timeout;
    // http-proxy copies req.headers and req.url synchronously while starting the call; the
    // host app keeps seeing the client's own afterwards.
    const clientHeaders = req.headers;
    req.headers = exchange.upstreamHeaders;
    try {
      web(req, res, options, ...rest);
    } finally {
      req.headers = clientHeaders;
      req.url = exchange.clientUrl;
    }
  };
  proxyServer.on('proxyReq', onUpstreamRequest);
  proxyServer.on('proxyRes', onUpstreamResponse);
  proxyServer.on('error', onProxyError);
  proxyServer.on('econnreset', ignoreClientReset);
};

function onUpstreamRequest(
  proxyReq: ClientRequest,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const exchange = exchangeOf(req);
  exchange.upstreamRequest = proxyReq;
  attachExchange(proxyReq, exchange);
  proxyReq.once('timeout', markTimedOut);
  // http-proxy does not abort the upstream call when the client goes away after sending its body.
  res.once('close', abortUnfinishedUpstream);
}

function markTimedOut(this: ClientRequest): void {
  exchangeOf(this).timedOut = true;
}

function abortUnfinishedUpstream(this: ServerResponse): void {
  if (!this.writableFinished) exchangeOf(this.req).upstreamRequest?.destroy();
}

function onUpstreamResponse(
  proxyRes: IncomingMessage,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  handleUpstreamResponse(exchangeOf(req), proxyRes, res);
}

function onProxyError(error: Error, req: IncomingMessage, res: ServerResponse | Socket): void {
  if (!('writeHead' in res)) return;
  const exchange = exchangeOf(req);
  if (res.destroyed || res.writableEnded) return;
  const provider = exchange.target.provider;
  const failure = exchange.timedOut
    ? new LoadBalancerError(
        'ERR_UPSTREAM_TIMEOUT',
        `Provider ${provider} did not answer within ${exchange.timeout} ms`,
      )
    : new LoadBalancerError(
        'ERR_UPSTREAM_UNREACHABLE',
        `Provider ${provider} could not be reached (${(error as NodeJS.ErrnoException).code ?? 'connection error'})`,
      );
  sendError(res, failure, exchange.responseHeaders);
}

function ignoreClientReset(): void {
  // The client left; its upstream call was aborted with it.
}
