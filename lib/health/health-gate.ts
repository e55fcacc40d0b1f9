import { createHash } from 'node:crypto';
import type { BreakerOverrides, TargetNode } from '../config/config-tree.js';
import { secretValues } from '../providers/credentials.js';
import { adapterOf, type ProviderRegistry, upstreamBaseOf } from '../providers/registry.js';
import type { Availability } from '../routing/run-plan.js';
import { slowStartWeight } from '../routing/slow-start.js';
import { isPromise } from '../shared/values.js';
import type { FailurePolicy, MaybePromise, StateStore, TargetHealth } from '../types.js';
import { availableAgainAt, breakerState } from './circuit-breaker.js';
import { FailOpenStore, type StoreFailure } from './fail-open-store.js';

const available: Availability = { available: true, retryAt: 0, rateLimited: false };

/** While another request holds a target's probe, clients are told to come back this soon. */
const probeBusyRetryMs = 1000;

/** What the health gate reports when a breaker opens or closes. */
export interface BreakerChange {
  target: TargetNode;
  /** The target's health identity (never its key). */
  key: string;
  state: 'open' | 'closed';
  /** Epoch milliseconds the target is ejected until (open only). */
  until?: number;
}

/** The server's breaker settings, which a config's `cb_config` overrides field by field. */
export interface BreakerDefaults {
  readonly failureThreshold: number;
  readonly failureThresholdPercentage: number;
  readonly minimumRequests: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
  /** Undefined: 429 and every 5xx. */
  readonly failureStatusCodes: readonly number[] | undefined;
  /** Slow start's window after a breaker closes; 0: off. */
  readonly slowStartMs: number;
}

/** One target's breaker policy, resolved once per target node. */
interface TargetPolicy {
  readonly failure: FailurePolicy;
  readonly failureStatusCodes: readonly number[] | undefined;
}

/** What an attempt came to, as health sees it. */
export type AttemptHealth =
  | { kind: 'success' }
  /** `openForMs`: a 429's retry-after; `timeoutMs`: the attempt timed out after that long. */
  | { kind: 'failure'; openForMs?: number; timeoutMs?: number }
  /** The request stopped before the attempt ended (client gone, deadline): nothing learnt. */
  | { kind: 'stopped' };

/**
 * Passive health for one request: reads every target's state from the store in one batched
 * read, answers availability from that snapshot and the clock, and reports what this request
 * learns as atomic store operations, keeping the state each returns. A probe it takes always
 * ends: with a success, a failure, or released when the request stops.
 */
export class HealthGate {
  readonly #records = new Map<string, TargetHealth | undefined>();
  /** Probes this request holds, with the end of each lease (to release only its own). */
  readonly #probes = new Map<string, number>();
  /** Whether some record holds a `closedAt` (slow start may lower its weight). */
  #ramping = false;

  constructor(
    private readonly shared: SharedHealth,
    private readonly onChange?: (change: BreakerChange) => void,
  ) {}

  /** Loads the state of `targets`; resolves at once when the store answers synchronously. */
  load(targets: readonly TargetNode[]): void | Promise<void> {
    const keys: string[] = [];
    for (const target of targets) {
      const key = this.shared.keyOf(target);
      if (!this.#records.has(key)) {
        this.#records.set(key, undefined);
        keys.push(key);
      }
    }
    if (keys.length === 0) return;
    const now = this.shared.now();
    const states = this.shared.store.run(
      'snapshot',
      (store) => store.snapshot(keys, now),
      (local) => local.snapshot(keys, now),
    );
    const keep = (values: (TargetHealth | undefined)[]) => {
      for (let index = 0; index < keys.length; index++) {
        this.#keep(keys[index] as string, values[index]);
      }
    };
    if (isPromise(states)) return states.then(keep);
    keep(states);
  }

