import { createHash } from 'node:crypto';
import {
  type ConfigNode,
  type ConfigTree,
  routingIdOf,
  type StrategyNode,
  type TargetNode,
} from '../config/config-tree.js';
import type { FailOpenStore } from '../health/fail-open-store.js';
import { isPromise } from '../shared/values.js';
import type { TokenUsage } from '../telemetry/events.js';
import type { MaybePromise, PinMove } from '../types.js';
import type { ConditionFacts } from './conditions.js';
import { EwmaLatency, pickLeastBusy, pickLeastLatency } from './load-aware.js';
import { rendezvousOrder, type StickyFacts, stickyKeyOf } from './rendezvous.js';
import type { Availability, Choice } from './run-plan.js';
import {
  admitted,
  counterTtlMs,
  overBudget,
  type UsageCounts,
  type UsageLimits,
  type UsageWindow,
  usageKey,
  windowOf,
} from './usage-budget.js';

/**
 * The routing rules that need state (sticky sessions, load-aware picks, usage budgets) for one
 * middleware ({@link SharedRouting}) and one request ({@link RoutingGate}). Counters and sticky
 * moves live in the shared store through the fail-open wrapper: a slow or broken store turns
 * them into per-replica state, never into a failed or stalled request. Every change is one
 * atomic store operation (`increment`, `pin`); reads are one batched `counters` per request.
 */

/** What the routing of every request shares. */
export interface SharedRoutingOptions {
  readonly store: FailOpenStore;
  /** A target's identity in shared state (as the health state keys it). */
  readonly keyOf: (target: TargetNode) => string;
  readonly now: () => number;
  readonly random: () => number;
  /** Budgets of server-held keys, by virtual key name. */
  readonly virtualKeyBudgets: ReadonlyMap<string, UsageLimits>;
  /** How long an in-flight count outlives its last change (a crashed replica's requests). */
  readonly inFlightTtlMs: number;
  /** The share of least-latency picks made by weight alone, so every target stays measured. */
  readonly explorationRate: number;
}

/** Where a budget is counted: a target's own, or its virtual key's. */
interface BudgetScope {
  /** The counter's scope in {@link usageKey}. */
  readonly id: string;
  readonly kind: 'target' | 'virtual-key';
  readonly limits: UsageLimits;
}

/** A budget skip, for events and metrics. */
export interface BudgetSkip {
  target: TargetNode;
  scope: 'target' | 'virtual-key';
  limit: 'rpm' | 'tpm';
  retryAt: number;
}

export class SharedRouting {
  readonly latency: EwmaLatency;
  readonly #keys = new WeakMap<TargetNode, string>();
  readonly #scopes = new WeakMap<TargetNode, readonly BudgetScope[]>();
  readonly #needsGate = new WeakMap<ConfigTree, boolean>();
  readonly #sticky = new WeakMap<StrategyNode, StickyNode>();
  readonly #leaves = new WeakMap<ConfigNode, readonly TargetNode[]>();

  constructor(readonly options: SharedRoutingOptions) {
    this.latency = new EwmaLatency({ now: options.now });
  }

  /** Whether a request on this tree needs a gate: false for a config using none of the rules. */
  needsGate(tree: ConfigTree): boolean {
    let needs = this.#needsGate.get(tree);
    if (needs === undefined) {
      const { features } = tree;
      needs =
        features.sticky ||
        features.leastBusy ||
        features.leastLatency ||
        tree.targets.some((target) => this.scopesOf(target).length > 0);
      this.#needsGate.set(tree, needs);
    }
    return needs;
  }

  keyOf(target: TargetNode): string {
    let key = this.#keys.get(target);
    if (key === undefined) {
      key = this.options.keyOf(target);
      this.#keys.set(target, key);
    }
    return key;
  }

