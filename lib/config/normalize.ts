import { credentialFields, credentialSpecOf } from '../providers/credential-catalog.js';
import type { Credentials } from '../providers/credentials.js';
import { type ProviderRules, providerRules } from '../providers/provider-rules.js';
import { compileConditions, conditionProblems } from '../routing/conditions.js';
import { isForwardable } from '../security/header-policy.js';
import type { Params, ProvidersOptions, StrategyMode, TargetProviderName } from '../types.js';
import {
  type BreakerOverrides,
  type ConfigNode,
  type ConfigTree,
  defaultRetryStatusCodes,
  type PickAlgorithm,
  type RetryPolicy,
  routingFeaturesOf,
  type StickyPolicy,
  type TargetNode,
} from './config-tree.js';
import { configLimits } from './limits.js';
import { snakeCase } from './spelling.js';
import { didYouMean } from './suggest.js';
import { type ConfigProblem, schemaProblems } from './validate.js';

type RawNode = Record<string, unknown>;

/** Server-held credentials a config may name with `virtual_key`. */
export type VirtualKeyTable = ReadonlyMap<string, TargetIdentity>;

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

/** A provider with its credentials, from a node's own fields or a virtual key. */
export interface TargetIdentity {
  provider: TargetProviderName;
  credentials: Credentials;
  virtualKey: string | undefined;
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

/** Per-check state threaded through the resolution. */
interface Resolution {
  readonly problems: ConfigProblem[];
  readonly virtualKeys: VirtualKeyTable | undefined;
  readonly providers: ProviderRules;
}

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
    providers: context.providers ?? builtinRules,
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

const builtinRules = providerRules();

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
    identity: identityOf(raw, path, inherited, resolution),
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

/** Sibling names must be unique: a conditional `then` must name one node. */
function namesOf(
  targets: readonly ConfigNode[],
  path: string,
  problems: ConfigProblem[],
): string[] {
  const names: string[] = [];
  targets.forEach((target, index) => {
    if (target.name === undefined) return;
    if (names.includes(target.name)) {
      const param = `${path}.targets[${index}].name`;
      problems.push({
        param,
        message: `${param} "${target.name}" is already the name of another target of this strategy`,
      });
    }
    names.push(target.name);
  });
  return names;
}

function stickyOf(strategy: RawNode | undefined): StickyPolicy | undefined {
  const sticky = strategy?.sticky as RawNode | undefined;
  if (sticky === undefined || sticky.enabled === false) return undefined;
  return {
    hashFields: sticky.hash_fields as string[],
    ttlMs: ((sticky.ttl as number | undefined) ?? defaultStickyTtlSeconds) * 1000,
  };
}

/** Portkey's examples use an hour. */
const defaultStickyTtlSeconds = 3600;

/** A conditional node's rules, compiled; their problems name paths under `<path>.strategy`. */
function conditionsOf(
  strategy: RawNode | undefined,
  mode: StrategyMode,
  targets: readonly ConfigNode[],
  path: string,
  problems: ConfigProblem[],
) {
  const names = namesOf(targets, path, problems);
  if (mode !== 'conditional' || strategy === undefined) return undefined;
  const found = conditionProblems(strategy, names, `${path}.strategy`);
  if (found.length > 0) {
    problems.push(...found);
    return undefined;
  }
  return compileConditions(strategy, names, `${path}.strategy`);
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

/** A strategy's `cb_config` over its parent's, field by field (Portkey's inheritance). */
function breakerOverrides(
  strategy: RawNode | undefined,
  inherited: BreakerOverrides | undefined,
): BreakerOverrides | undefined {
  const raw = strategy === undefined ? undefined : field<RawNode>(strategy, 'cbConfig');
  if (raw === undefined) return inherited;
  const own: Record<string, unknown> = {
    failureThreshold: field<number>(raw, 'failureThreshold'),
    failureThresholdPercentage: field<number>(raw, 'failureThresholdPercentage'),
    minimumRequests: field<number>(raw, 'minimumRequests'),
    cooldownMs: field<number>(raw, 'cooldownInterval'),
    failureStatusCodes: field<number[]>(raw, 'failureStatusCodes'),
  };
  const merged: Record<string, unknown> = { ...inherited };
  for (const [name, value] of Object.entries(own)) if (value !== undefined) merged[name] = value;
  return merged as BreakerOverrides;
}

/**
 * The provider and credentials a node stands for: a virtual key, its own `provider` with its
 * own credentials, or (neither) its parent's, to which it may add Azure or OpenAI fields.
 * Credentials follow the provider they were given for, never another one.
 */
function identityOf(
  raw: RawNode,
  path: string,
  inherited: Inherited,
  resolution: Resolution,
): TargetIdentity | undefined {
  checkProviderName(raw, path, resolution);
  const name = field<string>(raw, 'virtualKey');
  if (name !== undefined) return virtualKeyIdentity(raw, path, name, resolution);
  const provider = raw.provider as TargetProviderName | undefined;
  if (provider !== undefined)
    return { provider, credentials: credentialsOf(raw), virtualKey: undefined };
  const parent = inherited.identity;
  if (parent === undefined) return undefined;
  if (parent.virtualKey !== undefined) {
    return virtualKeyIdentity(raw, path, parent.virtualKey, resolution, parent.credentials);
  }
  return { ...parent, credentials: overlay(parent.credentials, credentialsOf(raw)) };
}

/** The schema checks a provider name's shape; whether this server has it is checked here. */
function checkProviderName(raw: RawNode, path: string, resolution: Resolution): void {
  const provider = raw.provider;
  if (typeof provider !== 'string' || resolution.providers.names.has(provider)) return;
  const known = [...resolution.providers.names];
  resolution.problems.push({
    param: `${path}.provider`,
    message: `${path}.provider "${provider}" is not a provider of this server${didYouMean(provider, known)}`,
  });
}

/** Fields a config may not set next to a virtual key: they would send its key elsewhere. */
const keyBoundFields = [
  ...Object.keys(credentialFields).filter((name) => credentialFields[name]?.serverOnly === true),
  'customHost',
];

/** Credential fields a config may set on a virtual key's target (Azure's deployment). */
const refiningFields = Object.keys(credentialFields).filter(
  (name) => credentialFields[name]?.serverOnly !== true,
);

function virtualKeyIdentity(
  raw: RawNode,
  path: string,
  name: string,
  resolution: Resolution,
  inheritedCredentials?: Credentials,
): TargetIdentity | undefined {
  const held = resolution.virtualKeys?.get(name);
  if (held === undefined) {
    const known = [...(resolution.virtualKeys?.keys() ?? [])];
    resolution.problems.push({
      param: `${path}.virtual_key`,
      message: `${path}.virtual_key names no server-held key "${name}"${didYouMean(name, known)}`,
    });
    return undefined;
  }
  for (const camel of keyBoundFields) {
    if (field(raw, camel) !== undefined) {
      resolution.problems.push({
        param: `${path}.${snakeCase(camel)}`,
        message: `${path}.${snakeCase(camel)} cannot be combined with virtual_key: a server-held key goes only where the server sends it`,
      });
    }
  }
  const provider = raw.provider as TargetProviderName | undefined;
  if (provider !== undefined && provider !== held.provider) {
    resolution.problems.push({
      param: `${path}.provider`,
      message: `${path}.provider is ${provider} but virtual key "${name}" is for ${held.provider}`,
    });
  }
  // A deployment or API version may be chosen on the virtual key's own resource.
  const own = credentialsOf(raw);
  const base = inheritedCredentials ?? held.credentials;
  const credentials: Record<string, string | undefined> = { ...held.credentials };
  for (const field of refiningFields) {
    const value = own[field] ?? base[field];
    if (value !== undefined) credentials[field] = value;
  }
  return { provider: held.provider, credentials, virtualKey: name };
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
  resolution: Resolution,
): TargetNode {
  const { problems } = resolution;
  const identity = identityOf(raw, path, inherited, resolution);
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

/** A node's own `rpm` / `tpm` (LiteLLM's names); undefined when it sets neither. */
function budgetOf(raw: RawNode): TargetNode['budget'] {
  const rpm = raw.rpm as number | undefined;
  const tpm = raw.tpm as number | undefined;
  return rpm === undefined && tpm === undefined ? undefined : { rpm, tpm };
}

/** A key the provider needs, or a `custom_host` for a provider without a base URL here. */
function requirementProblems(
  identity: TargetIdentity,
  customHost: string | undefined,
  path: string,
  resolution: Resolution,
): ConfigProblem[] {
  const { provider, credentials } = identity;
  const { keyRequired, hostRequired } = resolution.providers;
  const problems: ConfigProblem[] = [];
  if (keyRequired.has(provider) && credentials.apiKey === undefined) {
    problems.push({
      param: `${path}.api_key`,
      message: `${path}.api_key (or a virtual_key) is required for provider ${provider}`,
    });
  }
  if (hostRequired.has(provider) && customHost === undefined) {
    problems.push({
      param: `${path}.custom_host`,
      message: `${path}.custom_host is required for provider ${provider}: it has no public API and this server sets no providers.${provider}.baseURL`,
    });
  }
  return problems;
}

function forwardHeaderProblems(
  names: readonly string[] | undefined,
  path: string,
): ConfigProblem[] {
  const refused = (names ?? []).filter((name) => !isForwardable(name));
  return refused.map((name) => ({
    param: `${path}.forward_headers`,
    message: `${path}.forward_headers may not include "${name}": credentials, x-portkey-* and hop-by-hop headers are never forwarded`,
  }));
}

/** Every credential field a node sets itself, whichever provider it is for. */
function credentialsOf(raw: RawNode): Credentials {
  const credentials: Record<string, string> = {};
  for (const name in credentialFields) {
    const value = field<string>(raw, name);
    if (value !== undefined) credentials[name] = value;
  }
  return credentials;
}

/** Only the fields the target's provider takes: another provider's never travel with it. */
function ownFields(
  credentials: Credentials,
  fields: Readonly<Record<string, unknown>>,
): Credentials {
  const own: Record<string, string> = {};
  for (const name in credentials) {
    const value = credentials[name];
    if (value !== undefined && name in fields) own[name] = value;
  }
  return own;
}

function overlay(base: Credentials, own: Credentials): Credentials {
  return { ...base, ...own };
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
  /**
   * The first problems found (at most 10); empty when valid. In a config of more than 256 nodes
   * only the first schema problem is looked for.
   */
  errors: ConfigProblem[];
  /** How many more problems were found but not described in `errors` (not deduplicated). */
  omitted: number;
}

/**
 * Checks a config of either format exactly as the middleware does, for use in a build or CI
 * step: `validateConfig(config).errors` lists each problem with its path. Pass the server's
 * `virtualKeys` and `providers` options to check virtual keys and server-defined providers
 * (and `ollama` given a base URL) as that server does.
 */
export function validateConfig(
  config: unknown,
  options: { virtualKeys?: Record<string, unknown>; providers?: ProvidersOptions } = {},
): ConfigValidationResult {
  const providers = providerRules(options.providers);
  const virtualKeys =
    options.virtualKeys === undefined
      ? undefined
      : resolveVirtualKeys(options.virtualKeys, providers);
  const { valid, problems, omitted } = checkConfig(config, { virtualKeys, providers });
  return { valid, errors: problems, omitted };
}

/**
 * The server's `virtualKeys` option as a table, each entry checked like a target that may carry
 * only a provider and its credentials. Throws on the first invalid entry.
 */
export function resolveVirtualKeys(
  table: Record<string, unknown>,
  providers: ProviderRules = builtinRules,
): VirtualKeyTable {
  const resolved = new Map<string, TargetIdentity>();
  for (const [name, entry] of Object.entries(table)) {
    const root = `virtualKeys.${name}`;
    const extra =
      typeof entry === 'object' && entry !== null
        ? Object.keys(entry).filter((key) => !virtualKeyFields.has(key))
        : [];
    const check = checkConfig(entry, { root, providers });
    const problems = [
      ...extra.map((key) => ({
        param: `${root}.${key}`,
        message: `${root}.${key} is not a credential field`,
      })),
      ...check.problems,
    ];
    if (problems.length > 0 || check.tree === undefined || check.tree.root.kind !== 'target') {
      throw new VirtualKeyError(
        problems[0] ?? {
          param: root,
          message: `${root} must be one provider with its credentials`,
        },
      );
    }
    const target = check.tree.root;
    resolved.set(name, {
      provider: target.provider,
      credentials: target.credentials,
      virtualKey: undefined,
    });
  }
  return resolved;
}

const virtualKeyFields = new Set(
  ['provider', ...Object.keys(credentialFields)].flatMap((name) => [name, snakeCase(name)]),
);

/** An invalid `virtualKeys` entry, with the first problem found. */
export class VirtualKeyError extends Error {
  constructor(readonly problem: ConfigProblem) {
    super(problem.message);
  }
}
