import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedConfig } from '../config/config-resolver.js';
import { LoadBalancerError } from '../errors.js';
import { HealthGate } from '../health/health-gate.js';
import { type Metadata, requestMetadata } from '../routing/metadata.js';
import { type RoutingFacts, RoutingGate } from '../routing/router.js';
import type { Settings } from '../settings.js';
import { isPromise } from '../shared/values.js';
import { Call, runCall } from './call.js';
import type { CallEvents } from './call-events.js';
import { explainCall } from './explain.js';
import { type CallInput, RequestPreparer } from './prepare-request.js';
import { asLoadBalancerError, sendError } from './send-error.js';
import { createUpstreamProxy } from './upstream-proxy.js';

const traceHeader = 'x-portkey-trace-id';
const dryRunHeader = 'x-portkey-dry-run';

/**
 * Runs validated requests: prepares each target's upstream request, sends attempts through the
 * one http-proxy-middleware instance, and answers (or explains, for a dry run). One per
 * middleware.
 */
export class CallRunner {
  readonly #preparer: RequestPreparer;
  readonly #proxy = createUpstreamProxy();

  constructor(private readonly settings: Settings) {
    this.#preparer = new RequestPreparer(settings);
  }

  /** Starts the call of a request whose config is resolved. Never throws: refusals are answered. */
  run(
    req: IncomingMessage,
    res: ServerResponse,
    input: CallInput,
    config: ResolvedConfig,
    events: CallEvents,
  ): void {
    const { settings } = this;
    try {
      this.#preparer.refuseUnsupportedTargets(config.tree, input.operation);
      const dryRun = req.headers[dryRunHeader] === 'true';
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
          (known) => this.#start(req, res, input, config, events, known, dryRun),
          (error: unknown) => refuse(res, events, error),
        );
      } else {
        this.#start(req, res, input, config, events, metadata, dryRun);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }

  #start(
    req: IncomingMessage,
    res: ServerResponse,
    input: CallInput,
    config: ResolvedConfig,
    events: CallEvents,
    metadata: Metadata | undefined,
    dryRun: boolean,
  ): void {
    const { settings } = this;
    try {
      events.metadata = metadata;
      const facts: RoutingFacts = {
        metadata,
        params: input.params,
        headers: input.clientHeaders,
        url: { pathname: pathOf(req.url ?? '/') },
      };
      const routing = settings.routing.needsGate(config.tree)
        ? new RoutingGate(settings.routing, config.tree, facts, {
            dryRun,
            onBudgetSkip: (skip) => events.budgetSkipped(skip),
          })
        : undefined;
      if (routing?.countsTokens === true) events.countUsage = true;
      const call = new Call({
        req,
        res,
        tree: config.tree,
        input,
        events,
        deadlineAt: settings.clock.now() + settings.deadline,
        preparer: this.#preparer,
        proxy: this.#proxy,
        health:
          settings.health === undefined
            ? undefined
            : new HealthGate(settings.health, (change) => events.breaker(change)),
        preflight: settings.configs.hostChecks(config),
        facts,
        routing,
      });
      if (dryRun) {
        explainCall(call, settings).catch((error: unknown) => refuse(res, events, error));
      } else {
        void runCall(call, settings);
      }
    } catch (error) {
      refuse(res, events, error);
    }
  }
}

/** The path the middleware serves (`/v1/chat/completions`), without query or trailing slash. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Answers a request refused before any attempt, and reports it. */
export function refuse(res: ServerResponse, events: CallEvents, error: unknown): void {
  const failure = asLoadBalancerError(error);
  events.error(failure);
  sendError(res, failure, { [traceHeader]: events.requestId });
}