  /** The budgets a target counts against: its own `rpm`/`tpm`, and its virtual key's. */
  scopesOf(target: TargetNode): readonly BudgetScope[] {
    let scopes = this.#scopes.get(target);
    if (scopes === undefined) {
      const found: BudgetScope[] = [];
      if (target.budget !== undefined) {
        found.push({ id: `t:${this.keyOf(target)}`, kind: 'target', limits: target.budget });
      }
      const held =
        target.virtualKey === undefined
          ? undefined
          : this.options.virtualKeyBudgets.get(target.virtualKey);
      if (held !== undefined) {
        found.push({ id: `vk:${target.virtualKey}`, kind: 'virtual-key', limits: held });
      }
      scopes = found;
      this.#scopes.set(target, scopes);
    }
    return scopes;
  }

  /** A sticky node's candidate ids and the store key prefix of its moves. */
  stickyNode(node: StrategyNode): StickyNode {
    let sticky = this.#sticky.get(node);
    if (sticky === undefined) {
      const ids = node.targets.map(routingIdOf);
      // The node's place and its targets' ids: another config's sessions never share its moves.
      const digest = createHash('sha256')
        .update(JSON.stringify([node.label, ids]))
        .digest('base64url')
        .slice(0, 22);
      sticky = { ids, prefix: `sticky:${digest}:` };
      this.#sticky.set(node, sticky);
    }
    return sticky;
  }

  leavesOf(node: ConfigNode): readonly TargetNode[] {
    if (node.kind === 'target') return [node];
    let leaves = this.#leaves.get(node);
    if (leaves === undefined) {
      leaves = node.targets.flatMap((child) => this.leavesOf(child));
      this.#leaves.set(node, leaves);
    }
    return leaves;
  }
}

interface StickyNode {
  readonly ids: readonly string[];
  readonly prefix: string;
}

/** What a request's rules read: its metadata, params, headers and path. */
export interface RoutingFacts extends ConditionFacts, StickyFacts {}

export interface RoutingGateOptions {
  /** A dry run reads state but changes none (no counts, no moves). */
  readonly dryRun: boolean;
  readonly onBudgetSkip?: (skip: BudgetSkip) => void;
}

/**
 * One request's routing state: the usage and in-flight counts read when it starts, the budget
 * skips it reported, and the in-flight counts it holds (each given back once).
 */
export class RoutingGate {
  readonly #counts = new Map<string, UsageCounts>();
  readonly #inFlight = new Map<string, number>();
  /** The in-flight counts this request holds, per target: the bucket each was counted in. */
  readonly #held = new Map<TargetNode, number[]>();
  /** Set when the request ended: an attempt that starts later counts nothing. */
  #ended = false;
  readonly #skipped = new Set<TargetNode>();
  #window: UsageWindow;

  constructor(
    private readonly shared: SharedRouting,
    private readonly tree: ConfigTree,
    readonly facts: RoutingFacts,
    private readonly options: RoutingGateOptions,
  ) {
    this.#window = windowOf(shared.options.now());
  }

  /** Reads the usage and in-flight counts this tree needs, in one batched read. */
  load(): MaybePromise<void> {
    const now = this.shared.options.now();
    this.#window = windowOf(now);
    const keys: string[] = [];
    const scopes: string[] = [];
    for (const target of this.tree.targets) {
      for (const scope of this.shared.scopesOf(target)) {
        if (scopes.includes(scope.id)) continue;
        scopes.push(scope.id);
        keys.push(
          usageKey('requests', this.#window, scope.id),
          usageKey('tokens', this.#window, scope.id),
        );
      }
    }
    const busy: string[] = [];
    const busyTargets: string[] = [];
    if (this.tree.features.leastBusy) {
      // A request lives within one TTL, so the current bucket and the one before hold every
      // request still in flight.
      const bucket = this.#bucketAt(now);
      for (const target of this.tree.targets) {
        const targetKey = this.shared.keyOf(target);
        if (busyTargets.includes(targetKey)) continue;
        busyTargets.push(targetKey);
        busy.push(inFlightKey(targetKey, bucket), inFlightKey(targetKey, bucket - 1));
      }
    }
    const all = [...keys, ...busy];
    if (all.length === 0) return;
    const values = this.shared.options.store.run(
      'counters',
      (store) => store.counters(all, now),
      (local) => local.counters(all, now),
    );
    const keep = (read: number[]) => {
      scopes.forEach((scope, index) => {
        this.#counts.set(scope, {
          requests: read[index * 2] ?? 0,
          tokens: read[index * 2 + 1] ?? 0,
        });
      });
      busyTargets.forEach((targetKey, index) => {
        const current = read[keys.length + index * 2] ?? 0;
        const previous = read[keys.length + index * 2 + 1] ?? 0;
        // A decrement that missed its increment's store may leave one bucket below zero.
        this.#inFlight.set(targetKey, Math.max(0, current) + Math.max(0, previous));
      });
    };
    if (isPromise(values)) return values.then(keep);
    keep(values);
  }

