import { credentialSpecOf } from '../providers/credential-catalog.js';
import { type ProviderRules, providerRules } from '../providers/provider-rules.js';
import type { Params, StrategyMode } from '../types.js';
import {
  type BreakerOverrides,
  type ConfigNode,
  type ConfigTree,
  type PickAlgorithm,
  type RetryPolicy,
  routingFeaturesOf,
  type TargetNode,
} from './config-tree.js';
import { configLimits } from './limits.js';
import {
  breakerOverrides,
  budgetOf,
  conditionsOf,
  forwardHeaderProblems,
  retryPolicyOf,
  stickyOf,
} from './node-settings.js';
import { field, type RawNode } from './raw-node.js';
import {
  credentialsOf,
  identityOf,
  ownFields,
  type Resolution,
  requirementProblems,
  type TargetIdentity,
  type VirtualKeyTable,
} from './target-identity.js';
import { type ConfigProblem, schemaProblems } from './validate.js';

export type { TargetIdentity, VirtualKeyTable } from './target-identity.js';

/** Where a config is checked: the path prefix for problems and the server's virtual keys. */
export interface CheckContext {
  /** Prefix of every reported path. Defaults to `config`. */
  root?: string;
  virtualKeys?: VirtualKeyTable;
  /** The server's providers (names, and which need a key or a `custom_host`). Defaults to the built-in ones. */
  providers?: ProviderRules;
  /** Runs on a schema-valid config before it is resolved; may throw to refuse it. */
  beforeResolve?: (raw: unknown) => void;
}

/** What a Format 2 node hands down to its targets. */
interface Inherited {
  identity: TargetIdentity | undefined;
  overrideParams: Params | undefined;
  requestTimeout: number | undefined;
  retry: RetryPolicy | undefined;
  customHost: string | undefined;
  forwardHeaders: readonly string[] | undefined;
  circuitBreaker: BreakerOverrides | undefined;
}

const nothingInherited: Inherited = {
  identity: undefined,
  overrideParams: undefined,
  requestTimeout: undefined,
  retry: undefined,
  customHost: undefined,
  forwardHeaders: undefined,
  circuitBreaker: undefined,
};

/**
 * The result of checking a config: the tree when valid, otherwise the first problems (at most
 * `configLimits.maxReportedProblems`) and how many more were found.
 */
export type ConfigCheck =
  | { valid: true; tree: ConfigTree; problems: []; omitted: 0; complete: true }
  | {
      valid: false;
      tree: undefined;
      problems: ConfigProblem[];
      omitted: number;
      /** False when only the first problem was looked for (a config of many nodes). */
      complete: boolean;
    };

/**
 * Validates a config of either format against the schema and the rules the schema cannot state,
 * and resolves it into a {@link ConfigTree}. `root` prefixes every reported path.
 */
export function checkConfig(config: unknown, context: CheckContext = {}): ConfigCheck {
  const root = context.root ?? 'config';
  const schema = schemaProblems(config, root);
  if (schema.problems.length > 0) {
    return { valid: false, tree: undefined, ...schema };
  }
  context.beforeResolve?.(config);
  const problems: ConfigProblem[] = [];
  const raw = config as RawNode;
  const isV1 = 'options' in raw || 'mode' in raw;
  const resolution: Resolution = {
    problems,
    virtualKeys: context.virtualKeys,
    providers: context.providers ?? builtinProviderRules,
  };
  const rootNode = isV1
    ? resolveV1(raw, root, resolution)
    : resolveV2(raw, root, nothingInherited, resolution);
  if (problems.length > 0) {
    const shown = problems.slice(0, configLimits.maxReportedProblems);
    return {
      valid: false,
      tree: undefined,
      problems: shown,
      omitted: problems.length - shown.length,
      complete: true,
    };
  }
  const targets = leavesOf(rootNode);
  const tree = {
    format: isV1 ? 'v1' : 'v2',
    root: rootNode,
    targets,
    features: routingFeaturesOf(rootNode, targets),
  } as const;
  return { valid: true, tree, problems: [], omitted: 0, complete: true };
}

/** The built-in providers' rules, for checks that are given no server's. */
export const builtinProviderRules = providerRules();

function leavesOf(node: ConfigNode): TargetNode[] {
  return node.kind === 'target' ? [node] : node.targets.flatMap(leavesOf);
}

function resolveV1(raw: RawNode, root: string, resolution: Resolution): ConfigNode {
  const options = raw.options as RawNode[];
  // The root's retry and request_timeout apply to every option that sets none.
  const handedDown = { ...nothingInherited, ...commonSettings(raw, nothingInherited) };
  const targets = options.map((option, index) =>
    resolveTarget(option, `${root}.options[${index}]`, String(index), handedDown, resolution),
  );
  const mode = raw.mode as StrategyMode;
  checkWeights(mode, targets, `${root}.options`, resolution.problems);
  return {
    kind: 'strategy',
    label: root,
    weight: 1,
    mode,
    onStatusCodes: field<number[]>(raw, 'onStatusCodes'),
    targets,
    name: undefined,
    algorithm: 'weighted',
    sticky: undefined,
    conditions: undefined,
  };
}

