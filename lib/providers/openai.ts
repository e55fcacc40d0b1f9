import type { TargetNode } from '../config/config-tree.js';
import { headerValueSchema } from '../config/field-schemas.js';
import type { Operation, Params, ProviderOptions } from '../types.js';
import { apiKeyField, type CredentialSpec } from './credentials.js';
import { openAIErrorBody } from './openai-errors.js';
import type { ProviderAdapter } from './provider.js';
import { parseBaseURL } from './upstream-base.js';

/** OpenAI's path for each operation, after the base URL (shared by the OpenAI-compatible hosts). */
export const openAIEndpoints: Readonly<Record<Operation, string>> = {
  chat: '/chat/completions',
  complete: '/completions',
  embed: '/embeddings',
};

/** OpenAI's credentials: a key, and the organization and project billed. */
export const openaiCredentials: CredentialSpec = {
  fields: {
    apiKey: apiKeyField,
    openaiOrganization: { schema: headerValueSchema, serverOnly: true },
    openaiProject: { schema: headerValueSchema, serverOnly: true },
  },
};

/**
 * How a Responses stream ends: completed or incomplete (max tokens), or failed in-band. At a
 * line start only: a newline inside an event's JSON is escaped, so model text cannot match.
 */
export const responsesStreamEvents = {
  streamEnd: ['\nevent: response.completed', '\nevent: response.incomplete'],
  streamFailure: '\nevent: response.failed',
} as const;

/** OpenAI: the reference shape, so bodies and responses pass through unchanged. */
export function openaiProvider(options: ProviderOptions = {}): ProviderAdapter {
  const base = parseBaseURL(options.baseURL ?? 'https://api.openai.com/v1', 'openai');
  const extraHeaders = { ...options.headers };
  return {
    name: 'openai',
    credentials: openaiCredentials,
    operations: new Set<Operation>(['chat', 'complete', 'embed']),
    translatesResponses: false,
    forwardsRequestBody: true,
    native: { 'openai-responses': { endpoint: () => '/responses', ...responsesStreamEvents } },
    base: () => base,
    endpoint: (operation) => openAIEndpoints[operation],
    headers(target: TargetNode) {
      const headers: Record<string, string> = { ...extraHeaders };
      const { apiKey, openaiOrganization, openaiProject } = target.credentials;
      if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
      if (openaiOrganization !== undefined) headers['openai-organization'] = openaiOrganization;
      if (openaiProject !== undefined) headers['openai-project'] = openaiProject;
      return headers;
    },
    requestBody: (_operation, params: Params) => params,
    responseBody: (_operation, body) => body,
    errorBody: (status, body) => openAIErrorBody('openai', status, body),
  };
}
