import type { TargetNode } from '../config/config-tree.js';
import type { Operation, Params, ProviderOptions } from '../types.js';
import { openAIErrorBody } from './openai-errors.js';
import type { ProviderAdapter } from './provider.js';
import { parseBaseURL } from './upstream-base.js';

/** OpenAI's path for each operation, after the base URL (shared by the OpenAI-compatible hosts). */
export const openAIEndpoints: Readonly<Record<Operation, string>> = {
  chat: '/chat/completions',
  complete: '/completions',
  embed: '/embeddings',
};

/** OpenAI: the reference shape, so bodies and responses pass through unchanged. */
export function openaiProvider(options: ProviderOptions = {}): ProviderAdapter {
  const base = parseBaseURL(options.baseURL ?? 'https://api.openai.com/v1', 'openai');
  const extraHeaders = { ...options.headers };
  return {
    name: 'openai',
    operations: new Set<Operation>(['chat', 'complete', 'embed']),
    translatesResponses: false,
    base: () => base,
    endpoint: (operation) => openAIEndpoints[operation],
    headers(target: TargetNode) {
      const headers: Record<string, string> = { ...extraHeaders };
      if (target.apiKey !== undefined) headers.authorization = `Bearer ${target.apiKey}`;
      if (target.openaiOrganization !== undefined) {
        headers['openai-organization'] = target.openaiOrganization;
      }
      if (target.openaiProject !== undefined) headers['openai-project'] = target.openaiProject;
      return headers;
    },
    requestBody: (_operation, params: Params) => params,
    responseBody: (_operation, body) => body,
    errorBody: (status, body) => openAIErrorBody('openai', status, body),
  };
}
