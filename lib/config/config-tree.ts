import type { Credentials } from '../providers/credentials.js';
import type { CompiledConditions } from '../routing/conditions.js';
import type { UsageLimits } from '../routing/usage-budget.js';
import type { Params, StrategyMode, TargetProviderName } from '../types.js';

/** How one target retries its own failures. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly attempts: number;
  /** Statuses worth retrying (connection errors and timeouts always are). */
  readonly onStatusCodes: readonly number[];
  /** Whether a provider's `retry-after` (and `-ms` variants) sets the wait. */
  readonly useRetryAfterHeader: boolean;
}

/** Retry statuses when a `retry` gives none: rate limits and server errors. */
export const defaultRetryStatusCodes: readonly number[] = [429, 500, 502, 503, 504];

/**
 * A config's own circuit-breaker policy (Portkey's `strategy.cb_config`), merged field by field
 * down the tree; what it leaves out comes from the server's `circuitBreaker` option.
 */
export interface BreakerOverrides {
  readonly failureThreshold?: number;
  /** 1 to 100. */
  readonly failureThresholdPercentage?: number;
  readonly minimumRequests?: number;
  /** Portkey's `cooldown_interval`, in milliseconds. */
  readonly cooldownMs?: number;
  readonly failureStatusCodes?: readonly number[];
}

/** A leaf of the resolved config: one provider call. Immutable; shared across requests. */
export interface TargetNode {
  readonly kind: 'target';
  /** Value of `x-portkey-last-used-option-index`: `1` (Format 1) or `config.targets[1]` (Format 2). */
  readonly label: string;
  readonly weight: number;
  /** A built-in provider or one the server defines. */
  readonly provider: TargetProviderName;
  /**
   * Its provider's credential fields (camelCase names, see the provider's `credentials`), from
   * the config or a virtual key; checked against the provider's rules.
   */
  readonly credentials: Credentials;
  /** Merged down the tree, child wins; undefined when no node set any. */
  readonly overrideParams: Params | undefined;
  readonly requestTimeout: number | undefined;
  /** Inherited from the closest node that sets one; undefined means no retries. */
  readonly retry: RetryPolicy | undefined;
  /** The server-held key this target uses, by name; its credentials are already resolved. */
  readonly virtualKey: string | undefined;
  /** A base URL replacing the provider's (Portkey's `custom_host`). Inherited. */
  readonly customHost: string | undefined;
  /** Client headers forwarded to this target on top of the server's allowlist. Inherited. */
  readonly forwardHeaders: readonly string[] | undefined;
  /** The closest strategies' `cb_config`, merged; undefined when none sets one. */
  readonly circuitBreaker: BreakerOverrides | undefined;
  /** The target's `name`, which a conditional strategy's `then` and `default` refer to. */
  readonly name: string | undefined;
  /** The target's own `rpm` / `tpm` budget; undefined when it sets neither. Not inherited. */
  readonly budget: UsageLimits | undefined;
}

/** A loadbalance node's pick among its available targets. */
export type PickAlgorithm = 'weighted' | 'least-busy' | 'least-latency';

/** `strategy.sticky`, resolved: undefined when absent or `enabled: false`. */
export interface StickyPolicy {
  readonly hashFields: readonly string[];
  /** How long a session that moved off its target stays where it moved. */
  readonly ttlMs: number;
}

/** An inner node: a strategy over its targets. */
export interface StrategyNode {
  readonly kind: 'strategy';
  readonly label: string;
  readonly weight: number;
  readonly mode: StrategyMode;
  /**
   * Statuses that count as a failure of a target: `fallback` moves on, `loadbalance` re-picks
   * among the others. Undefined: any non-2xx for `fallback`, no re-pick for `loadbalance`.
   */
  readonly onStatusCodes: readonly number[] | undefined;
  readonly targets: readonly ConfigNode[];
  /** The node's own `name`, when a conditional parent refers to it. */
  readonly name: string | undefined;
  /** `loadbalance` only; `weighted` unless `strategy.algorithm` says otherwise. */
  readonly algorithm: PickAlgorithm;
  /** `loadbalance` only. */
  readonly sticky: StickyPolicy | undefined;
  /** `conditional` only: the rules, compiled once per config. */
  readonly conditions: CompiledConditions | undefined;
}

/** Which routing rules a tree uses, so that a request that uses none does no work for them. */
export interface RoutingFeatures {
  readonly sticky: boolean;
  readonly leastBusy: boolean;
  readonly leastLatency: boolean;
  /** Some target has its own `rpm` or `tpm` (virtual keys' budgets are the server's to know). */
  readonly budgets: boolean;
  readonly conditional: boolean;
}

export type ConfigNode = TargetNode | StrategyNode;

/** A validated config, in one shape whatever format it came in. */
export interface ConfigTree {
  readonly format: 'v1' | 'v2';
  readonly root: ConfigNode;
  /** Every target of the tree, in document order. */
  readonly targets: readonly TargetNode[];
  readonly features: RoutingFeatures;
}

/** The routing rules a resolved tree uses. */
export function routingFeaturesOf(
  root: ConfigNode,
  targets: readonly TargetNode[],
): RoutingFeatures {
  const features = {
    sticky: false,
    leastBusy: false,
    leastLatency: false,
    budgets: targets.some((target) => target.budget !== undefined),
    conditional: false,
  };
  const visit = (node: ConfigNode): void => {
    if (node.kind === 'target') return;
    if (node.sticky !== undefined) features.sticky = true;
    if (node.algorithm === 'least-busy') features.leastBusy = true;
    if (node.algorithm === 'least-latency') features.leastLatency = true;
    if (node.conditions !== undefined) features.conditional = true;
    node.targets.forEach(visit);
  };
  visit(root);
  return features;
}

/** A node's id in routing state (sticky order, events): its `name`, else its path. */
export function routingIdOf(node: ConfigNode): string {
  return node.name ?? node.label;
}

/** Where a target sits, as errors name it: `config.options[1]` (Format 1) or its path (Format 2). */
export function targetPath(tree: ConfigTree, target: TargetNode): string {
  return tree.format === 'v1' ? `config.options[${target.label}]` : target.label;
}
