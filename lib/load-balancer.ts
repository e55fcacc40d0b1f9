import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import bodyParser from 'body-parser';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { BoundedCache } from './bounded-cache.js';
import type { ConfigTree, TargetNode } from './config/config-tree.js';
import { checkConfig } from './config/normalize.js';
import { LoadBalancerError } from './errors.js';
import { HealthGate } from './health/health-gate.js';
import type { UpstreamBase } from './providers/provider.js';
import { PreparedBody, type PreparedRequest, type ProxyTarget } from './proxy/attempt.js';
import { type Call, runCall } from './proxy/call.js';
import { upstreamHeaders } from './proxy/request-headers.js';
import { asLoadBalancerError, sendError } from './proxy/send-error.js';
import { createUpstreamProxy } from './proxy/upstream-proxy.js';
import { resolveSettings, type Settings } from './settings.js';
import type { LoadBalancerOptions, Operation, Params } from './types.js';

/** Where a route finds its config: Portkey's original body, or the OpenAI-compatible header. */
type ConfigSource = 'body' | 'header';

interface Route {
  readonly operation: Operation;
  readonly source: ConfigSource;
}

const routes = new Map<string, Route>([
  ['/v1/chatComplete', { operation: 'chat', source: 'body' }],
  ['/v1/complete', { operation: 'complete', source: 'body' }],
  ['/v1/chat/completions', { operation: 'chat', source: 'header' }],
  ['/v1/completions', { operation: 'complete', source: 'header' }],
  ['/v1/embed', { operation: 'embed', source: 'body' }],
  ['/v1/embeddings', { operation: 'embed', source: 'header' }],
]);

const operationNames: Record<Operation, string> = {
  chat: 'chat completions',
  complete: 'text completions',
  embed: 'embeddings',
};

const configHeader = 'x-portkey-config';
const traceHeader = 'x-portkey-trace-id';

/**
 * Creates the Express middleware. Mount it under any prefix; it answers `POST` on its routes
 * and calls `next()` for everything else.
 *
 * @example
 * app.use('/internal/llm', requireAuth, portkeyLoadBalancer({ config }));
 */
export function portkeyLoadBalancer(options: LoadBalancerOptions = {}): RequestHandler {
  const settings = resolveSettings(options);
  const parseJsonBody = bodyParser.json({ limit: settings.bodyLimit, type: () => true });
  const proxy = createUpstreamProxy();
  // SDKs send the same x-portkey-config on every call: validate each distinct one once.
  const headerConfigs = new BoundedCache<string, ConfigTree>(256);
  const proxyTargets = new Map<string, ProxyTarget>();

  function handle(
    req: Request,
    res: Response,
    next: NextFunction,
    route: Route,
    body: unknown,
  ): void {
    let call: Call;
    try {
      call = prepareCall(req, res, next, route, body);
    } catch (error) {
      sendError(res, asLoadBalancerError(error));
      return;
    }
    void runCall(call, settings);
  }

  function prepareCall(
    req: Request,
    res: Response,
    next: NextFunction,
    route: Route,
    body: unknown,
  ): Call {
    if (!isObject(body)) {
      throw new LoadBalancerError('ERR_BODY_INVALID', 'The request body must be a JSON object', {
        param: 'body',
      });
    }
    const params = route.source === 'body' ? paramsOf(body) : body;
    const tree = configOf(req, route.source, body);
    refuseUnsupportedTargets(tree, route.operation);
    const prepared = new Map<TargetNode, PreparedRequest>();
    return {
      req,
      res,
      tree,
      traceId: headerValue(req, traceHeader) ?? randomUUID(),
      deadlineAt: settings.clock.now() + settings.deadline,
      prepare(target) {
        let request = prepared.get(target);
        if (request === undefined) {
          request = prepareRequest(req, route.operation, params, target);
          prepared.set(target, request);
        }
        return request;
      },
      proxy: (proxyReq, proxyRes) => proxy(proxyReq, proxyRes, next),
      health:
        settings.health === undefined
          ? undefined
          : new HealthGate(settings.health, settings.clock.now),
      retries: 0,
      current: undefined,
      clientGone: false,
    };
  }

  /** A target's upstream request: merged params, translated, serialised once. */
  function prepareRequest(
    req: Request,
    operation: Operation,
    params: Params,
    target: TargetNode,
  ): PreparedRequest {
    const adapter = settings.providers[target.provider];
    const merged =
      target.overrideParams === undefined ? params : { ...params, ...target.overrideParams };
    const bytes = Buffer.from(JSON.stringify(adapter.requestBody(operation, merged)));
    const base = adapter.base(target);
    return {
      target,
      adapter,
      operation,
      streamShape: { operation, includeUsage: includesUsage(merged) },
      proxyTarget: proxyTargetOf(base),
      agent: base.origin.startsWith('https:') ? settings.httpsAgent : settings.httpAgent,
      upstreamPath: base.pathPrefix + adapter.endpoint(operation, target),
      upstreamHeaders: upstreamHeaders(
        req.headers,
        settings.forwardedHeaders,
        adapter.headers(target),
        bytes.length,
      ),
      body: new PreparedBody(bytes),
    };
  }

  function configOf(req: Request, source: ConfigSource, body: Record<string, unknown>): ConfigTree {
    if (source === 'body') {
      if (body.config === undefined) return defaultConfig();
      return validated(body.config, 'config');
    }
    const header = headerValue(req, configHeader);
    if (header === undefined) return defaultConfig();
    const cached = headerConfigs.get(header);
    if (cached !== undefined) return cached;
    const tree = validated(parseConfigHeader(header), 'config');
    headerConfigs.set(header, tree);
    return tree;
  }

  /** Any target that cannot serve the operation fails the request whichever target is picked. */
  function refuseUnsupportedTargets(tree: ConfigTree, operation: Operation): void {
    for (const target of tree.targets) {
      if (settings.providers[target.provider].operations.has(operation)) continue;
      const param = tree.format === 'v1' ? `config.options[${target.label}]` : target.label;
      throw new LoadBalancerError(
        'ERR_OPERATION_UNSUPPORTED',
        `${param} routes to provider ${target.provider}, which has no ${operationNames[operation]} API`,
        { param },
      );
    }
  }

  function defaultConfig(): ConfigTree {
    if (settings.defaultConfig !== undefined) return settings.defaultConfig;
    throw new LoadBalancerError(
      'ERR_CONFIG_MISSING',
      'No config: send one in the body (`config`) or the x-portkey-config header, or set options.config on the server',
      { param: 'config' },
    );
  }

  function proxyTargetOf(base: UpstreamBase): ProxyTarget {
    let target = proxyTargets.get(base.origin);
    if (target === undefined) {
      target = toProxyTarget(base.origin);
      if (proxyTargets.size >= 1000) proxyTargets.clear();
      proxyTargets.set(base.origin, target);
    }
    return target;
  }

  return function portkeyLoadBalancerMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    const route = req.method === 'POST' ? routes.get(pathOf(req.url)) : undefined;
    if (route === undefined) {
      next();
      return;
    }
    readJsonBody(req, res, parseJsonBody, settings, (body) => handle(req, res, next, route, body));
  };
}

