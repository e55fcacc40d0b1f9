import type { TargetNode } from '../../config/config-tree.js';
import { LoadBalancerError } from '../../errors.js';
import type { Operation, Params, ProviderOptions } from '../../types.js';
import { apiKeyCredentials } from '../credentials.js';
import { openAIEndpoints } from '../openai.js';
import type { ProviderAdapter, UpstreamBase } from '../provider.js';
import { parseBaseURL } from '../upstream-base.js';
import type { CompatibleEntry } from './catalog.js';
import { compatibleErrorBody } from './compatible-errors.js';
import { ErrorFrameStream } from './error-frame-stream.js';
import { requestRewrites } from './quirks.js';

/**
 * The adapter of an OpenAI-compatible provider: OpenAI's paths and shapes, a bearer key, the
 * entry's request and stream quirks. `options` are the server's `providers.<name>`; their
 * `baseURL` replaces the entry's.
 */
export function openaiCompatibleProvider(
  entry: CompatibleEntry,
  options: ProviderOptions = {},
): ProviderAdapter {
  const baseURL = options.baseURL ?? entry.baseURL;
  const base = baseURL === undefined ? undefined : parseBaseURL(baseURL, entry.name);
  const extraHeaders = { ...options.headers };
  const rewrite =
    entry.requestQuirk === undefined ? undefined : requestRewrites[entry.requestQuirk];
  const name = entry.name;
  const adapter: ProviderAdapter = {
    name,
    credentials: apiKeyCredentials,
    operations: new Set<Operation>(entry.operations),
    translatesResponses: false,
    forwardsRequestBody: rewrite === undefined,
    base: () => base ?? missingBase(name),
    endpoint: (operation) => openAIEndpoints[operation],
    headers(target: TargetNode) {
      const headers: Record<string, string> = { ...extraHeaders };
      const { apiKey } = target.credentials;
      if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
      return headers;
    },
    requestBody:
      rewrite === undefined
        ? (_operation, params: Params) => params
        : (operation, params: Params) => rewrite(operation, params),
    responseBody: (_operation, body) => body,
    errorBody: (status, body) => compatibleErrorBody(name, status, body),
  };
  if (entry.streamQuirk === 'error-frames') {
    adapter.streamTranslator = () => new ErrorFrameStream(name);
  }
  return adapter;
}

/**
 * A provider without a base URL on this server is refused when a config names it without a
 * `custom_host` (see `checkConfig`); this is the backstop should one get this far.
 */
function missingBase(provider: string): UpstreamBase {
  throw new LoadBalancerError(
    'ERR_CONFIG_INVALID',
    `Provider ${provider} has no base URL: set providers.${provider}.baseURL on the server, or an allowed custom_host on the target`,
    { param: 'custom_host' },
  );
}
