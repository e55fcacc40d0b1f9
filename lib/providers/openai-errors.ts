import type { OpenAIErrorBody } from '../errors.js';
import { isRecord } from '../shared/values.js';

/**
 * An OpenAI-compatible provider's error body, completed to the full OpenAI shape; keeps the
 * provider's extra fields (Azure's content-filter details, for instance).
 */
export function openAIErrorBody(provider: string, status: number, body: unknown): OpenAIErrorBody {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  if (error === undefined || typeof error.message !== 'string') {
    return genericErrorBody(provider, status);
  }
  return {
    error: {
      ...error,
      message: error.message,
      type:
        typeof error.type === 'string'
          ? error.type
          : status >= 500
            ? 'api_error'
            : 'invalid_request_error',
      param: typeof error.param === 'string' ? error.param : null,
      code:
        typeof error.code === 'string' || typeof error.code === 'number'
          ? String(error.code)
          : null,
    },
  };
}

/** The error body for a provider answer that carries no usable error object. */
export function genericErrorBody(provider: string, status: number): OpenAIErrorBody {
  return {
    error: {
      message: `Provider ${provider} answered with status ${status}`,
      type: status >= 500 ? 'api_error' : 'invalid_request_error',
      param: null,
      code: 'ERR_UPSTREAM_ERROR',
    },
  };
}