  /** `base` (the breaker's word), or unavailable until the window ends when over budget. */
  availability(target: TargetNode, base: Availability): Availability {
    if (!base.available) return base;
    const scopes = this.shared.scopesOf(target);
    for (const scope of scopes) {
      const counts = this.#counts.get(scope.id);
      if (counts === undefined) continue;
      const limit = overBudget(counts, scope.limits);
      if (limit === undefined) continue;
      const retryAt = this.#window.end;
      if (!this.#skipped.has(target)) {
        this.#skipped.add(target);
        this.options.onBudgetSkip?.({ target, scope: scope.kind, limit, retryAt });
      }
      return { available: false, retryAt, rateLimited: false, overBudget: true };
    }
    return base;
  }

  /**
   * Counts an attempt at `target` against its `rpm` budgets; false when one of them is full
   * (the attempt must not go). The store's atomic increment decides, so exactly `rpm` attempts
   * per window get through across every replica.
   */
  admit(target: TargetNode): MaybePromise<boolean> {
    const scopes = this.shared.scopesOf(target).filter((scope) => scope.limits.rpm !== undefined);
    if (scopes.length === 0 || this.options.dryRun) return true;
    const now = this.shared.options.now();
    const window = windowOf(now);
    const ttl = counterTtlMs(window, now);
    const counted = scopes.map((scope) => {
      const key = usageKey('requests', window, scope.id);
      return this.shared.options.store.run(
        'increment',
        (store) => store.increment(key, 1, now, ttl),
        (local) => local.increment(key, 1, now, ttl),
      );
    });
    const decide = (counts: number[]) => {
      let ok = true;
      scopes.forEach((scope, index) => {
        const count = counts[index] ?? 0;
        const known = this.#counts.get(scope.id) ?? { requests: 0, tokens: 0 };
        this.#counts.set(scope.id, { ...known, requests: Math.max(known.requests, count) });
        if (!admitted(count, scope.limits.rpm)) ok = false;
      });
      this.#window = window;
      // A refused attempt is never sent: it gives back what it took from every scope, so that
      // one full budget (the target's) does not use up another (its virtual key's).
      if (!ok) {
        for (const scope of scopes) {
          const key = usageKey('requests', window, scope.id);
          fireAndForget(
            this.shared.options.store.run(
              'increment',
              (store) => store.increment(key, -1, now, ttl),
              (local) => local.increment(key, -1, now, ttl),
            ),
          );
        }
      }
      return ok;
    };
    if (counted.some(isPromise)) return Promise.all(counted).then(decide);
    return decide(counted as number[]);
  }

