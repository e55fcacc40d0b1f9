import { Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { LookupFunction } from 'node:net';
import { ConfigResolver } from './config/config-resolver.js';
import { didYouMean } from './config/suggest.js';
import type { VirtualKeyTable } from './config/target-identity.js';
import { resolveVirtualKeys, VirtualKeyError } from './config/virtual-keys.js';
import { LoadBalancerError } from './errors.js';
import { FailOpenStore, type StoreFailure } from './health/fail-open-store.js';
import { type BreakerDefaults, SharedHealth, targetIdentity } from './health/health-gate.js';
import { MemoryStore } from './health/memory-store.js';
import {
  checkProvidersOption,
  type ProviderRules,
  providerRules,
} from './providers/provider-rules.js';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.js';
import type { CallSettings } from './proxy/call.js';
import { resolveForwardedHeaders } from './proxy/request-headers.js';
import { ResponseAffinity } from './proxy/response-affinity.js';
import type { MetadataSource } from './routing/metadata.js';
import { SharedRouting } from './routing/router.js';
import { slowStartDefaults } from './routing/slow-start.js';
import type { UsageLimits } from './routing/usage-budget.js';
import { isHeaderName, isHeaderValue } from './security/header-policy.js';
import { HostPolicy, systemResolveHost } from './security/host-policy.js';
import { EventSink } from './telemetry/events.js';
import type {
  CircuitBreakerOptions,
  Clock,
  LoadBalancerOptions,
  RequestConfigPolicy,
  StateStore,
} from './types.js';

/** Options resolved once at construction: the hot path reads only this. */
export interface Settings extends CallSettings {
  readonly configs: ConfigResolver;
  readonly providers: ProviderRegistry;
  readonly bodyLimit: number | string;
  /** Undefined when circuit breaking is off. */
  readonly health: SharedHealth | undefined;
  readonly forwardedHeaders: readonly string[];
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
  readonly events: EventSink;
  readonly allowDryRun: boolean;
  /**
   * Agents for request-chosen custom hosts, resolving through `resolveHost`: `checked` ones refuse
   * every internal address they would connect to, `exact` ones (for exact `allowedHosts`
   * origins) do not.
   */
  readonly guardedAgents: { checked: AgentPair; exact: AgentPair } | undefined;
  /** The server's `allowedHosts`. */
  readonly hosts: HostPolicy;
  /** Which target produced each stored Responses API response (`previous_response_id`). */
  readonly affinity: ResponseAffinity;
  /** Where request metadata comes from (`x-portkey-metadata`, `getMetadata`). */
  readonly metadata: MetadataSource<IncomingMessage>;
  /** State of sticky sessions, load-aware picks and usage budgets. */
  readonly routing: SharedRouting;
}

/** The request as `getMetadata` receives it (Express's, named without importing Express here). */
type HostRequest = Parameters<NonNullable<LoadBalancerOptions['getMetadata']>>[0];

/** The one literal of defaults; `undefined` in the options means "use the default". */
const defaults = {
  bodyLimit: '10mb',
  timeout: 600_000,
  deadline: 600_000,
  backoff: { initialDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 60_000 },
  circuitBreaker: {
    failureThreshold: 5,
    minimumRequests: 10,
    windowMs: 60_000,
    cooldownMs: 30_000,
    slowStartMs: slowStartDefaults.windowMs,
  },
  storeTimeout: 100,
  requestConfig: 'allow',
} as const;

const realClock: Clock = {
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const optionNames: readonly (keyof LoadBalancerOptions)[] = [
  'config',
  'configs',
  'getConfig',
  'getMetadata',
  'acceptMetadataHeader',
  'requestConfig',
  'virtualKeys',
  'allowedHosts',
  'resolveHost',
  'providers',
  'random',
  'bodyLimit',
  'timeout',
  'forwardHeaders',
  'deadline',
  'backoff',
  'circuitBreaker',
  'store',
  'storeTimeout',
  'clock',
  'on',
  'allowDryRun',
  'httpAgent',
  'httpsAgent',
];

const policies: readonly RequestConfigPolicy[] = ['allow', 'virtual-keys-only', 'deny'];

// One pair of keep-alive agents per process: sockets to a provider are reused across requests
// and across middleware instances.
let sharedAgents: { http: HttpAgent; https: HttpsAgent } | undefined;

/**
 * How long a pooled connection may sit idle before we close it: below the keep-alive timeouts
 * providers and their CDNs use (Node's own servers close idle connections after 5 s), so that we
 * close a connection before they do and rarely write a request onto one they are closing.
 */
export const idleSocketTimeoutMs = 4_000;

const poolingOptions = {
  keepAlive: true,
  scheduling: 'lifo',
  timeout: idleSocketTimeoutMs,
} as const;

function keepAliveAgents(): { http: HttpAgent; https: HttpsAgent } {
  sharedAgents ??= {
    http: new HttpAgent(poolingOptions),
    https: new HttpsAgent(poolingOptions),
  };
  return sharedAgents;
}

export function resolveSettings(options: LoadBalancerOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('options', 'must be an object, e.g. portkeyLoadBalancer({ config })');
  }
  for (const name of Object.keys(options)) {
    if (!optionNames.includes(name as keyof LoadBalancerOptions)) {
      throw invalidOption(name, `is not an option${didYouMean(name, optionNames)}`);
    }
  }
  if (options.random !== undefined && typeof options.random !== 'function') {
    throw invalidOption(
      'random',
      'must be a function returning a number in [0, 1), e.g. Math.random',
    );
  }
  if (options.getConfig !== undefined && typeof options.getConfig !== 'function') {
    throw invalidOption(
      'getConfig',
      'must be a function of the request, e.g. (req) => req.user.plan',
    );
  }
  if (options.getMetadata !== undefined && typeof options.getMetadata !== 'function') {
    throw invalidOption(
      'getMetadata',
      'must be a function of the request, e.g. (req) => ({ user_id: req.user.id })',
    );
  }
  if (
    options.acceptMetadataHeader !== undefined &&
    typeof options.acceptMetadataHeader !== 'boolean'
  ) {
    throw invalidOption('acceptMetadataHeader', 'must be true or false');
  }
  const requestConfig = options.requestConfig ?? defaults.requestConfig;
  if (!policies.includes(requestConfig)) {
    throw invalidOption(
      'requestConfig',
      `must be one of ${policies.join(', ')}${didYouMean(String(requestConfig), policies)}`,
    );
  }
  const timeout = milliseconds('timeout', options.timeout, defaults.timeout);
  const deadline = milliseconds('deadline', options.deadline, defaults.deadline);
  const backoff = {
    initialDelayMs: milliseconds(
      'backoff.initialDelayMs',
      options.backoff?.initialDelayMs,
      defaults.backoff.initialDelayMs,
    ),
    maxDelayMs: milliseconds(
      'backoff.maxDelayMs',
      options.backoff?.maxDelayMs,
      defaults.backoff.maxDelayMs,
    ),
    maxRetryAfterMs: milliseconds(
      'backoff.maxRetryAfterMs',
      options.backoff?.maxRetryAfterMs,
      defaults.backoff.maxRetryAfterMs,
    ),
  };
  const clock = options.clock ?? realClock;
  if (typeof clock.now !== 'function' || typeof clock.sleep !== 'function') {
    throw invalidOption(
      'clock',
      'must have now() and sleep(ms), e.g. { now: Date.now, sleep: (ms) => ... }',
    );
  }
  const bodyLimit = options.bodyLimit ?? defaults.bodyLimit;
  if (typeof bodyLimit !== 'string' && !(Number.isInteger(bodyLimit) && bodyLimit > 0)) {
    throw invalidOption('bodyLimit', "must be a byte count or a size such as '10mb'");
  }
  checkProvidersOption(options.providers ?? {}, didYouMean);
  for (const [name, provider] of Object.entries(options.providers ?? {})) {
    checkExtraHeaders(`providers.${name}.headers`, provider?.headers);
  }
  const anthropicVersion = options.providers?.anthropic?.version;
  if (anthropicVersion !== undefined && !isSendableValue(anthropicVersion)) {
    throw invalidOption('providers.anthropic.version', headerValueRule);
  }
  for (const [index, name] of (options.forwardHeaders ?? []).entries()) {
    if (typeof name !== 'string' || !isHeaderName(name)) {
      throw invalidOption(`forwardHeaders[${index}]`, 'must be a header name, e.g. "x-tenant-id"');
    }
  }
  const allowedHosts = options.allowedHosts ?? [];
  if (!Array.isArray(allowedHosts)) {
    throw invalidOption(
      'allowedHosts',
      'must be an array of origins or RegExps, e.g. ["https://llm.internal.example"]',
    );
  }
  const hosts = new HostPolicy(allowedHosts, options.resolveHost ?? systemResolveHost);
  const agents = keepAliveAgents();
  const providers = createProviderRegistry(options.providers);
  const breaker = options.circuitBreaker === false ? undefined : (options.circuitBreaker ?? {});
  const rules = providerRules(options.providers);
  const { credentials: virtualKeyCredentials, budgets: virtualKeyBudgets } = splitVirtualKeys(
    options.virtualKeys,
  );
  const virtualKeys = virtualKeyTable(virtualKeyCredentials, rules);
  const events = new EventSink(
    options.on === undefined ? [] : Array.isArray(options.on) ? options.on : [options.on],
  );
  const store = stateStore(options.store);
  const storeTimeout = milliseconds('storeTimeout', options.storeTimeout, defaults.storeTimeout);
  const onStoreFailure = storeErrorReporter(events, clock);
  const health =
    breaker === undefined
      ? undefined
      : new SharedHealth(store, breakerDefaults(breaker), providers, clock.now, {
          timeoutMs: storeTimeout,
          onStoreFailure,
        });
  const random = options.random ?? Math.random;
  // One fail-open wrapper for the breaker, routing and response affinity, so that a slow or
  // failing store is bounded by storeTimeout everywhere and rests for all of them at once.
  const sharedStore =
    health?.store ?? new FailOpenStore(store, storeTimeout, clock.now, onStoreFailure);
  const routing = new SharedRouting({
    store: sharedStore,
    keyOf: (target) => health?.keyOf(target) ?? targetIdentity(providers, target),
    now: clock.now,
    random,
    virtualKeyBudgets,
    // A crashed replica's in-flight counts are forgotten this long after their last change.
    inFlightTtlMs: Math.min(timeout, deadline) + 5000,
    explorationRate: 0.05,
  });
  return {
    configs: new ConfigResolver(options, virtualKeys, requestConfig, hosts, rules),
    providers,
    random,
    clock,
    bodyLimit,
    timeout,
    deadline,
    backoff,
    maxEjectionMs: backoff.maxRetryAfterMs,
    health,
    forwardedHeaders: resolveForwardedHeaders(options.forwardHeaders),
    httpAgent: options.httpAgent ?? agents.http,
    httpsAgent: options.httpsAgent ?? agents.https,
    guardedAgents: allowedHosts.length === 0 ? undefined : guardedAgents(hosts),
    hosts,
    events,
    allowDryRun: options.allowDryRun === true,
    // Without a shared store, response ids get a memory store of their own: one entry per
    // response must not push breaker and budget counters out of the bounded default store.
    affinity: new ResponseAffinity(
      options.store === undefined
        ? new FailOpenStore(new MemoryStore(), storeTimeout, clock.now, onStoreFailure)
        : sharedStore,
      providers,
      clock.now,
    ),
    metadata: metadataSource(options),
    routing,
  };
}

/** `getMetadata` sees the request the middleware got: Express's, here typed as Node's. */
function metadataSource(options: LoadBalancerOptions): MetadataSource<IncomingMessage> {
  const { getMetadata } = options;
  return {
    getMetadata:
      getMetadata === undefined ? undefined : (req) => getMetadata(req as unknown as HostRequest),
    acceptHeader: options.acceptMetadataHeader !== false,
  };
}

/**
 * The `virtualKeys` option as credentials (checked like a target) and budgets (`rpm`, `tpm`),
 * which are limits of the server's, not fields of a provider.
 */
function splitVirtualKeys(table: LoadBalancerOptions['virtualKeys']): {
  credentials: LoadBalancerOptions['virtualKeys'];
  budgets: Map<string, UsageLimits>;
} {
  const budgets = new Map<string, UsageLimits>();
  if (table === undefined || typeof table !== 'object' || table === null) {
    return { credentials: table, budgets };
  }
  const credentials: NonNullable<LoadBalancerOptions['virtualKeys']> = {};
  for (const [name, entry] of Object.entries(table)) {
    if (typeof entry !== 'object' || entry === null) {
      credentials[name] = entry;
      continue;
    }
    const { rpm, tpm, ...rest } = entry;
    for (const [field, value] of Object.entries({ rpm, tpm })) {
      if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) {
        throw invalidOption(
          `virtualKeys.${name}.${field}`,
          'must be a whole number of at least 0, e.g. 600',
        );
      }
    }
    if (rpm !== undefined || tpm !== undefined) budgets.set(name, { rpm, tpm });
    credentials[name] = rest;
  }
  return { credentials, budgets };
}

