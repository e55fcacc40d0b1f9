/**
 * Every provider a target can name, in one list: `ProviderName`, the config schema's provider
 * enum, the registry and the `providers` option check all derive from it. It imports nothing,
 * so that the schema and the public types can read it without pulling in the adapters.
 */
export const providerNames = ['openai', 'anthropic', 'azure-openai', 'google', 'bedrock'] as const;

/** Providers a target can name. */
export type ProviderName = (typeof providerNames)[number];
