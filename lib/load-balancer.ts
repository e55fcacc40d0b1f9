import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ConfigSource, ResolvedConfig } from './config/config-resolver.js';
import { type ConfigTree, type TargetNode, targetPath } from './config/config-tree.js';
import { configLimits } from './config/limits.js';
import { readJsonBody } from './edge/request-body.js';
import { LoadBalancerError } from './errors.js';
import { HealthGate } from './health/health-gate.js';
import type { UpstreamBase } from './providers/provider.js';
import { upstreamBaseOf } from './providers/registry.js';
import { PreparedBody, type PreparedRequest, type ProxyTarget } from './proxy/attempt.js';
import { type Call, runCall } from './proxy/call.js';
import { CallEvents } from './proxy/call-events.js';
import { explainCall } from './proxy/explain.js';
import { upstreamHeaders } from './proxy/request-headers.js';
import { asLoadBalancerError, sendError } from './proxy/send-error.js';
import { createUpstreamProxy } from './proxy/upstream-proxy.js';
import { type Metadata, requestMetadata } from './routing/metadata.js';
import { RoutingGate } from './routing/router.js';
import { SecretForms } from './security/secret-scrubber.js';
import { resolveSettings } from './settings.js';
import { BoundedCache } from './shared/bounded-cache.js';
import { tooDeepPath } from './shared/nesting-depth.js';
import { isRecord as isObject, isPromise } from './shared/values.js';
import type { LoadBalancerOptions, Operation, Params } from './types.js';

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

const traceHeader = 'x-portkey-trace-id';
const dryRunHeader = 'x-portkey-dry-run';

/**
 * Creates the Express middleware. Mount it under any prefix; it answers `POST` on its routes
 * and calls `next()` for everything else.
 *
 * @example
 * app.use('/internal/llm', requireAuth, portkeyLoadBalancer({ config }));
 */
