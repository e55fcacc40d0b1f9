import type { Params, ProviderName, StrategyMode } from '../types.js';

/** Azure resource, deployment and API version, all validated against safe character sets. */
export interface AzureDeployment {
  resourceName: string;
  deploymentId: string;
  apiVersion: string;
}

/** A leaf of the resolved config: one provider call. Immutable; shared across requests. */
export interface TargetNode {
  readonly kind: 'target';
  /** Value of `x-portkey-last-used-option-index`: `1` (Format 1) or `config.targets[1]` (Format 2). */
  readonly label: string;
  readonly weight: number;
  readonly provider: ProviderName;
  readonly apiKey: string | undefined;
  readonly azure: AzureDeployment | undefined;
  readonly openaiOrganization: string | undefined;
  readonly openaiProject: string | undefined;
  /** Merged down the tree, child wins; undefined when no node set any. */
  readonly overrideParams: Params | undefined;
  readonly requestTimeout: number | undefined;
}

/** An inner node: a strategy over its targets. */
export interface StrategyNode {
  readonly kind: 'strategy';
  readonly label: string;
  readonly weight: number;
  readonly mode: StrategyMode;
  readonly targets: readonly ConfigNode[];
}

export type ConfigNode = TargetNode | StrategyNode;

/** A validated config, in one shape whatever format it came in. */
export interface ConfigTree {
  readonly format: 'v1' | 'v2';
  readonly root: ConfigNode;
  /** Every target of the tree, in document order. */
  readonly targets: readonly TargetNode[];
}
