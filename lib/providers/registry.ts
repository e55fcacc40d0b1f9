import type { LoadBalancerOptions, ProviderName } from '../types.js';
import { anthropicProvider } from './anthropic.js';
import { azureOpenAIProvider } from './azure-openai.js';
import { openaiProvider } from './openai.js';
import type { ProviderAdapter } from './provider.js';

/** Every supported provider, built from the server's per-provider options. */
export type ProviderRegistry = Readonly<Record<ProviderName, ProviderAdapter>>;

export const providerNames: readonly ProviderName[] = ['openai', 'anthropic', 'azure-openai'];

export function createProviderRegistry(
  options: LoadBalancerOptions['providers'] = {},
): ProviderRegistry {
  return {
    openai: openaiProvider(options.openai),
    anthropic: anthropicProvider(options.anthropic),
    'azure-openai': azureOpenAIProvider(options['azure-openai']),
  };
}
