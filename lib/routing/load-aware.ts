import { BoundedCache } from '../shared/bounded-cache.js';
import { pickByWeight, type Weighted } from './weighted-pick.js';

/**
 * Load-aware picks with the power of two choices (Mitzenmacher): sample two candidates by
 * weight, keep the better one. Comparing two instead of scanning all keeps the pick from
 * herding: every replica reading the same (slightly stale) counts would otherwise send its
 * next requests to the same single "best" target. Pure: counts and latencies are given, the
 * random source is injected.
 */

/** A candidate of a least-busy pick: its weight and the requests in flight on it. */
export interface BusyCandidate extends Weighted {
  readonly inFlight: number;
}

/** A candidate of a least-latency pick: its weight and its latency estimate, if measured. */
export interface LatencyCandidate extends Weighted {
  readonly ewmaMs: number | undefined;
}

/**
 * Index of the less busy of two candidates sampled by weight, comparing `inFlight / weight`:
 * a weight is a capacity multiplier, so a target of weight 2 holding 4 requests is as busy as
 * one of weight 1 holding 2. On a tie (idle targets, the usual case at low traffic) the first
 * sample wins, so an idle pool is picked by weight as before. -1 when no weight is positive.
 */
export function pickLeastBusy(candidates: readonly BusyCandidate[], random: () => number): number {
  return pickBetterOfTwo(candidates, random, (a, b) => load(a) < load(b));
}

/**
 * Index of the faster of two candidates sampled by weight, comparing their latency EWMA;
 * a candidate never measured (or forgotten) counts as fastest, so it is measured. With
 * probability `explorationRate` the pick is a plain weighted one instead, so a target that
 * was slow (and so rarely wins) is measured again once it has recovered.
 */
export function pickLeastLatency(
  candidates: readonly LatencyCandidate[],
  random: () => number,
  explorationRate = 0.05,
): number {
  if (random() < explorationRate) return pickByWeight(candidates, random);
  return pickBetterOfTwo(candidates, random, (a, b) => (a.ewmaMs ?? 0) < (b.ewmaMs ?? 0));
}

function load(candidate: BusyCandidate): number {
  return Math.max(0, candidate.inFlight) / candidate.weight;
}

/** Two distinct samples by weight; the second wins only when strictly better. */
function pickBetterOfTwo<C extends Weighted>(
  candidates: readonly C[],
  random: () => number,
  better: (a: C, b: C) => boolean,
): number {
  const first = pickByWeight(candidates, random);
  if (first === -1) return -1;
  // Sampling the second among the others (weight 0 for the first) keeps the pair distinct.
  const others = candidates.map((candidate, index) =>
    index === first ? { weight: 0 } : candidate,
  );
  const second = pickByWeight(others, random);
  if (second === -1) return first;
  return better(candidates[second] as C, candidates[first] as C) ? second : first;
}

/** Options of {@link EwmaLatency}. */
export interface EwmaLatencyOptions {
  /** Epoch milliseconds; injected so tests drive time. */
  now: () => number;
  /** Age at which a sample counts half as much as a new one. Defaults to `10_000`. */
  halfLifeMs?: number;
  /**
   * Age of the last sample after which a target's estimate is forgotten (treated as never
   * measured, so the next least-latency pick prefers it and measures it). Defaults to six
   * half-lives (`60_000` with the default half-life).
   */
  staleAfterMs?: number;
  /** Targets remembered; the oldest is forgotten beyond. Defaults to `1024`. */
  capacity?: number;
}

interface Estimate {
  value: number;
  at: number;
}

/** The least share of the estimate a new sample takes, whatever the time since the last. */
const minSampleWeight = 0.1;

/**
 * Per-replica latency estimates (time to first byte) keyed by target id, decayed mostly by
 * time rather than by sample count: a target sampled rarely is not stuck with an old value
 * (one sample after a long gap nearly replaces it). Per replica by
 * design: latency is measured where the request runs, and sharing it would cost a store
 * round-trip per answer for an estimate that is noisy anyway.
 */
export class EwmaLatency {
  readonly #estimates: BoundedCache<string, Estimate>;
  readonly #now: () => number;
  readonly #halfLifeMs: number;
  readonly #staleAfterMs: number;

  constructor(options: EwmaLatencyOptions) {
    this.#now = options.now;
    this.#halfLifeMs = options.halfLifeMs ?? 10_000;
    this.#staleAfterMs = options.staleAfterMs ?? 6 * this.#halfLifeMs;
    this.#estimates = new BoundedCache(options.capacity ?? 1024);
  }

  /** Adds a sample of `ms` for target `id`. Negative or non-finite samples are ignored. */
  record(id: string, ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    const now = this.#now();
    const previous = this.#current(id, now);
    if (previous === undefined) {
      this.#estimates.set(id, { value: ms, at: now });
      return;
    }
    // The old value's share halves every half-life since it was last updated, and each sample
    // takes at least a tenth: answers arriving in the same millisecond still count.
    const decayed = 0.5 ** (Math.max(0, now - previous.at) / this.#halfLifeMs);
    const keep = Math.min(decayed, 1 - minSampleWeight);
    this.#estimates.set(id, { value: keep * previous.value + (1 - keep) * ms, at: now });
  }

  /** The estimate for `id` in milliseconds, or undefined when never measured or stale. */
  get(id: string): number | undefined {
    return this.#current(id, this.#now())?.value;
  }

  #current(id: string, now: number): Estimate | undefined {
    const estimate = this.#estimates.get(id);
    if (estimate === undefined || now - estimate.at > this.#staleAfterMs) return undefined;
    return estimate;
  }
}
