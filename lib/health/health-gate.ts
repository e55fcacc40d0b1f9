import { createHash } from 'node:crypto';
import type { TargetNode } from '../config/config-tree.js';
import { type ProviderRegistry, upstreamBaseOf } from '../providers/registry.js';
import type { Availability } from '../routing/run-plan.js';
import type { HealthRecord, HealthStore } from '../types.js';
import {
  afterFailure,
  availableAgainAt,
  type BreakerPolicy,
  breakerState,
  withProbe,
} from './circuit-breaker.js';

const available: Availability = { available: true, retryAt: 0 };

/** What the health gate reports when a breaker opens or closes. */
export interface BreakerChange {
  target: TargetNode;
  /** The target's health identity (never its key). */
  key: string;
  state: 'open' | 'closed';
  /** Epoch milliseconds the target is ejected until (open only). */
  until?: number;
}

/**
 * Passive health for one request: reads each target's record from the store once, answers
 * availability from that snapshot and the clock, and writes back what this request learnt.
 */
export class HealthGate {
  readonly #records = new Map<string, HealthRecord | undefined>();

  constructor(
    private readonly shared: SharedHealth,
    private readonly now: () => number,
    private readonly onChange?: (change: BreakerChange) => void,
  ) {}

  /** Loads the records of `targets`; resolves at once when the store answers synchronously. */
  load(targets: readonly TargetNode[]): void | Promise<void> {
    const pending: Promise<void>[] = [];
    for (const target of targets) {
      const key = this.shared.keyOf(target);
      if (this.#records.has(key)) continue;
      const record = this.shared.store.get(key);
      if (isPromise(record)) {
        this.#records.set(key, undefined);
        pending.push(record.then((value) => void this.#records.set(key, value)));
      } else {
        this.#records.set(key, record);
      }
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  }

  availability(target: TargetNode): Availability {
    const record = this.#records.get(this.shared.keyOf(target));
    const state = breakerState(record, this.now());
    if (state === 'closed' || state === 'half-open') return available;
    return { available: false, retryAt: availableAgainAt(record as HealthRecord) };
  }

  /** Before an attempt: a half-open target lets this request be its one probe. */
  beginAttempt(target: TargetNode): boolean {
    const key = this.shared.keyOf(target);
    const record = this.#records.get(key);
    const now = this.now();
    const state = breakerState(record, now);
    if (state === 'open' || state === 'probing') return false;
    if (state === 'half-open')
      this.#write(key, withProbe(record as HealthRecord, now, this.shared.policy));
    return true;
  }

  recordSuccess(target: TargetNode): void {
    const key = this.shared.keyOf(target);
    const record = this.#records.get(key);
    // Failures count within their window whatever succeeds in between; only a probe's success
    // (a breaker that had opened) clears the record.
    if (record === undefined || record.openUntil === 0) return;
    this.#write(key, undefined);
    this.onChange?.({ target, key, state: 'closed' });
  }

  /** A failure (`openForMs`: a 429's retry-after, which ejects at once). */
  recordFailure(target: TargetNode, openForMs?: number): void {
    const key = this.shared.keyOf(target);
    const before = this.#records.get(key);
    const now = this.now();
    const after = afterFailure(before, now, this.shared.policy, openForMs);
    this.#write(key, after);
    if (after.openUntil > now && (before === undefined || before.openUntil !== after.openUntil)) {
      this.onChange?.({ target, key, state: 'open', until: after.openUntil });
    }
  }

  #write(key: string, record: HealthRecord | undefined): void {
    this.#records.set(key, record);
    const written = this.shared.store.set(key, record);
    // A shared store that fails must not fail the request; health is advisory.
    if (isPromise(written)) written.catch(this.shared.onStoreError ?? ignore);
  }
}

/** What every request's gate shares: the store, the policy and target identities. */
export class SharedHealth {
  readonly #keys = new WeakMap<TargetNode, string>();

  constructor(
    readonly store: HealthStore,
    readonly policy: BreakerPolicy,
    private readonly providers: ProviderRegistry,
    readonly onStoreError?: (error: unknown) => void,
  ) {}

  /**
   * A target's identity: provider, base URL, Azure deployment and a hash of the key. Two configs
   * naming the same deployment with the same key share health; the key itself is never stored.
   */
  keyOf(target: TargetNode): string {
    let key = this.#keys.get(target);
    if (key === undefined) {
      const base = upstreamBaseOf(this.providers, target);
      const keyHash =
        target.apiKey === undefined
          ? '-'
          : createHash('sha256').update(target.apiKey).digest('hex').slice(0, 16);
      key = `${target.provider} ${base.origin}${base.pathPrefix} ${target.azure?.deploymentId ?? '-'} ${keyHash}`;
      this.#keys.set(target, key);
    }
    return key;
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

function ignore(): void {
  // See #write.
}
