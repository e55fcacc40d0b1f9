import type { TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import type { ProvidersOptions } from '../types.js';
import { anthropicProvider } from './anthropic.js';
import { azureOpenAIProvider } from './azure-openai.js';
import { bedrockProvider } from './bedrock/bedrock.js';
import { googleProvider } from './google/google.js';
import { openaiProvider } from './openai.js';
import { type CompatibleEntry, openaiCompatibleCatalog } from './openai-compatible/catalog.js';
import { openaiCompatibleProvider } from './openai-compatible/openai-compatible.js';
import type { ProviderAdapter, UpstreamBase } from './provider.js';
import { serverDefinedProviders } from './provider-rules.js';
import { parseUpstreamURL } from './upstream-base.js';

/**
 * Every provider a target can name on this server, built from its per-provider options: the
 * built-in ones and the server-defined ones. Look adapters up with {@link adapterOf}.
 */
export type ProviderRegistry = Readonly<Record<string, ProviderAdapter>>;

export function createProviderRegistry(options: ProvidersOptions = {}): ProviderRegistry {
  const registry: Record<string, ProviderAdapter> = {
    openai: openaiProvider(options.openai),
    anthropic: anthropicProvider(options.anthropic),
    'azure-openai': azureOpenAIProvider(options['azure-openai']),
    google: googleProvider(options.google),
    bedrock: bedrockProvider(options.bedrock),
  };
  for (const entry of openaiCompatibleCatalog as readonly CompatibleEntry[]) {
    registry[entry.name] = openaiCompatibleProvider(entry, options[entry.name]);
  }
  for (const [name, entry, own] of serverDefinedProviders(options)) {
    registry[name] = openaiCompatibleProvider(entry, own);
  }
  return registry;
}

/**
 * The adapter of a provider. Config checks admit only this server's providers, so a miss is
 * a bug, reported as such rather than as a TypeError.
 */
export function adapterOf(registry: ProviderRegistry, provider: string): ProviderAdapter {
  const adapter = Object.hasOwn(registry, provider) ? registry[provider] : undefined;
  if (adapter === undefined) {
    throw new LoadBalancerError('ERR_INTERNAL', `No adapter for provider ${provider}`);
  }
  return adapter;
}

// Request configs can name many hosts: a bounded cache rather than one that grows forever.
const customBases = new BoundedCache<string, UpstreamBase>(1000);

/**
 * Where a target's calls go: its `custom_host` when it has one (already checked against the
 * server's policy), otherwise its provider's base URL.
 */
export function upstreamBaseOf(registry: ProviderRegistry, target: TargetNode): UpstreamBase {
  if (target.customHost === undefined) return adapterOf(registry, target.provider).base(target);
  let base = customBases.get(target.customHost);
  if (base === undefined) {
    base = parseUpstreamURL(target.customHost, 'custom_host', 'ERR_CONFIG_INVALID');
    customBases.set(target.customHost, base);
  }
  return base;
}
