import type { Params, ProviderName, StrategyMode } from '../types.js';
import {
  type AzureDeployment,
  type ConfigNode,
  type ConfigTree,
  defaultRetryStatusCodes,
  type RetryPolicy,
  type TargetNode,
} from './config-tree.js';
import { snakeCase } from './schema.js';
import { type ConfigProblem, schemaProblems } from './validate.js';

type RawNode = Record<string, unknown>;

/** What a Format 2 node hands down to its targets. */
interface Inherited {
  provider: ProviderName | undefined;
  credentials: Credentials | undefined;
  overrideParams: Params | undefined;
  requestTimeout: number | undefined;
  retry: RetryPolicy | undefined;
}

interface Credentials {
  apiKey: string | undefined;
  azure: Partial<AzureDeployment>;
  openaiOrganization: string | undefined;
  openaiProject: string | undefined;
}

const nothingInherited: Inherited = {
  provider: undefined,
  credentials: undefined,
  overrideParams: undefined,
  requestTimeout: undefined,
  retry: undefined,
};

/** The result of checking a config: the tree when valid, every problem otherwise. */
export type ConfigCheck =
  | { valid: true; tree: ConfigTree; problems: [] }
  | { valid: false; tree: undefined; problems: ConfigProblem[] };

/**
 * Validates a config of either format against the schema and the rules the schema cannot state,
 * and resolves it into a {@link ConfigTree}. `root` prefixes every reported path.
 */
export function checkConfig(config: unknown, root = 'config'): ConfigCheck {
  const problems = schemaProblems(config, root);
  if (problems.length > 0) return { valid: false, tree: undefined, problems };
  const raw = config as RawNode;
  const isV1 = 'options' in raw || 'mode' in raw;
  const rootNode = isV1
    ? resolveV1(raw, root, problems)
    : resolveV2(raw, root, nothingInherited, problems);
  if (problems.length > 0) return { valid: false, tree: undefined, problems };
  const tree = { format: isV1 ? 'v1' : 'v2', root: rootNode, targets: leavesOf(rootNode) } as const;
  return { valid: true, tree, problems: [] };
}

function leavesOf(node: ConfigNode): TargetNode[] {
  return node.kind === 'target' ? [node] : node.targets.flatMap(leavesOf);
}

function resolveV1(raw: RawNode, root: string, problems: ConfigProblem[]): ConfigNode {
  const options = raw.options as RawNode[];
  // The root's retry and request_timeout apply to every option that sets none.
  const handedDown = { ...nothingInherited, ...commonSettings(raw, nothingInherited) };
  const targets = options.map((option, index) =>
    resolveTarget(option, `${root}.options[${index}]`, String(index), handedDown, problems),
  );
  const mode = raw.mode as StrategyMode;
  checkWeights(mode, targets, `${root}.options`, problems);
  return {
    kind: 'strategy',
    label: root,
    weight: 1,
    mode,
    onStatusCodes: field<number[]>(raw, 'onStatusCodes'),
    targets,
  };
}

function resolveV2(
  raw: RawNode,
  path: string,
  inherited: Inherited,
  problems: ConfigProblem[],
): ConfigNode {
  const children = raw.targets as RawNode[] | undefined;
  const strategy = raw.strategy as RawNode | undefined;
  if (children === undefined) {
    if (strategy !== undefined) {
      problems.push({
        param: `${path}.targets`,
        message: `${path}.targets is required with a strategy`,
      });
    }
    return resolveTarget(raw, path, path, inherited, problems);
  }
  if (strategy === undefined) {
    problems.push({
      param: `${path}.strategy`,
      message: `${path}.strategy is required with targets`,
    });
  }
  const handedDown = inheritFrom(raw, inherited);
  const targets = children.map((child, index) =>
    resolveV2(child, `${path}.targets[${index}]`, handedDown, problems),
  );
  const mode = (strategy?.mode as StrategyMode | undefined) ?? 'single';
  checkWeights(mode, targets, `${path}.targets`, problems);
  return {
    kind: 'strategy',
    label: path,
    weight: weightOf(raw),
    mode,
    onStatusCodes: strategy === undefined ? undefined : field<number[]>(strategy, 'onStatusCodes'),
    targets,
  };
}

function inheritFrom(raw: RawNode, inherited: Inherited): Inherited {
  const provider = raw.provider as ProviderName | undefined;
  return {
    provider: provider ?? inherited.provider,
    // Credentials follow the provider they were given for, never another one.
    credentials: provider === undefined ? inherited.credentials : credentialsOf(raw),
    ...commonSettings(raw, inherited),
  };
}

