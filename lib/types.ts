import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Request } from 'express';
import type { ProviderName } from './providers/provider-names.js';
import type { LoadBalancerListeners } from './telemetry/events.js';

export type { ProviderName };

/**
 * The provider a target names: a built-in one ({@link ProviderName}) or one the server defines
 * in its `providers` option (`local-vllm`).
 */
export type TargetProviderName = ProviderName | (string & {});

/** Strategy modes. */
export type StrategyMode = 'single' | 'loadbalance' | 'fallback' | 'conditional';

/** What the caller asked for, derived from the route. */
export type Operation = 'chat' | 'complete' | 'embed';

/** Free-form request parameters (an OpenAI request body). */
export type Params = Record<string, unknown>;

/** A target's own retry policy. */
export interface PortkeyRetry {
  /** Retries after the first attempt (0 to 10). */
  attempts: number;
  /** Statuses to retry. Defaults to `[429, 500, 502, 503, 504]`. */
  on_status_codes?: number[];
  /** Wait what the provider's `retry-after` headers ask. Defaults to `false`. */
  use_retry_after_header?: boolean;
}

/**
 * One provider option of Portkey's original config (Format 1). Every key is also accepted in
 * snake_case (`api_key`, `resource_name`, `deployment_id`, `api_version`, ...).
 */
export interface PortkeyOption {
  /** Required unless a virtual key names the provider. */
  provider?: TargetProviderName;
  apiKey?: string;
  api_key?: string;
  /** A server-held key (see the `virtualKeys` option) instead of `apiKey`. */
  virtualKey?: string;
  virtual_key?: string;
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
  /** Bedrock: an AWS access key id, signed with SigV4 (a secret, redacted everywhere). */
  awsAccessKeyId?: string;
  aws_access_key_id?: string;
  /** Bedrock: the AWS secret access key (a secret). */
  awsSecretAccessKey?: string;
  aws_secret_access_key?: string;
  /** Bedrock: the session token of temporary AWS credentials (a secret). */
  awsSessionToken?: string;
  aws_session_token?: string;
  /** Bedrock: the region, which picks the host (`us-east-1`). */
  awsRegion?: string;
  aws_region?: string;
  /** Per-attempt timeout in milliseconds. */
  requestTimeout?: number;
  request_timeout?: number;
  retry?: PortkeyRetry;
  /** A base URL replacing the provider's; request configs need it in `allowedHosts`. */
  customHost?: string;
  custom_host?: string;
  /** Client headers to forward to this target. */
  forwardHeaders?: string[];
  forward_headers?: string[];
  /** The name a conditional strategy's `then` and `default` refer to (unique among siblings). */
  name?: string;
  /** Requests per minute this target takes (counted per attempt, across replicas). */
  rpm?: number;
  /** Tokens per minute this target takes (from each answer's `usage`). */
  tpm?: number;
}

/** Portkey's original config (Format 1): `{ mode, options }`. */
export interface PortkeyConfigV1 {
  mode: StrategyMode;
  options: PortkeyOption[];
  /** Statuses that count as a failure (fallback moves on, loadbalance re-picks). */
  on_status_codes?: number[];
  retry?: PortkeyRetry;
  request_timeout?: number;
}

/** A node of the current Portkey config (Format 2): a strategy with targets, or a target. */
export interface PortkeyTarget extends PortkeyOption {
  strategy?: PortkeyStrategy;
  targets?: PortkeyTarget[];
}

/** A Format 2 node's `strategy`. */
export interface PortkeyStrategy {
  mode: StrategyMode;
  on_status_codes?: number[];
  /** `loadbalance`: how the available targets are picked. Defaults to `'weighted'`. */
  algorithm?: 'weighted' | 'least-busy' | 'least-latency';
  /** `loadbalance`: sticky sessions keyed by these fields; a moved session stays `ttl` seconds (default 3600). */
  sticky?: { enabled?: boolean; hash_fields: string[]; ttl?: number };
  /** `conditional`: rules tried in order; `then` names a target. */
  conditions?: { query: Record<string, unknown>; then: string }[];
  /** `conditional`: the target when no condition matches. */
  default?: string;
}