  #keep(key: string, health: TargetHealth | undefined): void {
    this.#records.set(key, health);
    if (health?.closedAt !== undefined) this.#ramping = true;
  }

  availability(target: TargetNode): Availability {
    const key = this.shared.keyOf(target);
    const record = this.#records.get(key);
    const now = this.shared.now();
    const state = breakerState(record, now);
    if (state === 'closed' || state === 'half-open' || this.#probes.has(key)) return available;
    const health = record as TargetHealth;
    const retryAt =
      state === 'probing'
        ? Math.min(health.probeUntil, now + probeBusyRetryMs)
        : availableAgainAt(health);
    return { available: false, retryAt, rateLimited: state === 'open' && health.rateLimited };
  }

  /**
   * Before an attempt: true when it may go. A half-open target lets exactly one request (across
   * every replica sharing the store) through as its probe, for at most `probeTtlMs`.
   */
  beginAttempt(target: TargetNode, probeTtlMs: number): boolean | Promise<boolean> {
    const key = this.shared.keyOf(target);
    if (this.#probes.has(key)) return true;
    const record = this.#records.get(key);
    const now = this.shared.now();
    const state = breakerState(record, now);
    if (state === 'closed') return true;
    if (state !== 'half-open') return false;
    const granted = this.shared.store.run(
      'tryProbe',
      (store) => store.tryProbe(key, now, probeTtlMs),
      (local) => local.tryProbe(key, now, probeTtlMs),
    );
    const decide = (won: boolean) => {
      if (won) this.#probes.set(key, now + probeTtlMs);
      else
        this.#records.set(key, { ...(record as TargetHealth), probeUntil: now + probeBusyRetryMs });
      return won;
    };
    return isPromise(granted) ? granted.then(decide) : decide(granted);
  }

  /**
   * The weight to pick `target` with now: lowered by slow start while its breaker has only
   * just closed (as the last snapshot or this request's own probe says), else its own.
   */
  weightOf(target: TargetNode): number {
    const closedAt = this.#records.get(this.shared.keyOf(target))?.closedAt;
    if (closedAt === undefined) return target.weight;
    return slowStartWeight(
      target.weight,
      closedAt,
      this.shared.now(),
      this.shared.defaults.slowStartMs,
    );
  }

  /** Whether slow start is on: otherwise weights are never lowered. */
  get slowStart(): boolean {
    return this.shared.defaults.slowStartMs > 0;
  }

  /** Whether a target of this request may be ramping: picks then use {@link weightOf}. */
  get ramping(): boolean {
    return this.#ramping;
  }

  /** Whether a provider status counts against the target. */
  isFailureStatus(target: TargetNode, status: number): boolean {
    const statuses = this.shared.policyOf(target).failureStatusCodes;
    return statuses === undefined ? status === 429 || status >= 500 : statuses.includes(status);
  }

  /**
   * Reports an attempt's outcome. Resolves once a failure is recorded (bounded by the store
   * timeout), so that the request's next step sees the state it led to; successes and released
   * probes are not waited for.
   */
  endAttempt(target: TargetNode, outcome: AttemptHealth): void | Promise<void> {
    const key = this.shared.keyOf(target);
    const heldUntil = this.#probes.get(key);
    const probing = this.#probes.delete(key);
    const now = this.shared.now();
    switch (outcome.kind) {
      case 'stopped':
        if (probing) this.#fireAndForget(this.#release(key, heldUntil));
        return;
      case 'success':
        this.#fireAndForget(this.#success(target, key, now, probing));
        return;
      case 'failure':
        return this.#failure(target, key, now, outcome, probing);
    }
  }

  #failure(
    target: TargetNode,
    key: string,
    now: number,
    outcome: { openForMs?: number; timeoutMs?: number },
    probing: boolean,
  ): void | Promise<void> {
    const base = this.shared.policyOf(target).failure;
    // A hang is only learnt of at its timeout: a timeout counts in a window long enough to hold
    // `failureThreshold` timeouts in a row, so that hangs longer than the window still add up.
    const hangsWindow = (outcome.timeoutMs ?? 0) * Math.max(1, base.failureThreshold);
    const policy: FailurePolicy = {
      ...base,
      windowMs: Math.max(base.windowMs, hangsWindow),
      openForMs: outcome.openForMs ?? 0,
    };
    const after = this.shared.store.run(
      'recordFailure',
      (store) => store.recordFailure(key, now, policy),
      (local) => local.recordFailure(key, now, policy),
      probing,
    );
    const before = this.#records.get(key);
    const keep = (health: TargetHealth) => {
      this.#keep(key, health);
      // Opened by this very operation (not found open): its state starts at `now`.
      const opened = health.openUntil > now && health.windowStart === now && health.failures === 0;
      if (opened && before?.openUntil !== health.openUntil) {
        this.onChange?.({ target, key, state: 'open', until: health.openUntil });
      }
    };
    if (isPromise(after)) return after.then(keep);
    keep(after);
  }

  #success(target: TargetNode, key: string, now: number, probing: boolean): MaybePromise<void> {
    const { failure } = this.shared.policyOf(target);
    const countRequests = failure.failureThresholdPercentage > 0;
    // Without the percentage rule only a probe's success changes anything: no store call.
    if (!probing && !countRequests) return;
    const policy = {
      windowMs: failure.windowMs,
      countRequests,
      slowStartMs: this.shared.defaults.slowStartMs,
    };
    const after = this.shared.store.run(
      'recordSuccess',
      (store) => store.recordSuccess(key, now, policy),
      (local) => local.recordSuccess(key, now, policy),
      probing,
    );
    const keep = (health: TargetHealth | undefined) => {
      this.#keep(key, health);
      if (probing && breakerState(health, now) === 'closed') {
        this.onChange?.({ target, key, state: 'closed' });
      }
    };
    if (isPromise(after)) return after.then(keep);
    keep(after);
  }

  #release(key: string, heldUntil: number | undefined): MaybePromise<void> {
    return this.shared.store.run(
      'releaseProbe',
      (store) => store.releaseProbe(key, heldUntil),
      (local) => local.releaseProbe(key, heldUntil),
      true,
    );
  }

  #fireAndForget(result: MaybePromise<void>): void {
    // FailOpenStore never rejects; a listener of onChange may throw, which is its own affair.
    if (isPromise(result)) result.catch(ignore);
  }
}

