import type { ConfigNode, TargetNode } from '../config/config-tree.js';
import { pickByWeight } from './weighted-pick.js';

/**
 * Walks the tree from `node` to one target: `single` takes the first target, `loadbalance`
 * picks by weight. Pure: the same `random` sequence gives the same target.
 */
export function selectTarget(node: ConfigNode, random: () => number): TargetNode {
  let current = node;
  while (current.kind === 'strategy') {
    const index = current.mode === 'loadbalance' ? pickByWeight(current.targets, random) : 0;
    // Validation guarantees a positive weight under every loadbalance node.
    current = current.targets[index] as ConfigNode;
  }
  return current;
}