/** Either config format. */
export type PortkeyConfig = PortkeyConfigV1 | PortkeyTarget;

/**
 * What a request may say about routing: `allow` (configs with inline keys, as in Portkey),
 * `virtual-keys-only` (configs may choose among server-held keys, weights and params, but carry
 * no keys or hosts), `deny` (only server-held configs).
 */
export type RequestConfigPolicy = 'allow' | 'virtual-keys-only' | 'deny';

/** Server-held credentials a config may name with `virtual_key`. */
export interface VirtualKey {
  provider: TargetProviderName;
  apiKey?: string;
  resourceName?: string;
  deploymentId?: string;
  apiVersion?: string;
  openaiOrganization?: string;
  openaiProject?: string;
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
  awsSessionToken?: string;
  awsRegion?: string;
  /**
   * Requests per minute (fixed, epoch-aligned windows) across every target using this key,
   * counted in the shared store, so the limit holds across replicas. Defaults to `undefined` (no limit).
   */
  rpm?: number;
  /**
   * Tokens per minute (as the provider's `usage` reports them, streams included) across every
   * target using this key. Defaults to `undefined` (no limit).
   */
  tpm?: number;
}

/** Request metadata: Portkey's `x-portkey-metadata`, a flat object of string values. */
export type RequestMetadata = Record<string, string>;

/** A value, or a Promise of it: store operations may answer either way. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * One target's circuit-breaker state as a {@link StateStore} keeps it (epoch milliseconds of the
 * caller's clock; 0 = not set). Closed: `openUntil` is 0. Open: `openUntil` is in the future.
 * Half-open: `openUntil` has passed and no probe holds it (`probeUntil` has passed too).
 */
export interface TargetHealth {
  /** Failures counted in the current window. */
  failures: number;
  /** Outcomes (failures and successes) counted in the current window, for the percentage rule. */
  requests: number;
  /** When the current window began. */
  windowStart: number;
  /** The target is ejected until then. */
  openUntil: number;
  /** A half-open probe is in flight until then. */
  probeUntil: number;
  /** Whether the ejection comes from a provider's rate limit (a 429 with `retry-after`). */
  rateLimited: boolean;
  /**
   * When the breaker last closed (a probe succeeded), kept while slow start ramps the target's
   * share back up; undefined otherwise. A store that never sets it only loses the ramp.
   */
  closedAt?: number;
}

/** What a failure does to a target's state: the breaker's policy for one target. */
export interface FailurePolicy {
  /** Failures within the window that open the breaker; 0 turns the count rule off. */
  failureThreshold: number;
  /** Failure percentage (1 to 100) within the window that opens the breaker; 0 turns it off. */
  failureThresholdPercentage: number;
  /** Outcomes the window must hold before the percentage rule applies. */
  minimumRequests: number;
  /** The window failures (and, for the percentage, requests) are counted in. */
  windowMs: number;
  /** How long an opened breaker ejects its target. */
  cooldownMs: number;
  /** When above 0, opens at once for this long (a 429's `retry-after`), and marks it rate-limited. */
  openForMs: number;
}

/** What a success does to a target's state. */
export interface SuccessPolicy {
  windowMs: number;
  /** Whether successes are counted (only the percentage rule needs them). */
  countRequests: boolean;
  /**
   * When above 0, a breaker that closes is remembered (closed, with `closedAt`) for this long,
   * for slow start; otherwise it is forgotten at once.
   */
  slowStartMs?: number;
}

/**
 * Where routing state lives, as operations the store performs atomically (never a record read,
 * changed and written back): a failure recorded by N overlapping requests counts N, and exactly
 * one caller wins a probe, across every process sharing the store. Methods may return values or
 * Promises. Keys identify a target (provider, base URL, Azure deployment, a hash of the key:
 * never the key) or a counter. `now` is the caller's clock, so tests can drive time; a store
 * forgets a key once nothing in it matters any more (its window, ejection and probe are over).
 *
 * The middleware never lets a store fail or stall a request: a store operation that throws,
 * rejects or takes longer than `storeTimeout` is done on a local in-memory store instead (see
 * `LoadBalancerOptions.storeTimeout`).
 */
