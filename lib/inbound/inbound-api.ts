import type { NativeApi, ProviderAdapter, StreamTranslator } from '../providers/provider.js';
import type { Need } from '../proxy/serving-targets.js';
import { isRecord } from '../shared/values.js';
import type { Params } from '../types.js';
import { anthropicErrorBody } from './anthropic-errors-out.js';
import {
  anthropicToChatParams,
  chatCompletionToAnthropicMessage,
} from './anthropic-messages-in.js';
import { OpenAIToAnthropicStream } from './anthropic-stream-out.js';
import { chatCompletionToResponse, responsesToChatParams } from './responses-in.js';
import { ChatToResponsesStream } from './responses-stream-out.js';

/**
 * An inbound API: a client API other than OpenAI chat (Anthropic's Messages, OpenAI's
 * Responses) that the middleware serves on its own route. A provider that offers the API
 * natively (`ProviderAdapter.native`) gets the request as it is; any other is sent the request
 * as OpenAI chat params, and its answer (already in OpenAI's shape after the provider adapter's
 * own translation) is re-expressed in the client's API by the {@link InboundAnswer} the
 * prepared request carries.
 */
export interface InboundApi {
  /** The native API of the same name that providers may offer. */
  readonly native: NativeApi;
  /** How this route words errors; undefined for OpenAI's shape. */
  readonly errorShape: ErrorShape | undefined;
  /** What a target must offer to serve this request (some requests need the native API). */
  needOf(params: Params): Need;
  /** How it is served by providers without the native API; absent when it is native only. */
  readonly translation?: InboundTranslation;
  /**
   * For an API whose native answers are stored by the provider: the id of the stored answer a
   * request continues (`previous_response_id`), which pins it to the target that produced it.
   * Its presence also has the ids of native answers remembered.
   */
  readonly continues?: (params: Params) => string | undefined;
}

/** An inbound API through OpenAI chat, for providers that do not serve it natively. */
export interface InboundTranslation {
  /** The request as OpenAI chat params; may throw ERR_PARAMS_INVALID or ERR_OPERATION_UNSUPPORTED. */
  toChat(params: Params, adapter: ProviderAdapter): Params;
  /** The answer translation for a translated request (the client's request echoes in it). */
  answerOf(params: Params): InboundAnswer;
}

/** An OpenAI chat answer re-expressed in the client's API. */
export interface InboundAnswer {
  /** A `chat.completion` as the API's answer; throws ERR_UPSTREAM_INVALID_RESPONSE when it cannot. */
  responseBody(completion: unknown, created: number): unknown;
  /** An OpenAI chunk stream as the API's event stream. */
  streamTranslator(created: number): StreamTranslator;
}

/** How a route words errors: the body of an error answer, and the event that ends a cut stream. */
export interface ErrorShape {
  body(status: number, openAIBody: unknown): unknown;
  event(status: number, openAIBody: unknown): string;
}

const anthropicErrors: ErrorShape = {
  body: anthropicErrorBody,
  event: (status, body) =>
    `event: error\ndata: ${JSON.stringify(anthropicErrorBody(status, body))}\n\n`,
};

/** A need met by the native API, or also by chat completions through the translation. */
function inboundNeed(
  key: string,
  description: string,
  native: NativeApi,
  translated: boolean,
): Need {
  return {
    key,
    description,
    serves: (adapter) =>
      adapter.native?.[native] !== undefined || (translated && adapter.operations.has('chat')),
  };
}

const messagesNeed = inboundNeed(
  'anthropic-messages',
  'Anthropic Messages or chat completions',
  'anthropic-messages',
  true,
);
const serverToolsNeed = inboundNeed(
  'anthropic-messages-native',
  'native Anthropic Messages (needed by the server tools in this request)',
  'anthropic-messages',
  false,
);

/** Google and Bedrock take `top_k`; OpenAI-shaped APIs answer 400 to it. */
const topKProviders = new Set<string>(['google', 'bedrock']);

/** `POST /v1/messages`: Anthropic's Messages API. */
export const anthropicMessagesApi: InboundApi = {
  native: 'anthropic-messages',
  errorShape: anthropicErrors,
  needOf: (params) => (usesServerTools(params) ? serverToolsNeed : messagesNeed),
  translation: {
    toChat: (params, adapter) =>
      anthropicToChatParams(params, { supportsTopK: topKProviders.has(adapter.name) }),
    answerOf: () => ({
      responseBody: (completion) => chatCompletionToAnthropicMessage(completion),
      streamTranslator: () => new OpenAIToAnthropicStream(),
    }),
  },
};

const countTokensNeed = inboundNeed(
  'anthropic-count-tokens',
  'Anthropic token counting',
  'anthropic-count-tokens',
  false,
);

/** `POST /v1/messages/count_tokens`: Anthropic targets only (no other provider counts them alike). */
export const anthropicCountTokensApi: InboundApi = {
  native: 'anthropic-count-tokens',
  errorShape: anthropicErrors,
  needOf: () => countTokensNeed,
};

const responsesNeed = inboundNeed(
  'openai-responses',
  'OpenAI Responses or chat completions',
  'openai-responses',
  true,
);
const statefulResponsesNeed = inboundNeed(
  'openai-responses-native',
  'native OpenAI Responses (needed for server-side state or built-in tools)',
  'openai-responses',
  false,
);

/** `POST /v1/responses`: OpenAI's Responses API. */
export const openAIResponsesApi: InboundApi = {
  native: 'openai-responses',
  errorShape: undefined,
  needOf: (params) => (needsProviderState(params) ? statefulResponsesNeed : responsesNeed),
  translation: {
    toChat: (params) => responsesToChatParams(params),
    answerOf: (params) => ({
      responseBody: (completion, created) => chatCompletionToResponse(completion, params, created),
      streamTranslator: (created) => new ChatToResponsesStream(params, created),
    }),
  },
  continues: (params) =>
    typeof params.previous_response_id === 'string' && params.previous_response_id !== ''
      ? params.previous_response_id
      : undefined,
};

/** Anthropic's server tools (web search, code execution, ...) carry a `type` other than custom. */
function usesServerTools(params: Params): boolean {
  const tools = params.tools;
  return (
    Array.isArray(tools) &&
    tools.some((tool) => isRecord(tool) && tool.type !== undefined && tool.type !== 'custom')
  );
}

/**
 * Whether a Responses request needs what only OpenAI's own API keeps or runs: a stored response
 * or conversation, stored prompts, background runs, built-in tools (anything but functions).
 */
function needsProviderState(params: Params): boolean {
  if (params.previous_response_id != null || params.conversation != null) return true;
  if (params.store === true || params.background === true || params.prompt != null) return true;
  const tools = params.tools;
  return Array.isArray(tools) && tools.some((tool) => isRecord(tool) && tool.type !== 'function');
}