interface AgentPair {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
}

function guardedAgents(hosts: HostPolicy): { checked: AgentPair; exact: AgentPair } {
  return { checked: agentPair(hosts, true), exact: agentPair(hosts, false) };
}

function agentPair(hosts: HostPolicy, checked: boolean): AgentPair {
  const lookup = hosts.guardedLookup(checked) as unknown as LookupFunction;
  return {
    http: new HttpAgent({ ...poolingOptions, lookup }),
    https: new HttpsAgent({ ...poolingOptions, lookup }),
  };
}

function virtualKeyTable(
  table: LoadBalancerOptions['virtualKeys'],
  rules: ProviderRules,
): VirtualKeyTable {
  if (table === undefined) return new Map();
  try {
    return resolveVirtualKeys(table, rules);
  } catch (error) {
    if (!(error instanceof VirtualKeyError)) throw error;
    throw new LoadBalancerError('ERR_OPTIONS_INVALID', `Invalid options.${error.problem.message}`, {
      param: `options.${error.problem.param}`,
    });
  }
}

const storeMethods = [
  'snapshot',
  'recordFailure',
  'recordSuccess',
  'tryProbe',
  'releaseProbe',
  'increment',
  'counters',
] as const;

function stateStore(store: StateStore | undefined): StateStore {
  if (store === undefined) return new MemoryStore();
  const missing = storeMethods.filter(
    (name) => typeof (store as unknown as Record<string, unknown>)?.[name] !== 'function',
  );
  if (missing.length > 0) {
    throw invalidOption(
      'store',
      `must implement StateStore (missing ${missing.join(', ')}), e.g. redisStore({ sendCommand })`,
    );
  }
  return store;
}