export interface StateStore {
  /** Called once when the middleware is created (load scripts, warm a pool). */
  init?(): MaybePromise<void>;
  /** Releases what the store holds; the middleware never calls it: call it when your app stops. */
  shutdown?(): MaybePromise<void>;
  /** The state of each key, in order (undefined: closed and unknown). One batched read. */
  snapshot(keys: readonly string[], now: number): MaybePromise<(TargetHealth | undefined)[]>;
  /** Counts a failure and returns the new state (opened when the policy says so). */
  recordFailure(key: string, now: number, policy: FailurePolicy): MaybePromise<TargetHealth>;
  /**
   * Counts a success: closes a half-open breaker (a probe's success) and, when the policy counts
   * requests, counts it in the window. An open breaker (cooldown not over) is left as it is: a
   * request that began before it opened proves little. Returns the new state.
   */
  recordSuccess(
    key: string,
    now: number,
    policy: SuccessPolicy,
  ): MaybePromise<TargetHealth | undefined>;
  /**
   * Takes the probe of a half-open target for `ttlMs`. True for exactly one caller among
   * concurrent ones (and for every caller when the breaker has closed meanwhile); false while
   * open or while another probe holds it.
   */
  tryProbe(key: string, now: number, ttlMs: number): MaybePromise<boolean>;
  /**
   * Gives a probe back at once (its request stopped): the next request may probe. `heldUntil`
   * is the end of the lease the caller took (`now + ttlMs` of its `tryProbe`): when given, the
   * probe is released only if it is still that lease, so a release that comes after the lease
   * expired never frees a probe another replica has taken since.
   */
  releaseProbe(key: string, heldUntil?: number): MaybePromise<void>;
  /**
   * Adds `by` (may be negative) to a counter and returns its new value. The counter expires
   * `ttlMs` after its last change (its value then starts again from 0): a safety TTL for
   * in-flight counts, or a window for usage counted under a per-window key.
   */
  increment(key: string, by: number, now: number, ttlMs: number): MaybePromise<number>;
  /** The values of counters, in order (0 for unknown or expired ones). One batched read. */
  counters(keys: readonly string[], now: number): MaybePromise<number[]>;
  /**
   * Where a sticky session that moved is held (undefined: nowhere, it is on its own target).
   * Without `move`, only reads. With `move`, atomically: when the key holds nothing (or has
   * expired) or holds `move.from`, it is set to `move.to` for `move.ttlMs` and `move.to` is
   * returned; otherwise what it holds is returned unchanged (another replica moved the session
   * first, and every replica follows that move). Optional: a store without it keeps moves in
   * each replica's memory.
   */
  pin?(key: string, now: number, move?: PinMove): MaybePromise<string | undefined>;
}

/** A sticky session's move, for {@link StateStore.pin}. */
export interface PinMove {
  /** The target the session is held on now (undefined: none), which is no longer available. */
  from: string | undefined;
  /** Where it goes. */
  to: string;
  ttlMs: number;
}

/** Passive health checking (circuit breaking) settings; a config's `strategy.cb_config` overrides them. */
export interface CircuitBreakerOptions {
  /** Failures (connection errors, timeouts, 429 and 5xx answers) within `windowMs` that eject a target. Defaults to `5`. */
  failureThreshold?: number;
  /**
   * Failure percentage (1 to 100) of the window's outcomes that ejects a target, once the window
   * holds `minimumRequests`. Counting it costs a store write per success. Defaults to `undefined` (off).
   */
  failureThresholdPercentage?: number;
  /** Outcomes a window must hold before `failureThresholdPercentage` applies. Defaults to `10`. */
  minimumRequests?: number;
  /** The window failures are counted in, in milliseconds. Defaults to `60000`. */
  windowMs?: number;
  /** How long an ejected target is skipped before one probe request is let through. Defaults to `30000`. */
  cooldownMs?: number;
  /** Provider statuses that count as failures (connection errors and timeouts always do). Defaults to `429` and every `5xx`. */
  failureStatusCodes?: number[];
  /**
   * Slow start: after a target's breaker closes, its share of loadbalance picks ramps linearly
   * from 10% of its weight to all of it over this many milliseconds, so a provider back from an
   * outage is not hit with its whole share at once. `0` turns it off. Defaults to `30000`.
   */
  slowStartMs?: number;
}

