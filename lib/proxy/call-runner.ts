import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedConfig } from '../config/config-resolver.js';
import { LoadBalancerError } from '../errors.js';
import { HealthGate } from '../health/health-gate.js';
import type { Settings } from '../settings.js';
import { Call, runCall } from './call.js';
import type { CallEvents } from './call-events.js';
import { explainCall } from './explain.js';
import { type CallInput, RequestPreparer } from './prepare-request.js';
import { asLoadBalancerError, sendError } from './send-error.js';
import { ServingTargets } from './serving-targets.js';
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
  readonly #serving: ServingTargets;

  constructor(private readonly settings: Settings) {
    this.#preparer = new RequestPreparer(settings);
    this.#serving = new ServingTargets(settings.providers);
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
      const serving = this.#serving.of(config.tree, input.need);
      const dryRun = req.headers[dryRunHeader] === 'true';
      if (dryRun && !settings.allowDryRun) {
        throw new LoadBalancerError(
          'ERR_DRY_RUN_FORBIDDEN',
          'Dry runs are not enabled on this server (allowDryRun)',
          { param: dryRunHeader },
        );
      }
      const call = new Call({
        req,
        res,
        tree: serving.tree,
        leftOut: serving.leftOut,
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

/** Answers a request refused before any attempt, and reports it. */
export function refuse(res: ServerResponse, events: CallEvents, error: unknown): void {
  const failure = asLoadBalancerError(error);
  events.error(failure);
  sendError(res, failure, { [traceHeader]: events.requestId });
}
