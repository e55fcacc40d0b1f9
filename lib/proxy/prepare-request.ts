import type { IncomingHttpHeaders } from 'node:http';
import type { TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import type { InboundAnswer, InboundApi } from '../inbound/inbound-api.js';
import { secretValues } from '../providers/credentials.js';
import type { NativeOperation, ProviderAdapter, UpstreamBase } from '../providers/provider.js';
import { adapterOf, upstreamBaseOf } from '../providers/registry.js';
import { SecretForms } from '../security/secret-scrubber.js';
import type { Settings } from '../settings.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import { isRecord } from '../shared/values.js';
import type { Operation, Params } from '../types.js';
import { PreparedBody, type PreparedRequest, type ProxyTarget } from './attempt.js';
import { upstreamHeaders } from './request-headers.js';
import type { Need } from './serving-targets.js';

/** What a call's targets are prepared from: the client's request as validated. */
export interface CallInput {
  readonly operation: Operation;
  /** What a target's provider must offer to be chosen (the operation, or an inbound API). */
  readonly need: Need;
  /** The client API of an inbound route; its params are in that API's shape. */
  readonly inbound: InboundApi | undefined;
  readonly params: Params;
  readonly clientHeaders: IncomingHttpHeaders;
  /**
   * The params exactly as the client sent them, when they are the whole body (the
   * OpenAI-compatible routes): forwarded untouched to a target that needs no rewrite.
   */
  readonly rawParams: Buffer | undefined;
  /** An inbound request's chat params by provider, translated once when the call began. */
  readonly translated?: ReadonlyMap<string, Params>;
}

/**
 * The rewrite stage: turns a plan step (a target) into the upstream request it sends, built
 * once per target of a call and reused by its retries: merged params, translated and serialised
 * once, headers, path, agent and the secrets to mask in its answer.
 */
export class RequestPreparer {
  readonly #proxyTargets = new BoundedCache<string, ProxyTarget>(1000);
  readonly #secretForms = new WeakMap<TargetNode, SecretForms | undefined>();

  constructor(private readonly settings: Settings) {}

  /** `trusted`: the config came from the server (its hosts need no address checks). */
  prepare(input: CallInput, target: TargetNode, trusted: boolean): PreparedRequest {
    const { operation } = input;
    const adapter = adapterOf(this.settings.providers, target.provider);
    const native = input.inbound === undefined ? undefined : adapter.native?.[input.inbound.native];
    const { params, inbound } = this.#requestParams(input, adapter, native);
    const merged =
      target.overrideParams === undefined ? params : { ...params, ...target.overrideParams };
    const base = upstreamBaseOf(this.settings.providers, target);
    const bytes = requestBytes(input, target, adapter, native, inbound, merged);
    const headers =
      native?.clientHeaders === undefined
        ? adapter.headers(target)
        : withClientHeaders(adapter.headers(target), input.clientHeaders, native.clientHeaders);
    return {
      target,
      adapter,
      operation,
      native,
      inbound,
      // Only a response the provider stores can be continued; others are not worth a key.
      onAnswerId:
        native === undefined ||
        input.inbound?.continues === undefined ||
        input.params.store === false
          ? undefined
          : (id) => this.settings.affinity.remember(id, target),
      shape: {
        operation,
        includeUsage: includesUsage(merged),
        model: stringOrUndefined(merged.model),
        encodingFormat: stringOrUndefined(merged.encoding_format),
      },
      proxyTarget: this.#proxyTargetOf(base),
      agent: this.#agentFor(base, target, trusted),
      upstreamPath:
        base.pathPrefix +
        (native === undefined
          ? adapter.endpoint(operation, target, merged)
          : native.endpoint(target, merged)),
      upstreamHeaders: upstreamHeaders(
        input.clientHeaders,
        this.settings.forwardedHeaders,
        target.forwardHeaders,
        headers,
        bytes.length,
      ),
      body: new PreparedBody(bytes),
      secrets: this.#secretFormsOf(target, adapter),
    };
  }

  /**
   * The params a target is sent before its overrides: the client's (OpenAI-shaped, or an
   * inbound API's to a provider that serves it natively), or an inbound request translated to
   * OpenAI chat params, with the translation of its answer back.
   */
  #requestParams(
    input: CallInput,
    adapter: ProviderAdapter,
    native: NativeOperation | undefined,
  ): { params: Params; inbound: InboundAnswer | undefined } {
    const api = input.inbound;
    if (api === undefined || native !== undefined)
      return { params: input.params, inbound: undefined };
    const translation = api.translation;
    if (translation === undefined) {
      // Operation-aware selection keeps such targets out of the choice.
      throw new LoadBalancerError(
        'ERR_INTERNAL',
        `Provider ${adapter.name} cannot serve this route and should not have been chosen`,
      );
    }
    return {
      params: input.translated?.get(adapter.name) ?? translation.toChat(input.params, adapter),
      inbound: translation.answerOf(input.params),
    };
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

/**
 * The body bytes: the client's own when they go out unchanged (an OpenAI-shaped body to a
 * provider that takes it, an inbound API's body to a provider that serves it natively, neither
 * with overrides), otherwise serialised once from the merged params.
 */
function requestBytes(
  input: CallInput,
  target: TargetNode,
  adapter: ProviderAdapter,
  native: NativeOperation | undefined,
  inbound: InboundAnswer | undefined,
  merged: Params,
): Buffer {
  const unchanged = input.rawParams !== undefined && target.overrideParams === undefined;
  if (native !== undefined) {
    if (native.requestBody === undefined && unchanged) return input.rawParams;
    return Buffer.from(JSON.stringify(native.requestBody?.(target, merged) ?? merged));
  }
  if (unchanged && inbound === undefined && adapter.forwardsRequestBody === true) {
    return input.rawParams;
  }
  return Buffer.from(JSON.stringify(adapter.requestBody(input.operation, merged)));
}

/** The adapter's headers with the client's values of the native API's own headers over them. */
function withClientHeaders(
  own: Record<string, string>,
  client: IncomingHttpHeaders,
  names: readonly string[],
): Record<string, string> {
  for (const name of names) {
    const value = client[name];
    if (typeof value === 'string' && value !== '') own[name] = value;
  }
  return own;
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
