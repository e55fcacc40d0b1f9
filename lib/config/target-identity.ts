import { credentialFields } from '../providers/credential-catalog.js';
import type { Credentials } from '../providers/credentials.js';
import type { ProviderRules } from '../providers/provider-rules.js';
import type { TargetProviderName } from '../types.js';
import { field, type RawNode } from './raw-node.js';
import { snakeCase } from './spelling.js';
import { didYouMean } from './suggest.js';
import type { ConfigProblem } from './validate.js';

/**
 * Who a target is: its provider and credentials, from its own fields, a virtual key, or its
 * parent's, checked against the server's providers and what each requires.
 */

/** Per-check state threaded through the resolution. */
export interface Resolution {
  readonly problems: ConfigProblem[];
  readonly virtualKeys: VirtualKeyTable | undefined;
  readonly providers: ProviderRules;
}

/** Server-held credentials a config may name with `virtual_key`. */
export type VirtualKeyTable = ReadonlyMap<string, TargetIdentity>;

/** A provider with its credentials, from a node's own fields or a virtual key. */
export interface TargetIdentity {
  provider: TargetProviderName;
  credentials: Credentials;
  virtualKey: string | undefined;
}

/**
 * The provider and credentials a node stands for: a virtual key, its own `provider` with its
 * own credentials, or (neither) its parent's, to which it may add Azure or OpenAI fields.
 * Credentials follow the provider they were given for, never another one.
 */
export function identityOf(
  raw: RawNode,
  path: string,
  inherited: TargetIdentity | undefined,
  resolution: Resolution,
): TargetIdentity | undefined {
  checkProviderName(raw, path, resolution);
  const name = field<string>(raw, 'virtualKey');
  if (name !== undefined) return virtualKeyIdentity(raw, path, name, resolution);
  const provider = raw.provider as TargetProviderName | undefined;
  if (provider !== undefined)
    return { provider, credentials: credentialsOf(raw), virtualKey: undefined };
  const parent = inherited;
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

/** A key the provider needs, or a `custom_host` for a provider without a base URL here. */
export function requirementProblems(
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

/** Every credential field a node sets itself, whichever provider it is for. */
export function credentialsOf(raw: RawNode): Credentials {
  const credentials: Record<string, string> = {};
  for (const name in credentialFields) {
    const value = field<string>(raw, name);
    if (value !== undefined) credentials[name] = value;
  }
  return credentials;
}

/** Only the fields the target's provider takes: another provider's never travel with it. */
export function ownFields(
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
