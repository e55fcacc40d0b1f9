import type { IncomingHttpHeaders } from 'node:http';
import { type ConfigTree, type TargetNode, targetPath } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import { secretValues } from '../providers/credentials.js';
import type { ProviderAdapter, UpstreamBase } from '../providers/provider.js';
import { adapterOf, upstreamBaseOf } from '../providers/registry.js';
import { SecretForms } from '../security/secret-scrubber.js';
import type { Settings } from '../settings.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import { isRecord } from '../shared/values.js';
import type { Operation, Params } from '../types.js';
import { PreparedBody, type PreparedRequest, type ProxyTarget } from './attempt.js';
import { upstreamHeaders } from './request-headers.js';

/** What a call's targets are prepared from: the client's request as validated. */
export interface CallInput {
  readonly operation: Operation;
  readonly params: Params;
  readonly clientHeaders: IncomingHttpHeaders;
  /**
   * The params exactly as the client sent them, when they are the whole body (the
   * OpenAI-compatible routes): forwarded untouched to a target that needs no rewrite.
   */
  readonly rawParams: Buffer | undefined;
  /** Whether the config came from the server (its hosts need no address checks). */
  readonly trusted: boolean;
}

const operationNames: Record<Operation, string> = {
  chat: 'chat completions',
  complete: 'text completions',
  embed: 'embeddings',
};

/**
 * The rewrite stage: turns a plan step (a target) into the upstream request it sends, built
 * once per target of a call and reused by its retries: merged params, translated and serialised
 * once, headers, path, agent and the secrets to mask in its answer.
 */
export class RequestPreparer {
  readonly #proxyTargets = new BoundedCache<string, ProxyTarget>(1000);
  readonly #secretForms = new WeakMap<TargetNode, SecretForms | undefined>();

  constructor(private readonly settings: Settings) {}

  prepare(input: CallInput, target: TargetNode): PreparedRequest {
    const { operation, params } = input;
    const adapter = adapterOf(this.settings.providers, target.provider);
    const merged =
      target.overrideParams === undefined ? params : { ...params, ...target.overrideParams };
    const bytes =
      input.rawParams !== undefined &&
      adapter.forwardsRequestBody === true &&
      target.overrideParams === undefined
        ? input.rawParams
        : Buffer.from(JSON.stringify(adapter.requestBody(operation, merged)));
    const base = upstreamBaseOf(this.settings.providers, target);
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
      proxyTarget: this.#proxyTargetOf(base),
      agent: this.#agentFor(base, target, input.trusted),
      upstreamPath: base.pathPrefix + adapter.endpoint(operation, target, merged),
      upstreamHeaders: upstreamHeaders(
        input.clientHeaders,
        this.settings.forwardedHeaders,
        target.forwardHeaders,
        adapter.headers(target),
        bytes.length,
      ),
      body: new PreparedBody(bytes),
      secrets: this.#secretFormsOf(target, adapter),
    };
  }

  /** Any target that cannot serve the operation fails the request whichever target is picked. */
  refuseUnsupportedTargets(tree: ConfigTree, operation: Operation): void {
    for (const target of tree.targets) {
      if (adapterOf(this.settings.providers, target.provider).operations.has(operation)) continue;
      const param = targetPath(tree, target);
      throw new LoadBalancerError(
        'ERR_OPERATION_UNSUPPORTED',
        `${param} routes to provider ${target.provider}, which has no ${operationNames[operation]} API`,
        { param },
      );
    }
  }

  /**
   * Request-chosen hosts go through agents that check every address they connect to, except an
   * exact `allowedHosts` origin: the server named it, internal or not.
   */
  #agentFor(base: UpstreamBase, target: TargetNode, trusted: boolean) {
    const { settings } = this;
    const https = base.origin.startsWith('https:');
    const guarded =
      !trusted && target.customHost !== undefined ? settings.guardedAgents : undefined;
    if (guarded !== undefined) {
      const agents = settings.hosts.isExactOrigin(base.origin) ? guarded.exact : guarded.checked;
      return https ? agents.https : agents.http;
    }
    return https ? settings.httpsAgent : settings.httpAgent;
  }

  #proxyTargetOf(base: UpstreamBase): ProxyTarget {
    let target = this.#proxyTargets.get(base.origin);
    if (target === undefined) {
      target = toProxyTarget(base.origin);
      this.#proxyTargets.set(base.origin, target);
    }
    return target;
  }

  /** A target's secrets as answers are masked for them; computed once per target. */
  #secretFormsOf(target: TargetNode, adapter: ProviderAdapter): SecretForms | undefined {
    if (this.#secretForms.has(target)) return this.#secretForms.get(target);
    const forms = SecretForms.of(secretValues(adapter.credentials, target.credentials));
    this.#secretForms.set(target, forms);
    return forms;
  }
}

function includesUsage(params: Params): boolean {
  const options = params.stream_options;
  return isRecord(options) && options.include_usage === true;
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