/** At most one `store-error` event per this many milliseconds; the event counts the others. */
const storeErrorIntervalMs = 10_000;

function storeErrorReporter(events: EventSink, clock: Clock): (failure: StoreFailure) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let count = 0;
  return (failure) => {
    count++;
    const now = clock.now();
    if (now - lastAt < storeErrorIntervalMs || !events.has('store-error')) return;
    lastAt = now;
    events.emit('store-error', {
      operation: failure.operation,
      reason: failure.reason,
      ...(failure.error === undefined ? {} : { error: failure.error }),
      count,
    });
    count = 0;
  };
}

function breakerDefaults(options: CircuitBreakerOptions): BreakerDefaults {
  if ('store' in options) {
    throw invalidOption(
      'circuitBreaker.store',
      'has moved: pass the store as the top-level option, portkeyLoadBalancer({ store })',
    );
  }
  const percentage = options.failureThresholdPercentage;
  if (
    percentage !== undefined &&
    !(typeof percentage === 'number' && percentage > 0 && percentage <= 100)
  ) {
    throw invalidOption(
      'circuitBreaker.failureThresholdPercentage',
      'must be a number above 0 and at most 100, e.g. 50',
    );
  }
  const statuses = options.failureStatusCodes;
  if (
    statuses !== undefined &&
    !(
      Array.isArray(statuses) &&
      statuses.every((code) => Number.isInteger(code) && code >= 100 && code <= 599)
    )
  ) {
    throw invalidOption(
      'circuitBreaker.failureStatusCodes',
      'must be an array of HTTP statuses, e.g. [429, 500, 502, 503, 504]',
    );
  }
  return {
    failureThreshold: count(
      'circuitBreaker.failureThreshold',
      options.failureThreshold,
      defaults.circuitBreaker.failureThreshold,
    ),
    failureThresholdPercentage: percentage ?? 0,
    minimumRequests: count(
      'circuitBreaker.minimumRequests',
      options.minimumRequests,
      defaults.circuitBreaker.minimumRequests,
    ),
    windowMs: milliseconds(
      'circuitBreaker.windowMs',
      options.windowMs,
      defaults.circuitBreaker.windowMs,
    ),
    cooldownMs: milliseconds(
      'circuitBreaker.cooldownMs',
      options.cooldownMs,
      defaults.circuitBreaker.cooldownMs,
    ),
    failureStatusCodes: statuses,
    slowStartMs: slowStartOf(options.slowStartMs),
  };
}

