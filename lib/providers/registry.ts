import type { TargetNode } from '../config/config-tree.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import type { LoadBalancerOptions, ProviderName } from '../types.js';
import { anthropicProvider } from './anthropic.js';
import { azureOpenAIProvider } from './azure-openai.js';
import { bedrockProvider } from './bedrock/bedrock.js';
import { googleProvider } from './google/google.js';
import { openaiProvider } from './openai.js';
import type { ProviderAdapter, UpstreamBase } from './provider.js';
import { parseUpstreamURL } from './upstream-base.js';

/** Every supported provider, built from the server's per-provider options. */
export type ProviderRegistry = Readonly<Record<ProviderName, ProviderAdapter>>;

export function createProviderRegistry(
  options: LoadBalancerOptions['providers'] = {},
): ProviderRegistry {
  return {
    openai: openaiProvider(options.openai),
    anthropic: anthropicProvider(options.anthropic),
    'azure-openai': azureOpenAIProvider(options['azure-openai']),
    google: googleProvider(options.google),
    bedrock: bedrockProvider(options.bedrock),
  };
}

// Request configs can name many hosts: a bounded cache rather than one that grows forever.
const customBases = new BoundedCache<string, UpstreamBase>(1000);

/**
 * Where a target's calls go: its `custom_host` when it has one (already checked against the
 * server's policy), otherwise its provider's base URL.
 */
export function upstreamBaseOf(registry: ProviderRegistry, target: TargetNode): UpstreamBase {
  if (target.customHost === undefined) return registry[target.provider].base(target);
  let base = customBases.get(target.customHost);
  if (base === undefined) {
    base = parseUpstreamURL(target.customHost, 'custom_host', 'ERR_CONFIG_INVALID');
    customBases.set(target.customHost, base);
  }
  return base;
}