function validated(config: unknown, root: string): ConfigTree {
  const check = checkConfig(config, root);
  if (check.valid) return check.tree;
  const [first] = check.problems;
  const message = check.problems.map((problem) => problem.message).join('; ');
  throw new LoadBalancerError('ERR_CONFIG_INVALID', `Invalid config: ${message}`, {
    param: first?.param ?? root,
  });
}

function parseConfigHeader(header: string): unknown {
  try {
    return JSON.parse(header);
  } catch {
    throw new LoadBalancerError(
      'ERR_CONFIG_INVALID_JSON',
      'The x-portkey-config header must be a JSON config object',
      { param: configHeader },
    );
  }
}

function paramsOf(body: Record<string, unknown>): Params {
  if (!isObject(body.params)) {
    throw new LoadBalancerError(
      'ERR_BODY_INVALID',
      'params must be an object of request parameters',
      {
        param: 'params',
      },
    );
  }
  return body.params;
}

function includesUsage(params: Params): boolean {
  const options = params.stream_options;
  return isObject(options) && options.include_usage === true;
}

function toProxyTarget(origin: string): ProxyTarget {
  const url = new URL(origin);
  return {
    protocol: url.protocol,
    // http.request wants an IPv6 literal without its brackets.
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    host: url.host,
    port: url.port,
    path: '',
  };
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type JsonParser = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * The JSON body, whether or not the host app already parsed it: an object from its own
 * `express.json()`, text or a Buffer from `express.text()`/`express.raw()`, or the raw stream.
 */
function readJsonBody(
  req: Request,
  res: Response,
  parse: JsonParser,
  settings: Settings,
  then: (body: unknown) => void,
): void {
  const parsed: unknown = req.body;
  if (
    parsed !== undefined &&
    !(isObject(parsed) && Object.keys(parsed).length === 0 && req.readable)
  ) {
    if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
      try {
        then(JSON.parse(parsed.toString()));
      } catch {
        sendError(res, invalidJson());
      }
      return;
    }
    then(parsed);
    return;
  }
  parse(req, res, (error) => {
    if (error === undefined) {
      then(req.body);
      return;
    }
    sendError(res, bodyError(error, settings));
  });
}

function bodyError(error: unknown, settings: Settings): LoadBalancerError {
  const type = (error as { type?: string }).type;
  switch (type) {
    case 'entity.too.large':
      return new LoadBalancerError(
        'ERR_BODY_TOO_LARGE',
        `The request body is larger than the limit of ${String(settings.bodyLimit)}`,
        { param: 'body' },
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new LoadBalancerError(
        'ERR_BODY_UNSUPPORTED_ENCODING',
        'The request body encoding is not supported',
        {
          param: 'body',
        },
      );
    default:
      return invalidJson();
  }
}

function invalidJson(): LoadBalancerError {
  return new LoadBalancerError('ERR_BODY_INVALID_JSON', 'The request body is not valid JSON', {
    param: 'body',
  });
}
