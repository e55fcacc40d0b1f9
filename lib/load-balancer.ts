import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ResolvedConfig } from './config/config-resolver.js';
import { readJsonBody } from './edge/request-body.js';
import { requestParams } from './edge/request-params.js';
import { type Route, routeOf } from './edge/routes.js';
import { CallEvents } from './proxy/call-events.js';
import { CallRunner, refuse } from './proxy/call-runner.js';
import type { CallInput } from './proxy/prepare-request.js';
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
  function handle(req: Request, res: Response, route: Route, body: unknown, bytes?: Buffer): void {
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
      const params = requestParams(body, route.source);
      const run = (config: ResolvedConfig) => {
        const input: CallInput = {
          operation: route.operation,
          params,
          clientHeaders: req.headers,
          rawParams: route.source === 'header' ? bytes : undefined,
          trusted: config.trusted,
        };
        runner.run(req, res, input, config, events);
      };
      const resolved = settings.configs.resolve(req, route.source, body as Record<string, unknown>);
      if (isPromise(resolved)) {
        resolved.then(run, (error: unknown) => refuse(res, events, error));
      } else {
        run(resolved);
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
    readJsonBody(req, res, settings.bodyLimit, (body, bytes) =>
      handle(req, res, route, body, bytes),
    );
  };
}

function traceIdOf(req: Request): string | undefined {
  const value = req.headers[traceHeader];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