function slowStartOf(value: number | undefined): number {
  const resolved = value ?? defaults.circuitBreaker.slowStartMs;
  if (!Number.isInteger(resolved) || resolved < 0) {
    throw invalidOption(
      'circuitBreaker.slowStartMs',
      'must be a whole number of milliseconds, 0 to turn slow start off, e.g. 30000',
    );
  }
  return resolved;
}

/** Headers sent on every call must be sendable: refused here rather than on each request. */
function checkExtraHeaders(option: string, headers: Record<string, string> | undefined): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!isHeaderName(name)) {
      throw invalidOption(`${option}.${name}`, 'is not a valid header name, e.g. "x-team"');
    }
    if (!isSendableValue(value)) throw invalidOption(`${option}.${name}`, headerValueRule);
  }
}

const headerValueRule =
  'must be a string without CR, LF, NUL, other control characters or characters above U+00FF';

function isSendableValue(value: unknown): boolean {
  return typeof value === 'string' && isHeaderValue(value);
}

function milliseconds(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved <= 0) {
    throw invalidOption(name, 'must be a positive whole number of milliseconds, e.g. 60000');
  }
  return resolved;
}

function count(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved <= 0) {
    throw invalidOption(name, 'must be a positive whole number, e.g. 5');
  }
  return resolved;
}

function invalidOption(name: string, reason: string): LoadBalancerError {
  return new LoadBalancerError('ERR_OPTIONS_INVALID', `${name} ${reason}`, { param: name });
}
