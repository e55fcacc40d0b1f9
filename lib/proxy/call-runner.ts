import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedConfig } from '../config/config-resolver.js';
import type { ConfigTree, TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import { HealthGate } from '../health/health-gate.js';
import { adapterOf } from '../providers/registry.js';
import { type Metadata, requestMetadata } from '../routing/metadata.js';
import { type RoutingFacts, RoutingGate } from '../routing/router.js';
import type { Settings } from '../settings.js';
import { isPromise } from '../shared/values.js';
import type { Params } from '../types.js';
import { Call, runCall } from './call.js';
import type { CallEvents } from './call-events.js';
import { explainCall } from './explain.js';
import { type CallInput, RequestPreparer } from './prepare-request.js';
import { asLoadBalancerError, sendError } from './send-error.js';
import { narrowedTo, ServingTargets, type ServingTree } from './serving-targets.js';
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
    request: CallInput,
    config: ResolvedConfig,
    events: CallEvents,
  ): void {
    try {
      const serving = this.#serving.of(config.tree, request.need);
      const input = translatedOnce(request, serving.tree, this.settings);
      const continued = input.inbound?.continues?.(input.params);
      if (continued === undefined) {
        this.#begin(req, res, input, config, serving, events);
        return;
      }
      // A stored response continues where it was made, when this config can reach that target.
      this.settings.affinity.targetsOf(continued, serving.tree.targets).then((producers) => {
        this.#begin(req, res, input, config, continuing(serving, producers), events);
      }, ignore);
    } catch (error) {
      refuse(res, events, error);
    }
  }

  /** Checks the dry run header and reads the request's metadata, then starts the call. */
  #begin(
    req: IncomingMessage,
    res: ServerResponse,
    input: CallInput,
    config: ResolvedConfig,
    serving: ServingTree,
    events: CallEvents,
  ): void {
    const { settings } = this;
    try {
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
          (known) => this.#start(req, res, input, config, serving, events, known, dryRun),
          (error: unknown) => refuse(res, events, error),
        );
      } else {
        this.#start(req, res, input, config, serving, events, metadata, dryRun);
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
    serving: ServingTree,
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
      const routing = settings.routing.needsGate(serving.tree)
        ? new RoutingGate(settings.routing, serving.tree, facts, {
            dryRun,
            onBudgetSkip: (skip) => events.budgetSkipped(skip),
          })
        : undefined;
      if (routing?.countsTokens === true) events.countUsage = true;
      const call = new Call({
        req,
        res,
        tree: serving.tree,
        leftOut: serving.leftOut,
        input,
        events,
        deadlineAt: settings.clock.now() + settings.deadline,
        preparer: this.#preparer,
        trusted: config.trusted,
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

/**
 * An inbound request (Anthropic Messages, Responses) that some target would get translated is
 * translated now, once per provider, so that what it cannot say is a 400 before any provider is
 * contacted, whichever target is picked and whatever the others answer. The call's targets are
 * then prepared from these translations.
 */
function translatedOnce(input: CallInput, tree: ConfigTree, settings: Settings): CallInput {
  const inbound = input.inbound;
  const translation = inbound?.translation;
  if (inbound === undefined || translation === undefined) return input;
  const translated = new Map<string, Params>();
  for (const target of tree.targets) {
    if (translated.has(target.provider)) continue;
    const adapter = adapterOf(settings.providers, target.provider);
    if (adapter.native?.[inbound.native] !== undefined) continue;
    translated.set(target.provider, translation.toChat(input.params, adapter));
  }
  return translated.size === 0 ? input : { ...input, translated };
}

/**
 * The serving tree for a continued response: narrowed to the targets of the account that stored
 * it, the config's rules choosing among them as usual. When narrowing would take from a
 * conditional strategy a child its rules may pick, the rules win: the tree is left whole (the
 * provider then says whether it knows the response), never a target the rules would not pick.
 */
function continuing(serving: ServingTree, producers: ReadonlySet<TargetNode>): ServingTree {
  if (producers.size === 0) return serving;
  return narrowedTo(serving, producers) ?? serving;
}

function ignore(): void {
  // targetsOf never rejects.
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
