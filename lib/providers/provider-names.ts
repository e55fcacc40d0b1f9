import {
  type CompatibleProviderName,
  openaiCompatibleCatalog,
} from './openai-compatible/catalog.js';

/** Providers with an adapter of their own (one file or folder each). */
const nativeProviderNames = ['openai', 'anthropic', 'azure-openai', 'google', 'bedrock'] as const;

/** Providers a target can name. */
export type ProviderName = (typeof nativeProviderNames)[number] | CompatibleProviderName;

/**
 * Every built-in provider a target can name, in one list: `ProviderName`, the registry, the
 * `providers` option check and the README's table derive from it. It imports only the
 * OpenAI-compatible catalog (static data), so that the schema and the public types can read it
 * without pulling in the adapters.
 */
export const providerNames: readonly ProviderName[] = [
  ...nativeProviderNames,
  ...openaiCompatibleCatalog.map((entry) => entry.name),
];

/**
 * What a provider name looks like, built-in or server-defined (`local-vllm`): the config schema
 * checks this shape; which names exist is checked against the server's providers.
 */
export const providerNamePattern = '^[a-z0-9][a-z0-9._-]{0,63}$';
