import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ResolvedConfig } from './config/config-resolver.js';
import { refuseUnsupportedPortkeyHeaders } from './edge/portkey-headers.js';
import { readJsonBody } from './edge/request-body.js';
import { requestParams } from './edge/request-params.js';
import { type CallRoute, routeOf } from './edge/routes.js';
import { CallEvents } from './proxy/call-events.js';
import { CallRunner, refuse } from './proxy/call-runner.js';
import { anthropicModelList, openAIModelList } from './proxy/model-list.js';
import type { CallInput } from './proxy/prepare-request.js';
import { sendJson, setErrorShape } from './proxy/send-error.js';
import { resolveSettings } from './settings.js';
import { isPromise, isRecord } from './shared/values.js';
import type { LoadBalancerOptions } from './types.js';

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
  const runner = new CallRunner(settings);

  /** Validates the body, resolves the config (perhaps asynchronously) and runs the call. */
  function handle(
    req: Request,
    res: Response,
    route: CallRoute,
    body: unknown,
    bytes?: Buffer,
  ): void {
    const events = new CallEvents(settings.events, traceIdOf(req) ?? randomUUID());
    if (settings.events.has('request')) {
      const params = isRecord(body) && isRecord(body.params) ? body.params : body;
      events.sink.emit('request', {
        requestId: events.requestId,
        operation: route.operation,
        stream: isRecord(params) && params.stream === true,
      });
    }
    try {
      refuseUnsupportedPortkeyHeaders(req.headers);
      const params = requestParams(body, route.source);
      const need = route.inbound === undefined ? route.need : route.inbound.needOf(params);
      const input: CallInput = {
        operation: route.operation,
        need,
        inbound: route.inbound,
        params,
        clientHeaders: req.headers,
        rawParams: route.source === 'header' ? bytes : undefined,
      };
      const resolved = settings.configs.resolve(req, route.source, body as Record<string, unknown>);
      if (isPromise(resolved)) {
        resolved.then(
          (config) => runner.run(req, res, input, config, events),
          (error: unknown) => refuse(res, events, error),
        );
      } else {
        runner.run(req, res, input, resolved, events);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }

  /** `GET /v1/models`: the models of the request's config, in the client's list shape. */
  function listModels(req: Request, res: Response): void {
    const events = new CallEvents(settings.events, traceIdOf(req) ?? randomUUID());
    const answer = (config: ResolvedConfig) => {
      const list =
        req.headers['anthropic-version'] === undefined
          ? openAIModelList(config.tree)
          : anthropicModelList(config.tree);
      sendJson(res, 200, list, { [traceHeader]: events.requestId });
    };
    try {
      refuseUnsupportedPortkeyHeaders(req.headers);
      const resolved = settings.configs.resolve(req, 'header', {});
      if (isPromise(resolved)) {
        resolved.then(answer, (error: unknown) => refuse(res, events, error));
      } else {
        answer(resolved);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }

  return function portkeyLoadBalancerMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    const route = routeOf(req.method, req.url);
    if (route === undefined) {
      next();
      return;
    }
    if (route.kind === 'models') {
      listModels(req, res);
      return;
    }
    const shape = route.inbound?.errorShape;
    if (shape !== undefined) setErrorShape(res, shape);
    readJsonBody(req, res, settings.bodyLimit, (body, bytes) =>
      handle(req, res, route, body, bytes),
    );
  };
}

function traceIdOf(req: Request): string | undefined {
  const value = req.headers[traceHeader];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