export function portkeyLoadBalancer(options: LoadBalancerOptions = {}): RequestHandler {
  const settings = resolveSettings(options);
  const proxy = createUpstreamProxy();
  const proxyTargets = new BoundedCache<string, ProxyTarget>(1000);

  function handle(req: Request, res: Response, route: Route, body: unknown): void {
    const events = new CallEvents(settings.events, headerValue(req, traceHeader) ?? randomUUID());
    if (settings.events.has('request')) {
      const params = isObject(body) && isObject(body.params) ? body.params : body;
      events.sink.emit('request', {
        requestId: events.requestId,
        operation: route.operation,
        stream: isObject(params) && params.stream === true,
      });
    }
    try {
      if (!isObject(body)) {
        const empty = body === undefined ? ': it is empty' : '';
        throw new LoadBalancerError(
          'ERR_BODY_INVALID',
          `The request body must be a JSON object${empty}`,
          { param: 'body' },
        );
      }
      refuseDeepBody(body, route.source);
      const params = route.source === 'body' ? paramsOf(body) : checkedParams(body, 'body');
      const resolved = settings.configs.resolve(req, route.source, body);
      if (isPromise(resolved)) {
        resolved.then(
          (config) => start(req, res, route, params, config, events),
          (error: unknown) => refuse(res, events, error),
        );
      } else {
        start(req, res, route, params, resolved, events);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }

  function start(
    req: Request,
    res: Response,
    route: Route,
    params: Params,
    config: ResolvedConfig,
    events: CallEvents,
  ): void {
    try {
      refuseUnsupportedTargets(config.tree, route.operation);
      const dryRun = headerValue(req, dryRunHeader) === 'true';
      if (dryRun && !settings.allowDryRun) {
        throw new LoadBalancerError(
          'ERR_DRY_RUN_FORBIDDEN',
          'Dry runs are not enabled on this server (allowDryRun)',
          { param: dryRunHeader },
        );
      }
      // Request metadata (x-portkey-metadata, getMetadata): checked before anything is sent.
      const metadata = requestMetadata(req, settings.metadata);
      if (isPromise(metadata)) {
        metadata.then(
          (known) => launch(req, res, route, params, config, events, known, dryRun),
          (error: unknown) => refuse(res, events, error),
        );
      } else {
        launch(req, res, route, params, config, events, metadata, dryRun);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }

  function launch(
    req: Request,
    res: Response,
    route: Route,
    params: Params,
    config: ResolvedConfig,
    events: CallEvents,
    metadata: Metadata | undefined,
    dryRun: boolean,
  ): void {
    try {
      events.metadata = metadata;
      const call = prepareCall(req, res, route, params, config, events, metadata, dryRun);
      if (dryRun) {
        explainCall(call, settings).catch((error: unknown) => refuse(res, events, error));
      } else {
        void runCall(call, settings);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }

  function refuse(res: Response, events: CallEvents, error: unknown): void {
    const failure = asLoadBalancerError(error);
    events.error(failure);
    sendError(res, failure, { [traceHeader]: events.requestId });
  }

  function prepareCall(
    req: Request,
    res: Response,
    route: Route,
    params: Params,
    config: ResolvedConfig,
    events: CallEvents,
    metadata: Metadata | undefined,
    dryRun: boolean,
  ): Call {
    const prepared = new Map<TargetNode, PreparedRequest>();
    const facts = { metadata, params, headers: req.headers, url: { pathname: pathOf(req.url) } };
    const routing = settings.routing.needsGate(config.tree)
      ? new RoutingGate(settings.routing, config.tree, facts, {
          dryRun,
          onBudgetSkip: (skip) => events.budgetSkipped(skip),
        })
      : undefined;
    if (routing?.countsTokens === true) events.countUsage = true;
    return {
      req,
      res,
      tree: config.tree,
      traceId: events.requestId,
      events,
      deadlineAt: settings.clock.now() + settings.deadline,
      preflight: settings.configs.hostChecks(config),
      prepare(target) {
        let request = prepared.get(target);
        if (request === undefined) {
          request = prepareRequest(req, route.operation, params, target, config.trusted);
          prepared.set(target, request);
        }
        return request;
      },
      proxy,
      health:
        settings.health === undefined
          ? undefined
          : new HealthGate(settings.health, (change) => events.breaker(change)),
      facts,
      routing,
      retries: 0,
      current: undefined,
      clientGone: false,
      listenerBaseline: undefined,
    };
  }

  /** A target's upstream request: merged params, translated, serialised once. */
  function prepareRequest(
    req: Request,
    operation: Operation,
    params: Params,
    target: TargetNode,
    trusted: boolean,
  ): PreparedRequest {
    const adapter = settings.providers[target.provider];
    const merged =
      target.overrideParams === undefined ? params : { ...params, ...target.overrideParams };
    const bytes = Buffer.from(JSON.stringify(adapter.requestBody(operation, merged)));
    const base = upstreamBaseOf(settings.providers, target);
    return {
      target,
      adapter,
      operation,
      shape: {
        operation,
        includeUsage: includesUsage(merged),
        model: stringOrUndefined(merged.model),
        encodingFormat: stringOrUndefined(merged.encoding_format),
      },
      proxyTarget: proxyTargetOf(base),
      agent: agentFor(base, target, trusted),
      upstreamPath: base.pathPrefix + adapter.endpoint(operation, target, merged),
      upstreamHeaders: upstreamHeaders(
        req.headers,
        settings.forwardedHeaders,
        target.forwardHeaders,
        adapter.headers(target),
        bytes.length,
      ),
      body: new PreparedBody(bytes),
      secrets: secretFormsOf(target),
    };
  }

  /**
   * Request-chosen hosts go through agents that check every address they connect to, except an
   * exact `allowedHosts` origin: the server named it, internal or not.
   */
  function agentFor(base: UpstreamBase, target: TargetNode, trusted: boolean) {
    const https = base.origin.startsWith('https:');
    const guarded =
      !trusted && target.customHost !== undefined ? settings.guardedAgents : undefined;
    if (guarded !== undefined) {
      const agents = settings.hosts.isExactOrigin(base.origin) ? guarded.exact : guarded.checked;
      return https ? agents.https : agents.http;
    }
    return https ? settings.httpsAgent : settings.httpAgent;
  }

  /** Any target that cannot serve the operation fails the request whichever target is picked. */
  function refuseUnsupportedTargets(tree: ConfigTree, operation: Operation): void {
    for (const target of tree.targets) {
      if (settings.providers[target.provider].operations.has(operation)) continue;
      const param = targetPath(tree, target);
      throw new LoadBalancerError(
        'ERR_OPERATION_UNSUPPORTED',
        `${param} routes to provider ${target.provider}, which has no ${operationNames[operation]} API`,
        { param },
      );
    }
  }

  function proxyTargetOf(base: UpstreamBase): ProxyTarget {
    let target = proxyTargets.get(base.origin);
    if (target === undefined) {
      target = toProxyTarget(base.origin);
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
    readJsonBody(req, res, settings.bodyLimit, (body) => handle(req, res, route, body));
  };
}

const secretForms = new WeakMap<TargetNode, SecretForms | undefined>();

/** A target's secrets as answers are masked for them; computed once per target. */
function secretFormsOf(target: TargetNode): SecretForms | undefined {
  if (secretForms.has(target)) return secretForms.get(target);
  const forms = SecretForms.of([target.apiKey]);
  secretForms.set(target, forms);
  return forms;
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
  return checkedParams(body.params, 'params');
}

/**
 * Refuses a body nested deeper than `configLimits.maxNesting` (counted from the body), before
 * anything copies, validates or serialises it: those recurse and would overflow the stack.
 */
function refuseDeepBody(body: Record<string, unknown>, source: ConfigSource): void {
  const path = tooDeepPath(body, configLimits.maxNesting, source === 'body' ? '' : 'body');
  if (path === undefined) return;
  const code = path.startsWith('config')
    ? 'ERR_CONFIG_INVALID'
    : path.startsWith('params') || source === 'header'
      ? 'ERR_PARAMS_INVALID'
      : 'ERR_BODY_INVALID';
  throw new LoadBalancerError(
    code,
    `${path} nests deeper than the ${configLimits.maxNesting} levels of arrays and objects allowed`,
    { param: path },
  );
}

/** Bounds what params may hold, whichever route they came by. */
function checkedParams(params: Params, path: string): Params {
  const messages = params.messages;
  if (!Array.isArray(messages)) return params;
  if (messages.length > configLimits.maxMessages) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      `${path}.messages has ${messages.length} messages; at most ${configLimits.maxMessages} are accepted`,
      { param: `${path}.messages` },
    );
  }
  for (let index = 0; index < messages.length; index++) {
    const content: unknown = isObject(messages[index]) ? messages[index].content : undefined;
    if (Array.isArray(content) && content.length > configLimits.maxContentParts) {
      const param = `${path}.messages[${index}].content`;
      throw new LoadBalancerError(
        'ERR_PARAMS_INVALID',
        `${param} has ${content.length} parts; at most ${configLimits.maxContentParts} are accepted`,
        { param },
      );
    }
  }
  return params;
}

function includesUsage(params: Params): boolean {
  const options = params.stream_options;
  return isObject(options) && options.include_usage === true;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
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