/** Backoff between retries of one target. */
export interface BackoffOptions {
  /** The wait before the first retry; doubled for each next one, with jitter. Defaults to `250`. */
  initialDelayMs?: number;
  /** The longest computed wait. Defaults to `8000`. */
  maxDelayMs?: number;
  /**
   * The longest provider `retry-after` honoured (with `use_retry_after_header`); a provider asking
   * for longer is not retried (a fallback target is tried instead). Defaults to `60000`.
   */
  maxRetryAfterMs?: number;
}

/** A time source: `now()` for circuit breaking and deadlines, `sleep()` for backoff waits. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Server-side settings for one provider. */
export interface ProviderOptions {
  /**
   * Replaces the provider's base URL: a proxy, a sovereign cloud or a local simulator. For
   * `azure-openai` the text `{resourceName}` is replaced by the target's resource name.
   * Defaults to the provider's public API (see the README's provider table).
   */
  baseURL?: string;
  /**
   * Extra headers sent to this provider on every request; names and values must be valid HTTP
   * header names and values (checked at construction). Defaults to `{}`.
   */
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

/**
 * A provider the server defines, speaking OpenAI's API (vLLM, LM Studio, an internal gateway):
 * `providers: { 'local-vllm': { type: 'openai-compatible', baseURL: 'http://vllm.internal:8000/v1' } }`
 * makes `provider: "local-vllm"` routable. Its base URL is trusted like any server option (no
 * `allowedHosts` check); a key, when a target carries one, is sent as a bearer token.
 */
export interface OpenAICompatibleProviderOptions extends ProviderOptions {
  /**
   * Marks the entry as a server-defined provider. Defaults to `undefined`: the entry is then the
   * settings of the built-in provider of that name (an unknown name is a construction error).
   */
  type: 'openai-compatible';
  /**
   * Where its OpenAI paths (`/chat/completions`, ...) live. Required with `type`. Defaults to
   * `undefined`: a construction error naming `providers.<name>.baseURL`.
   */
  baseURL: string;
  /** The operations it serves; others are refused before anything is sent. Defaults to `['chat', 'complete', 'embed']`. */
  operations?: Operation[];
}

/**
 * Per-provider server settings: one entry per built-in provider (every name of
 * {@link ProviderName}, Anthropic with its own extras), plus any server-defined
 * {@link OpenAICompatibleProviderOptions} under a name of its own.
 */
export type ProvidersOptions = {
  [Name in ProviderName]?: Name extends 'anthropic' ? AnthropicOptions : ProviderOptions;
} & {
  [name: string]: ProviderOptions | AnthropicOptions | OpenAICompatibleProviderOptions | undefined;
};

/** Options of {@link portkeyLoadBalancer}. */
export interface LoadBalancerOptions {
  /**
   * The config used when a request carries none (either format). Validated at startup.
   * Defaults to `undefined`: a request without a config gets a 400.
   */
  config?: PortkeyConfig;
  /**
   * Per-provider server settings (`providers.groq.baseURL`, `providers.anthropic.version`), and
   * server-defined OpenAI-compatible providers (see {@link OpenAICompatibleProviderOptions}).
   * `ollama` has no public API: give it a `baseURL` here, or allow its host for `custom_host`.
   * Defaults to each provider's public API (see the README's provider table).
   */
  providers?: ProvidersOptions;
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
  /**
   * Milliseconds a request may spend getting an answer across all its attempts, retries and
   * fallbacks (a stream that has begun is not cut by it). Defaults to `600000` (10 minutes).
   */
  deadline?: number;
  /** Waits between retries of a target. Defaults to the values of {@link BackoffOptions}. */
  backoff?: BackoffOptions;
  /**
   * Passive health checking: targets that keep failing are ejected for a cooldown. `false` turns
   * it off. Defaults to the values of {@link CircuitBreakerOptions}.
   */
  circuitBreaker?: CircuitBreakerOptions | false;
  /**
   * Where circuit-breaker state lives: share it between replicas with {@link redisStore}, or
   * write your own {@link StateStore}. Defaults to a per-process in-memory store (bounded).
   */
  store?: StateStore;
  /**
   * Milliseconds a store operation may take before the request goes on with local in-memory
   * state for that operation (a `store-error` event reports it). After such a failure the
   * shared store is left alone for one second, so a store that hangs does not slow every
   * request. Defaults to `100`.
   */
  storeTimeout?: number;
  /** Time source for backoff waits, deadlines and circuit breaking. Defaults to the real clock. */
  clock?: Clock;
  /**
   * Named provider credentials held by the server. A config names one with `virtual_key`
   * (`"virtual_key": "openai-prod"`) instead of carrying a key; the key never leaves the server
   * except to its provider. Defaults to `{}`.
   */
  virtualKeys?: Record<string, VirtualKey>;
  /**
   * Named configs held by the server, selected with `x-portkey-config: <name>` or a body
   * `"config": "<name>"`. Validated at startup. Defaults to `{}`.
   */
  configs?: Record<string, PortkeyConfig>;
  /**
   * Chooses the config per request from what the host app's own middleware established
   * (`req.user`, a tenant, a plan): a config name, a config object, or undefined to use the
   * request's own. May return a Promise. Its configs are trusted like server configs.
   * Defaults to `undefined`.
   */
  getConfig?: (
    req: Request,
  ) => string | PortkeyConfig | undefined | Promise<string | PortkeyConfig | undefined>;
  /**
   * Metadata the host establishes for a request (`req.user`, a tenant): a flat object of string
   * values, or undefined. May return a Promise. Its keys win over the same keys of the
   * `x-portkey-metadata` header (the two are merged); set `acceptMetadataHeader: false` so that a
   * caller cannot set any metadata at all. Conditional routing (`metadata.*`), sticky sessions,
   * events and the dry run see the result. Defaults to `undefined`.
   */
  getMetadata?: (
    req: Request,
  ) => RequestMetadata | undefined | Promise<RequestMetadata | undefined>;
  /**
   * Whether the `x-portkey-metadata` request header is read (it is never forwarded either way).
   * `false` leaves metadata to `getMetadata` alone, so callers cannot forge it. Defaults to `true`.
   */
  acceptMetadataHeader?: boolean;
  /** What a request may say about routing; see {@link RequestConfigPolicy}. Defaults to `'allow'`. */
  requestConfig?: RequestConfigPolicy;
  /**
   * Hosts a request config's `custom_host` may name: exact origins, `https://*.example.com`
   * wildcards, or RegExps tested against the origin. Only exact entries may be internal
   * (loopback, private, link-local, metadata) addresses, and only on their own origin (scheme,
   * host and port). Defaults to `[]`: no custom hosts.
   */
  allowedHosts?: (string | RegExp)[];
  /**
   * Resolves a custom host's name to addresses for the internal-address check (at validation
   * and again at connection time). Defaults to the system resolver.
   */
  resolveHost?: (hostname: string) => Promise<string[]>;
  /**
   * Event listeners (`select`, `attempt`, `retry`, `fallback`, `circuit-open`, `circuit-close`,
   * `request`, `response`, `error`, `store-error`), or several sets of them (your own and the metrics'). A
   * listener that throws cannot break a request. Defaults to none.
   */
  on?: LoadBalancerListeners | LoadBalancerListeners[];
  /**
   * Whether `x-portkey-dry-run: true` may ask for the plan instead of a provider call. When off,
   * such a request is refused (403) rather than run for real. Defaults to `false`.
   */
  allowDryRun?: boolean;
  /** Agent for `http:` upstreams. Defaults to a shared keep-alive agent. */
  httpAgent?: HttpAgent;
  /** Agent for `https:` upstreams. Defaults to a shared keep-alive agent. */
  httpsAgent?: HttpsAgent;
}
