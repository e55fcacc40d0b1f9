import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';

/** Providers a target can name. */
export type ProviderName = 'openai' | 'anthropic' | 'azure-openai';

/** Strategy modes. */
export type StrategyMode = 'single' | 'loadbalance';

/** What the caller asked for, derived from the route. */
export type Operation = 'chat' | 'complete' | 'embed';

/** Free-form request parameters (an OpenAI request body). */
export type Params = Record<string, unknown>;

/**
 * One provider option of Portkey's original config (Format 1). Every key is also accepted in
 * snake_case (`api_key`, `resource_name`, `deployment_id`, `api_version`).
 */
export interface PortkeyOption {
  provider: ProviderName;
  apiKey?: string;
  api_key?: string;
  /** Relative weight; missing = 1, 0 = never picked. */
  weight?: number;
  /** Merged over the request params; these win. */
  override_params?: Params;
  resourceName?: string;
  resource_name?: string;
  deploymentId?: string;
  deployment_id?: string;
  apiVersion?: string;
  api_version?: string;
  openaiOrganization?: string;
  openai_organization?: string;
  openaiProject?: string;
  openai_project?: string;
}

/** Portkey's original config (Format 1): `{ mode, options }`. */
export interface PortkeyConfigV1 {
  mode: StrategyMode;
  options: PortkeyOption[];
}

/** A node of the current Portkey config (Format 2): a strategy with targets, or a target. */
export interface PortkeyTarget extends Omit<PortkeyOption, 'provider'> {
  provider?: ProviderName;
  strategy?: { mode: StrategyMode };
  targets?: PortkeyTarget[];
  /** Per-attempt timeout in milliseconds. Inherited by nested targets. */
  request_timeout?: number;
}

/** Either config format. */
export type PortkeyConfig = PortkeyConfigV1 | PortkeyTarget;

/** Server-side settings for one provider. */
export interface ProviderOptions {
  /**
   * Replaces the provider's base URL: a proxy, a sovereign cloud or a local simulator. For
   * `azure-openai` the text `{resourceName}` is replaced by the target's resource name.
   * Defaults to the provider's public API (see the README's provider table).
   */
  baseURL?: string;
  /** Extra headers sent to this provider on every request. Defaults to `{}`. */
  headers?: Record<string, string>;
}

/** Server-side settings for Anthropic. */
export interface AnthropicOptions extends ProviderOptions {
  /** The `anthropic-version` header. Defaults to `'2023-06-01'`. */
  version?: string;
  /**
   * `max_tokens` sent when the request sets neither `max_tokens` nor `max_completion_tokens`
   * (Anthropic requires it). Defaults to `4096`.
   */
  defaultMaxTokens?: number;
}

/** Options of {@link portkeyLoadBalancer}. */
export interface LoadBalancerOptions {
  /**
   * The config used when a request carries none (either format). Validated at startup.
   * Defaults to `undefined`: a request without a config gets a 400.
   */
  config?: PortkeyConfig;
  /** Per-provider server settings. Defaults to each provider's public API. */
  providers?: {
    openai?: ProviderOptions;
    anthropic?: AnthropicOptions;
    'azure-openai'?: ProviderOptions;
  };
  /**
   * Source of randomness for weighted selection, returning a number in [0, 1). Inject a seeded
   * function for reproducible picks. Defaults to `Math.random`.
   */
  random?: () => number;
  /**
   * Largest accepted request body, as bytes or a string such as `'10mb'`. Larger bodies get a
   * 413. Defaults to `'10mb'`.
   */
  bodyLimit?: number | string;
  /**
   * Milliseconds an upstream request may stay silent (no response bytes) before it is aborted
   * with a 504. A target's `request_timeout` overrides it. Defaults to `600000` (10 minutes).
   */
  timeout?: number;
  /**
   * Client request headers (case-insensitive names) forwarded to providers in addition to the
   * built-in allowlist (`accept`, `accept-language`, `user-agent`, `traceparent`, `tracestate`).
   * Credentials and `x-portkey-*` headers are never forwarded. Defaults to `[]`.
   */
  forwardHeaders?: string[];
  /** Agent for `http:` upstreams. Defaults to a shared keep-alive agent. */
  httpAgent?: HttpAgent;
  /** Agent for `https:` upstreams. Defaults to a shared keep-alive agent. */
  httpsAgent?: HttpsAgent;
}