  /** Adds an answer's tokens to the `tpm` budgets of its target. */
  countTokens(target: TargetNode, usage: TokenUsage | undefined): void {
    if (usage === undefined || !(usage.totalTokens > 0) || this.options.dryRun) return;
    const now = this.shared.options.now();
    const window = windowOf(now);
    for (const scope of this.shared.scopesOf(target)) {
      if (scope.limits.tpm === undefined) continue;
      const key = usageKey('tokens', window, scope.id);
      const ttl = counterTtlMs(window, now);
      fireAndForget(
        this.shared.options.store.run(
          'increment',
          (store) => store.increment(key, usage.totalTokens, now, ttl),
          (local) => local.increment(key, usage.totalTokens, now, ttl),
        ),
      );
    }
  }

  /** Whether any rule of this tree counts tokens, so answers must be read for `usage`. */
  get countsTokens(): boolean {
    return this.tree.targets.some((target) =>
      this.shared.scopesOf(target).some((scope) => scope.limits.tpm !== undefined),
    );
  }

  /** An attempt at `target` begins: counted in flight while least-busy picks read the counts. */
  beginInFlight(target: TargetNode): void {
    if (!this.tree.features.leastBusy || this.options.dryRun || this.#ended) return;
    const bucket = this.#bucketAt(this.shared.options.now());
    const held = this.#held.get(target);
    if (held === undefined) this.#held.set(target, [bucket]);
    else held.push(bucket);
    this.#changeInFlight(target, 1, bucket);
  }

  /** The attempt at `target` is over (answered and delivered, failed, or discarded). */
  endInFlight(target: TargetNode): void {
    const bucket = this.#held.get(target)?.pop();
    if (bucket !== undefined) this.#changeInFlight(target, -1, bucket);
  }

  /** Gives back every count this request still holds (it ended); later attempts count nothing. */
  endAll(): void {
    this.#ended = true;
    for (const [target, buckets] of this.#held) {
      for (const bucket of buckets) this.#changeInFlight(target, -1, bucket);
    }
    this.#held.clear();
  }

  /**
   * In-flight counts live in buckets of one TTL each, and a count is given back to the bucket it
   * was taken in: a count that drifts (a decrement lost to a store failure) expires with its
   * bucket, however much traffic follows, instead of being kept alive by every new increment.
   */
  #bucketAt(now: number): number {
    return Math.floor(now / this.shared.options.inFlightTtlMs);
  }

  /** A time to first byte (or to failure) of `target`, for least-latency picks. */
  recordLatency(target: TargetNode, ms: number): void {
    if (this.tree.features.leastLatency) this.shared.latency.record(this.shared.keyOf(target), ms);
  }

  /**
   * A pick by a sticky session or a load-aware algorithm, or undefined for a weighted pick.
   * `weightOf` gives the weights to pick with (slow start lowers a recovering target's).
   */
  choose(
    node: StrategyNode,
    candidates: readonly ConfigNode[],
    first: boolean,
    weightOf: (node: ConfigNode) => number,
  ): MaybePromise<Choice | undefined> {
    if (candidates.length === 0) return undefined;
    if (first && node.sticky !== undefined) {
      const key = stickyKeyOf(node.sticky.hashFields, this.facts);
      if (key !== undefined) {
        const sticky = this.#sticky(node, key, candidates, node.sticky.ttlMs);
        if (sticky !== undefined) return sticky;
      }
    }
    return this.#byAlgorithm(node, candidates, weightOf);
  }

