import { LoadBalancerError } from '../../errors.js';
import type { Operation, Params, ProviderOptions } from '../../types.js';
import { apiKeyCredentials } from '../credentials.js';
import type { ProviderAdapter } from '../provider.js';
import { parseBaseURL } from '../upstream-base.js';
import { googleErrorBody } from './gemini-errors.js';
import {
  completionToGenerateContentRequest,
  toBatchEmbedContentsRequest,
  toGenerateContentRequest,
} from './gemini-request.js';
import { toChatCompletion, toEmbeddingList, toTextCompletion } from './gemini-response.js';
import { GeminiToOpenAIStream } from './gemini-stream.js';

/**
 * A Gemini model name as it may reach the URL path: a letter or digit, then letters, digits,
 * `.`, `_` or `-`, at most 128 characters, optionally after `models/` (the form Google's own
 * SDKs use, stripped here). Nothing that could change the path or query (`/`, `..` as a
 * segment, `?`, `#`, `%`, `:`, spaces, non-ASCII) can pass. Tuned models
 * (`tunedModels/...`) live under another path and are refused.
 */
const modelPattern = /^(?:models\/)?([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

/**
 * The model of a request as it goes into the path, without `models/`. Throws ERR_PARAMS_INVALID
 * naming `params.model` when it is missing or not a plain model name, before anything is sent.
 */
export function geminiModelOf(params: Params): string {
  const model = params.model;
  if (typeof model !== 'string' || model === '') {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      'params.model is required for provider google, e.g. "gemini-2.5-flash"',
      { param: 'params.model' },
    );
  }
  const match = modelPattern.exec(model);
  if (match === null) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      `params.model must be a Gemini model name (letters, digits, ".", "_" and "-", optionally after "models/"), e.g. "gemini-2.5-flash": got ${JSON.stringify(model.slice(0, 64))}`,
      { param: 'params.model' },
    );
  }
  return match[1] as string;
}

/**
 * Google Gemini's native API: the model and the method in the path
 * (`/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`, `:batchEmbedContents`),
 * the key in the `x-goog-api-key` header (never `?key=`, which would put it into URLs and logs),
 * requests and answers translated both ways by the pure functions beside this file.
 */
export function googleProvider(options: ProviderOptions = {}): ProviderAdapter {
  const base = parseBaseURL(
    options.baseURL ?? 'https://generativelanguage.googleapis.com/v1beta',
    'google',
  );
  const extraHeaders = { ...options.headers };
  return {
    name: 'google',
    credentials: apiKeyCredentials,
    operations: new Set<Operation>(['chat', 'complete', 'embed']),
    translatesResponses: true,
    base: () => base,
    endpoint(operation, _target, params) {
      const model = geminiModelOf(params);
      if (operation === 'embed') return `/models/${model}:batchEmbedContents`;
      return params.stream === true
        ? `/models/${model}:streamGenerateContent?alt=sse`
        : `/models/${model}:generateContent`;
    },
    headers(target) {
      const headers: Record<string, string> = { ...extraHeaders };
      if (target.credentials.apiKey !== undefined)
        headers['x-goog-api-key'] = target.credentials.apiKey;
      return headers;
    },
    requestBody(operation, params) {
      const model = geminiModelOf(params);
      if (operation === 'embed') return toBatchEmbedContentsRequest({ ...params, model });
      return operation === 'complete'
        ? completionToGenerateContentRequest(params)
        : toGenerateContentRequest(params);
    },
    responseBody(operation, body, shape) {
      const context = { created: shape.created, model: answerModelOf(shape.model) };
      if (operation === 'embed') {
        return toEmbeddingList(body, { ...context, encodingFormat: shape.encodingFormat });
      }
      return operation === 'chat'
        ? toChatCompletion(body, context)
        : toTextCompletion(body, context);
    },
    streamTranslator: (shape) =>
      new GeminiToOpenAIStream(shape, {
        model: answerModelOf(shape.model),
        created: shape.created,
      }),
    errorBody: googleErrorBody,
  };
}

/** The model an answer names when Gemini's carries no `modelVersion`: as asked, without `models/`. */
function answerModelOf(model: string | undefined): string {
  return model?.startsWith('models/') === true ? model.slice('models/'.length) : (model ?? '');
}