/** What every request's gate shares: the store, the policies and target identities. */
export class SharedHealth {
  readonly #keys = new WeakMap<TargetNode, string>();
  readonly #policies = new WeakMap<TargetNode, TargetPolicy>();
  readonly store: FailOpenStore;

  constructor(
    store: StateStore,
    readonly defaults: BreakerDefaults,
    private readonly providers: ProviderRegistry,
    readonly now: () => number,
    options: { timeoutMs: number; onStoreFailure: (failure: StoreFailure) => void },
  ) {
    // The memory store answers synchronously and never fails: the wrapper then only passes through.
    this.store = new FailOpenStore(store, options.timeoutMs, now, options.onStoreFailure);
    this.store.init();
  }

  /**
   * A target's identity: provider, base URL, the credential fields its provider marks as
   * identity (Azure's deployment) and a hash of its secrets. Two configs naming the same
   * deployment with the same key share health; no secret itself is ever stored.
   */
  keyOf(target: TargetNode): string {
    let key = this.#keys.get(target);
    if (key === undefined) {
      key = targetIdentity(this.providers, target);
      this.#keys.set(target, key);
    }
    return key;
  }

  /** The server's defaults with the target's inherited `cb_config` over them. */
  policyOf(target: TargetNode): TargetPolicy {
    let policy = this.#policies.get(target);
    if (policy === undefined) {
      policy = resolvePolicy(this.defaults, target.circuitBreaker);
      this.#policies.set(target, policy);
    }
    return policy;
  }
}

/**
 * A target's identity in shared state (health, in-flight counts, usage budgets): provider, base
 * URL, the credential fields its provider marks as identity (Azure's deployment) and a hash of
 * its secrets, never a secret.
 */
export function targetIdentity(providers: ProviderRegistry, target: TargetNode): string {
  const base = upstreamBaseOf(providers, target);
  const spec = adapterOf(providers, target.provider).credentials;
  const identity: string[] = [];
  for (const [name, field] of Object.entries(spec.fields)) {
    if (field.identity === true) identity.push(target.credentials[name] ?? '-');
  }
  const secrets = secretValues(spec, target.credentials);
  const keyHash =
    secrets.length === 0
      ? '-'
      : createHash('sha256').update(secrets.join('\n')).digest('hex').slice(0, 16);
  return `${target.provider} ${base.origin}${base.pathPrefix} ${identity.join(' ') || '-'} ${keyHash}`;
}

function resolvePolicy(defaults: BreakerDefaults, own: BreakerOverrides | undefined): TargetPolicy {
  // A cb_config that asks for a failure percentage without a count wants the percentage only.
  const countOff =
    own?.failureThresholdPercentage !== undefined && own.failureThreshold === undefined;
  return {
    failure: {
      failureThreshold: countOff ? 0 : (own?.failureThreshold ?? defaults.failureThreshold),
      failureThresholdPercentage:
        own?.failureThresholdPercentage ?? defaults.failureThresholdPercentage,
      minimumRequests: own?.minimumRequests ?? defaults.minimumRequests,
      windowMs: defaults.windowMs,
      cooldownMs: own?.cooldownMs ?? defaults.cooldownMs,
      openForMs: 0,
    },
    failureStatusCodes: own?.failureStatusCodes ?? defaults.failureStatusCodes,
  };
}

function ignore(): void {
  // See #fireAndForget.
}