  #byAlgorithm(
    node: StrategyNode,
    candidates: readonly ConfigNode[],
    weightOf: (node: ConfigNode) => number,
  ): Choice | undefined {
    const random = this.shared.options.random;
    switch (node.algorithm) {
      case 'weighted':
        return undefined;
      case 'least-busy': {
        const busy = candidates.map((candidate) => ({
          weight: weightOf(candidate),
          inFlight: this.#inFlightOf(candidate),
        }));
        return { index: pickLeastBusy(busy, random), reason: { rule: 'least-busy' } };
      }
      case 'least-latency': {
        const timed = candidates.map((candidate) => ({
          weight: weightOf(candidate),
          ewmaMs: this.#latencyOf(candidate),
        }));
        const index = pickLeastLatency(timed, random, this.shared.options.explorationRate);
        return { index, reason: { rule: 'least-latency' } };
      }
    }
  }

  #inFlightOf(node: ConfigNode): number {
    let sum = 0;
    for (const leaf of this.shared.leavesOf(node)) {
      sum += this.#inFlight.get(this.shared.keyOf(leaf)) ?? 0;
    }
    return sum;
  }

  /** A subtree's latency: the mean of its measured targets', undefined when none is. */
  #latencyOf(node: ConfigNode): number | undefined {
    let sum = 0;
    let measured = 0;
    for (const leaf of this.shared.leavesOf(node)) {
      const ms = this.shared.latency.get(this.shared.keyOf(leaf));
      if (ms === undefined) continue;
      sum += ms;
      measured++;
    }
    return measured === 0 ? undefined : sum / measured;
  }

  #changeInFlight(target: TargetNode, by: number, bucket: number): void {
    const key = inFlightKey(this.shared.keyOf(target), bucket);
    const now = this.shared.options.now();
    // Through the next bucket, while readers still add it up.
    const ttl = 2 * this.shared.options.inFlightTtlMs;
    fireAndForget(
      this.shared.options.store.run(
        'increment',
        (store) => store.increment(key, by, now, ttl),
        (local) => local.increment(key, by, now, ttl),
      ),
    );
  }

  /**
   * The session's target: its first choice by weighted rendezvous over the node's targets, or
   * where the store holds it after a move. When that one is not available, the session moves
   * to its next available choice, and the move is held for `ttlMs` (the first replica to move it
   * decides where, for all).
   */
  #sticky(
    node: StrategyNode,
    sessionKey: string,
    candidates: readonly ConfigNode[],
    ttlMs: number,
  ): MaybePromise<Choice | undefined> {
    const sticky = this.shared.stickyNode(node);
    const order = rendezvousOrder(
      sessionKey,
      node.targets.map((child, index) => ({
        id: sticky.ids[index] as string,
        weight: child.weight,
      })),
    );
    const indexOf = (id: string | undefined): number => {
      if (id === undefined) return -1;
      return candidates.findIndex((candidate) => routingIdOf(candidate) === id);
    };
    const pinKey = sticky.prefix + sessionKey;
    const now = this.shared.options.now();
    const decide = (held: string | undefined): MaybePromise<Choice | undefined> => {
      const current = held ?? order[0];
      const hit = indexOf(current);
      if (hit !== -1) return { index: hit, reason: { rule: 'sticky-hit' } };
      const next = order.find((id) => id !== current && indexOf(id) !== -1);
      if (next === undefined) return undefined;
      if (this.options.dryRun) return { index: indexOf(next), reason: { rule: 'sticky-move' } };
      const move: PinMove = { from: held, to: next, ttlMs };
      const moved = this.#pin(pinKey, now, move);
      const settle = (to: string | undefined): Choice => {
        // Another replica moved it first: follow, if that target is available here too.
        const index = indexOf(to);
        return { index: index === -1 ? indexOf(next) : index, reason: { rule: 'sticky-move' } };
      };
      return isPromise(moved) ? moved.then(settle) : settle(moved);
    };
    const held = this.#pin(pinKey, now, undefined);
    return isPromise(held) ? held.then(decide) : decide(held);
  }

  #pin(key: string, now: number, move: PinMove | undefined): MaybePromise<string | undefined> {
    const store = this.shared.options.store;
    return store.run(
      'pin',
      (shared) =>
        shared.pin === undefined ? store.local.pin(key, now, move) : shared.pin(key, now, move),
      (local) => local.pin(key, now, move),
    );
  }
}

function inFlightKey(targetKey: string, bucket: number): string {
  return `inflight:${bucket}:${targetKey}`;
}

function fireAndForget(result: MaybePromise<unknown>): void {
  // FailOpenStore never rejects.
  if (isPromise(result)) result.catch(() => undefined);
}
