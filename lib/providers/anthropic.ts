import { isRecord } from '../shared/values.js';
import type { AnthropicOptions, Operation, Params } from '../types.js';
import {
  completionToMessagesRequest,
  toChatCompletion,
  toMessagesRequest,
  toTextCompletion,
} from './anthropic-messages.js';
import { AnthropicToOpenAIStream } from './anthropic-stream.js';
import { apiKeyCredentials } from './credentials.js';
import { genericErrorBody } from './openai-errors.js';
import type { ProviderAdapter } from './provider.js';
import { parseBaseURL } from './upstream-base.js';

/** What an Anthropic client chooses itself: the API version and beta features. */
const anthropicClientHeaders = ['anthropic-version', 'anthropic-beta'];

/**
 * Anthropic: OpenAI chat and text completions are both sent to the Messages API (the legacy
 * text completions API is retired for current models) and the answers translated back.
 */
export function anthropicProvider(options: AnthropicOptions = {}): ProviderAdapter {
  const base = parseBaseURL(options.baseURL ?? 'https://api.anthropic.com/v1', 'anthropic');
  const fixedHeaders = { ...options.headers, 'anthropic-version': options.version ?? '2023-06-01' };
  const defaults = { maxTokens: options.defaultMaxTokens ?? 4096 };
  return {
    name: 'anthropic',
    credentials: apiKeyCredentials,
    operations: new Set<Operation>(['chat', 'complete']),
    translatesResponses: true,
    // The Messages API itself: a client that speaks it is passed through, bytes unchanged.
    native: {
      'anthropic-messages': {
        endpoint: () => '/messages',
        clientHeaders: anthropicClientHeaders,
        streamEnd: ['"message_stop"'],
      },
      'anthropic-count-tokens': {
        endpoint: () => '/messages/count_tokens',
        clientHeaders: anthropicClientHeaders,
      },
    },
    base: () => base,
    endpoint: () => '/messages',
    headers(target) {
      const headers: Record<string, string> = { ...fixedHeaders };
      if (target.credentials.apiKey !== undefined) headers['x-api-key'] = target.credentials.apiKey;
      return headers;
    },
    requestBody: (operation: Operation, params: Params) =>
      operation === 'complete'
        ? completionToMessagesRequest(params, defaults)
        : toMessagesRequest(params, defaults),
    responseBody: (operation, body, { created }) =>
      operation === 'chat' ? toChatCompletion(body, created) : toTextCompletion(body, created),
    streamTranslator: (shape) => new AnthropicToOpenAIStream(shape),
    errorBody(status, body) {
      const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
      if (error === undefined || typeof error.message !== 'string') {
        return genericErrorBody('anthropic', status);
      }
      const type = typeof error.type === 'string' ? error.type : 'api_error';
      return { error: { message: error.message, type, param: null, code: type } };
    },
  };
}
