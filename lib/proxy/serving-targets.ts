import type { ConfigNode, ConfigTree, TargetNode } from '../config/config-tree.js';
import { targetPath } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import type { ProviderAdapter } from '../providers/provider.js';
import { adapterOf, type ProviderRegistry } from '../providers/registry.js';
import type { Operation } from '../types.js';

/**
 * What a request needs of a target's provider: an operation (embeddings), or an inbound API
 * served natively or through a translation. Needs are few and fixed (one per operation, a few
 * per inbound route), so the pruned trees are cached per need.
 */
export interface Need {
  /** Names the need in the cache; equal keys must mean equal `serves`. */
  readonly key: string;
  /** Ends "which has no ... API" in the refusal. */
  readonly description: string;
  serves(adapter: ProviderAdapter): boolean;
}

const operationNames: Record<Operation, string> = {
  chat: 'chat completions',
  complete: 'text completions',
  embed: 'embeddings',
};

/** The need of each plain operation, built once. */
export const operationNeeds: Readonly<Record<Operation, Need>> = {
  chat: operationNeed('chat'),
  complete: operationNeed('complete'),
  embed: operationNeed('embed'),
};

function operationNeed(operation: Operation): Need {
  return {
    key: operation,
    description: operationNames[operation],
    serves: (adapter) => adapter.operations.has(operation),
  };
}

/** A config tree without the targets that cannot serve a need, and those targets. */
export interface ServingTree {
  /** The config's own tree when every target serves the need. */
  readonly tree: ConfigTree;
  /** The targets left out of the choice, in document order, and why (shown by the dry run). */
  readonly leftOut: readonly LeftOut[];
}

/** A target that cannot serve the request. */
export interface LeftOut {
  readonly target: TargetNode;
  /** `provider anthropic has no embeddings API`. */
  readonly reason: string;
}

/**
 * Operation-aware selection: a target whose provider cannot serve the request is left out of
 * the choice (as if its weight were 0, and skipped by a fallback), and only when no target can
 * serve it is the request refused, naming the targets. Pruned once per (tree, need): configs are
 * immutable and shared across requests, so the hot path pays one WeakMap and one Map lookup.
 */
export class ServingTargets {
  readonly #cache = new WeakMap<ConfigTree, Map<string, ServingTree>>();

  constructor(private readonly providers: ProviderRegistry) {}

  /** The tree a request with this need runs; throws ERR_OPERATION_UNSUPPORTED when none serves. */
  of(tree: ConfigTree, need: Need): ServingTree {
    let byNeed = this.#cache.get(tree);
    if (byNeed === undefined) {
      byNeed = new Map();
      this.#cache.set(tree, byNeed);
    }
    let serving = byNeed.get(need.key);
    if (serving === undefined) {
      serving = this.#prune(tree, need);
      byNeed.set(need.key, serving);
    }
    return serving;
  }

  #prune(tree: ConfigTree, need: Need): ServingTree {
    const excluded = new Set(
      tree.targets.filter((target) => !need.serves(adapterOf(this.providers, target.provider))),
    );
    if (excluded.size === 0) return { tree, leftOut: [] };
    if (excluded.size === tree.targets.length) throw unsupported(tree, need);
    const leftOut = [...excluded].map((target) => ({
      target,
      reason: `provider ${target.provider} has no ${need.description} API`,
    }));
    const root = pruned(tree.root, excluded, (strategy, child) => {
      throw new LoadBalancerError(
        'ERR_OPERATION_UNSUPPORTED',
        `${nodePath(tree, child)} cannot serve this request (no ${need.description} API) and a condition of ${nodePath(tree, strategy)}.strategy may choose it`,
        { param: nodePath(tree, child) },
      );
    }) as ConfigNode;
    return {
      // Spread: fields other parts of the config add to a tree stay as they are.
      tree: { ...tree, root, targets: tree.targets.filter((target) => !excluded.has(target)) },
      leftOut,
    };
  }
}

/**
 * The serving tree narrowed to `kept` targets, its strategies and their rules as they are (a
 * continued response may go to any target of the account that stored it, chosen as usual);
 * undefined when that would take from a conditional strategy a child its rules may pick.
 */
export function narrowedTo(
  serving: ServingTree,
  kept: ReadonlySet<TargetNode>,
): ServingTree | undefined {
  const { tree } = serving;
  const excluded = new Set(tree.targets.filter((target) => !kept.has(target)));
  if (excluded.size === 0) return serving;
  if (excluded.size === tree.targets.length) return undefined;
  let root: ConfigNode | undefined;
  try {
    root = pruned(tree.root, excluded, () => {
      throw new ConditionalChildLost();
    });
  } catch (error) {
    if (error instanceof ConditionalChildLost) return undefined;
    throw error;
  }
  if (root === undefined) return undefined;
  return {
    tree: { ...tree, root, targets: tree.targets.filter((target) => kept.has(target)) },
    leftOut: serving.leftOut,
  };
}

class ConditionalChildLost extends Error {}

/**
 * A node without the excluded targets (and without strategies left empty); undefined when
 * nothing of it remains. Targets keep their identity, so health and routing state keyed on them
 * is shared with the full tree. A conditional strategy's rules name its children, so one that
 * would lose a child is not pruned: `lost` refuses the request instead (a rule could pick it).
 */
function pruned(
  node: ConfigNode,
  excluded: ReadonlySet<TargetNode>,
  lost: (strategy: ConfigNode, child: ConfigNode) => never,
): ConfigNode | undefined {
  if (node.kind === 'target') return excluded.has(node) ? undefined : node;
  const targets: ConfigNode[] = [];
  let changed = false;
  for (const child of node.targets) {
    const kept = pruned(child, excluded, lost);
    if (kept === undefined && node.mode === 'conditional') lost(node, child);
    if (kept !== child) changed = true;
    if (kept !== undefined) targets.push(kept);
  }
  if (!changed) return node;
  return targets.length === 0 ? undefined : { ...node, targets };
}

function nodePath(tree: ConfigTree, node: ConfigNode): string {
  return node.kind === 'target' ? targetPath(tree, node) : node.label;
}

/** No target serves the need: the refusal names every target and its provider. */
function unsupported(tree: ConfigTree, need: Need): LoadBalancerError {
  const reasons = tree.targets.map(
    (target) =>
      `${targetPath(tree, target)} routes to provider ${target.provider}, which has no ${need.description} API`,
  );
  const first = tree.targets[0];
  return new LoadBalancerError('ERR_OPERATION_UNSUPPORTED', reasons.join('; '), {
    param: first === undefined ? null : targetPath(tree, first),
  });
}
