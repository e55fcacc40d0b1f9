import type { FailurePolicy, PinMove, StateStore, SuccessPolicy, TargetHealth } from '../types.js';
import {
  afterFailure,
  afterProbe,
  afterRelease,
  afterSuccess,
  keepUntil,
} from './circuit-breaker.js';

interface Entry<T> {
  value: T;
  /** The caller's clock: the entry is gone from then on. */
  expiresAt: number;
}

/**
 * The default {@link StateStore}: Maps in this process, answering synchronously (JavaScript runs
 * each operation to its end, so each is atomic). Bounded, so that request-supplied targets (each
 * distinct key is a distinct target) cannot grow it without limit: beyond `capacity` entries the
 * least recently changed go first; an entry also goes once it has expired. Share state between
 * replicas with `redisStore()` or your own store.
 */
export class MemoryStore implements StateStore {
  readonly #health = new Map<string, Entry<TargetHealth>>();
  readonly #counters = new Map<string, Entry<number>>();
  readonly #pins = new Map<string, Entry<string>>();

  /** @param capacity Entries kept of each kind (health, counters, pins). Defaults to `10000`. */
  constructor(readonly capacity = 10_000) {}

  snapshot(keys: readonly string[], now: number): (TargetHealth | undefined)[] {
    return keys.map((key) => this.#read(this.#health, key, now));
  }

  recordFailure(key: string, now: number, policy: FailurePolicy): TargetHealth {
    const before = this.#read(this.#health, key, now);
    const after = afterFailure(before, now, policy);
    if (after !== before) {
      // A failure counted while slow start ramps keeps the state as long as the ramp needs it.
      const held = after.closedAt === undefined ? 0 : (this.#health.get(key)?.expiresAt ?? 0);
      const until = keepUntil(after, policy.windowMs, policy.cooldownMs);
      this.#write(this.#health, key, after, Math.max(until, held));
    }
    return after;
  }

  recordSuccess(key: string, now: number, policy: SuccessPolicy): TargetHealth | undefined {
    const before = this.#read(this.#health, key, now);
    const after = afterSuccess(before, now, policy);
    if (after === undefined) this.#health.delete(key);
    else if (after !== before) {
      const ramp = after.closedAt === undefined ? 0 : after.closedAt + (policy.slowStartMs ?? 0);
      this.#write(this.#health, key, after, Math.max(keepUntil(after, policy.windowMs, 0), ramp));
    }
    return after;
  }

  tryProbe(key: string, now: number, ttlMs: number): boolean {
    const entry = this.#health.get(key);
    const before = this.#read(this.#health, key, now);
    const { granted, health } = afterProbe(before, now, ttlMs);
    if (entry !== undefined && health !== undefined && health !== before) {
      entry.value = health;
      entry.expiresAt = Math.max(entry.expiresAt, health.probeUntil);
    }
    return granted;
  }

  releaseProbe(key: string, heldUntil?: number): void {
    const entry = this.#health.get(key);
    if (entry === undefined) return;
    if (heldUntil !== undefined && entry.value.probeUntil !== heldUntil) return;
    const after = afterRelease(entry.value);
    if (after !== undefined) entry.value = after;
  }

  increment(key: string, by: number, now: number, ttlMs: number): number {
    const value = (this.#read(this.#counters, key, now) ?? 0) + by;
    this.#write(this.#counters, key, value, now + ttlMs);
    return value;
  }

  counters(keys: readonly string[], now: number): number[] {
    return keys.map((key) => this.#read(this.#counters, key, now) ?? 0);
  }

  pin(key: string, now: number, move?: PinMove): string | undefined {
    const held = this.#read(this.#pins, key, now);
    if (move === undefined || (held !== undefined && held !== move.from)) return held;
    this.#write(this.#pins, key, move.to, now + move.ttlMs);
    return move.to;
  }

  #read<T>(map: Map<string, Entry<T>>, key: string, now: number): T | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  #write<T>(map: Map<string, Entry<T>>, key: string, value: T, expiresAt: number): void {
    // Re-inserting keeps the Map ordered by last change, so the oldest come first.
    map.delete(key);
    if (map.size >= this.capacity) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
    map.set(key, { value, expiresAt });
  }
}