function resolveV2(
  raw: RawNode,
  path: string,
  inherited: Inherited,
  resolution: Resolution,
): ConfigNode {
  const { problems } = resolution;
  const children = raw.targets as RawNode[] | undefined;
  const strategy = raw.strategy as RawNode | undefined;
  if (children === undefined) {
    if (strategy !== undefined) {
      problems.push({
        param: `${path}.targets`,
        message: `${path}.targets is required with a strategy`,
      });
    }
    return resolveTarget(raw, path, path, inherited, resolution);
  }
  if (strategy === undefined) {
    problems.push({
      param: `${path}.strategy`,
      message: `${path}.strategy is required with targets`,
    });
  }
  const handedDown = {
    identity: identityOf(raw, path, inherited.identity, resolution),
    ...commonSettings(raw, inherited),
    circuitBreaker: breakerOverrides(strategy, inherited.circuitBreaker),
  };
  const targets = children.map((child, index) =>
    resolveV2(child, `${path}.targets[${index}]`, handedDown, resolution),
  );
  const mode = (strategy?.mode as StrategyMode | undefined) ?? 'single';
  if (mode !== 'conditional') checkWeights(mode, targets, `${path}.targets`, problems);
  return {
    kind: 'strategy',
    label: path,
    weight: weightOf(raw),
    mode,
    onStatusCodes: strategy === undefined ? undefined : field<number[]>(strategy, 'onStatusCodes'),
    targets,
    name: raw.name as string | undefined,
    algorithm: (strategy?.algorithm as PickAlgorithm | undefined) ?? 'weighted',
    sticky: stickyOf(strategy),
    conditions: conditionsOf(strategy, mode, targets, path, problems),
  };
}

/** What every node hands down whatever its provider: params, timeout and retry policy. */
function commonSettings(raw: RawNode, inherited: Inherited): Omit<Inherited, 'identity'> {
  return {
    overrideParams: mergeParams(inherited.overrideParams, field<Params>(raw, 'overrideParams')),
    requestTimeout: field<number>(raw, 'requestTimeout') ?? inherited.requestTimeout,
    // A node's retry replaces its parent's whole, as in Portkey.
    retry: retryPolicyOf(raw.retry as RawNode | undefined) ?? inherited.retry,
    customHost: field<string>(raw, 'customHost') ?? inherited.customHost,
    forwardHeaders: field<string[]>(raw, 'forwardHeaders') ?? inherited.forwardHeaders,
    circuitBreaker: inherited.circuitBreaker,
  };
}

function resolveTarget(
  raw: RawNode,
  path: string,
  label: string,
  inherited: Inherited,
  resolution: Resolution,
): TargetNode {
  const { problems } = resolution;
  const identity = identityOf(raw, path, inherited.identity, resolution);
  const hadVirtualKey =
    field(raw, 'virtualKey') !== undefined || inherited.identity?.virtualKey !== undefined;
  if (identity === undefined && !hadVirtualKey) {
    problems.push({ param: `${path}.provider`, message: `${path}.provider is required` });
  }
  const provider = identity?.provider ?? 'openai';
  const spec = credentialSpecOf(provider);
  const credentials = ownFields(identity?.credentials ?? credentialsOf(raw), spec.fields);
  if (identity !== undefined && spec.check !== undefined) {
    problems.push(...spec.check(credentials, path));
  }
  const settings = commonSettings(raw, inherited);
  // An own custom_host next to a virtual key is reported with the other key-bound fields; this
  // catches one inherited from above.
  const inheritedHost = field(raw, 'customHost') === undefined && settings.customHost !== undefined;
  if (identity?.virtualKey !== undefined && inheritedHost) {
    problems.push({
      param: `${path}.custom_host`,
      message: `${path}.custom_host cannot be combined with virtual_key: a server-held key goes only where the server sends it`,
    });
  }
  problems.push(...forwardHeaderProblems(settings.forwardHeaders, path));
  if (identity !== undefined) {
    problems.push(...requirementProblems(identity, settings.customHost, path, resolution));
  }
  return {
    kind: 'target',
    label,
    weight: weightOf(raw),
    provider,
    credentials,
    virtualKey: identity?.virtualKey,
    ...settings,
    name: raw.name as string | undefined,
    budget: budgetOf(raw),
  };
}

function checkWeights(
  mode: StrategyMode,
  targets: ConfigNode[],
  path: string,
  problems: ConfigProblem[],
): void {
  if (mode === 'loadbalance' && targets.every((target) => target.weight === 0)) {
    problems.push({
      param: path,
      message: `${path} has every weight set to 0: at least one target must have a positive weight`,
    });
  }
}

function weightOf(raw: RawNode): number {
  return (raw.weight as number | undefined) ?? 1;
}

function mergeParams(base: Params | undefined, own: Params | undefined): Params | undefined {
  if (own === undefined) return base;
  if (base === undefined) return own;
  return { ...base, ...own };
}