/** What every node hands down whatever its provider: params, timeout and retry policy. */
function commonSettings(
  raw: RawNode,
  inherited: Inherited,
): Pick<Inherited, 'overrideParams' | 'requestTimeout' | 'retry'> {
  return {
    overrideParams: mergeParams(inherited.overrideParams, field<Params>(raw, 'overrideParams')),
    requestTimeout: field<number>(raw, 'requestTimeout') ?? inherited.requestTimeout,
    // A node's retry replaces its parent's whole, as in Portkey.
    retry: retryPolicyOf(raw.retry as RawNode | undefined) ?? inherited.retry,
  };
}

function retryPolicyOf(raw: RawNode | undefined): RetryPolicy | undefined {
  if (raw === undefined) return undefined;
  return {
    attempts: raw.attempts as number,
    onStatusCodes: field<number[]>(raw, 'onStatusCodes') ?? defaultRetryStatusCodes,
    useRetryAfterHeader: field<boolean>(raw, 'useRetryAfterHeader') ?? false,
  };
}

function resolveTarget(
  raw: RawNode,
  path: string,
  label: string,
  inherited: Inherited,
  problems: ConfigProblem[],
): TargetNode {
  const own = raw.provider as ProviderName | undefined;
  const provider = own ?? inherited.provider;
  const credentials =
    own === undefined && inherited.credentials !== undefined
      ? overlay(inherited.credentials, credentialsOf(raw))
      : credentialsOf(raw);
  if (provider === undefined) {
    problems.push({ param: `${path}.provider`, message: `${path}.provider is required` });
  }
  const azure = provider === 'azure-openai' ? azureOf(credentials, path, problems) : undefined;
  return {
    kind: 'target',
    label,
    weight: weightOf(raw),
    provider: provider ?? 'openai',
    apiKey: credentials.apiKey,
    azure,
    openaiOrganization: credentials.openaiOrganization,
    openaiProject: credentials.openaiProject,
    ...commonSettings(raw, inherited),
  };
}

function credentialsOf(raw: RawNode): Credentials {
  return {
    apiKey: field<string>(raw, 'apiKey'),
    azure: {
      resourceName: field<string>(raw, 'resourceName'),
      deploymentId: field<string>(raw, 'deploymentId'),
      apiVersion: field<string>(raw, 'apiVersion'),
    },
    openaiOrganization: field<string>(raw, 'openaiOrganization'),
    openaiProject: field<string>(raw, 'openaiProject'),
  };
}

function overlay(base: Credentials, own: Credentials): Credentials {
  return {
    apiKey: own.apiKey ?? base.apiKey,
    azure: {
      resourceName: own.azure.resourceName ?? base.azure.resourceName,
      deploymentId: own.azure.deploymentId ?? base.azure.deploymentId,
      apiVersion: own.azure.apiVersion ?? base.azure.apiVersion,
    },
    openaiOrganization: own.openaiOrganization ?? base.openaiOrganization,
    openaiProject: own.openaiProject ?? base.openaiProject,
  };
}

function azureOf(
  credentials: Credentials,
  path: string,
  problems: ConfigProblem[],
): AzureDeployment | undefined {
  const { resourceName, deploymentId, apiVersion } = credentials.azure;
  for (const [name, value] of Object.entries({ resourceName, deploymentId, apiVersion })) {
    if (value === undefined) {
      problems.push({
        param: `${path}.${name}`,
        message: `${path}.${name} (or ${snakeCase(name)}) is required for provider azure-openai`,
      });
    }
  }
  if (resourceName === undefined || deploymentId === undefined || apiVersion === undefined) {
    return undefined;
  }
  return { resourceName, deploymentId, apiVersion };
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

/** Reads a field given in camelCase or snake_case; camelCase wins when both are present. */
function field<T>(raw: RawNode, camelName: string): T | undefined {
  return (raw[camelName] ?? raw[snakeCase(camelName)]) as T | undefined;
}

function mergeParams(base: Params | undefined, own: Params | undefined): Params | undefined {
  if (own === undefined) return base;
  if (base === undefined) return own;
  return { ...base, ...own };
}

/** The outcome of {@link validateConfig}. */
export interface ConfigValidationResult {
  valid: boolean;
  /** Every problem found; empty when valid. */
  errors: ConfigProblem[];
}

/**
 * Checks a config of either format exactly as the middleware does, for use in a build or CI
 * step: `validateConfig(config).errors` lists each problem with its path.
 */
export function validateConfig(config: unknown): ConfigValidationResult {
  const { valid, problems } = checkConfig(config);
  return { valid, errors: problems };
}
