import { isRecord } from '../shared/values.js';

/**
 * Errors on the inbound Anthropic route: our OpenAI-shaped error bodies (LoadBalancerError's
 * `toJSON()`, a provider's normalised error) in Anthropic's shape, so the Anthropic SDK raises
 * the error class a caller expects. The HTTP status is kept; the type follows from it, as
 * Anthropic documents (https://docs.anthropic.com/en/api/errors).
 */

/** Anthropic's error types. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** `{"type": "error", "error": {"type", "message"}}`. */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

const typesByStatus: Record<number, AnthropicErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/** The Anthropic error type for an HTTP status; other 4xx are invalid requests, other 5xx api errors. */
export function anthropicErrorTypeOf(status: number): AnthropicErrorType {
  return (
    typesByStatus[status] ?? (status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error')
  );
}

const anthropicTypes = new Set<string>(Object.values(typesByStatus));

/**
 * An OpenAI-shaped error body (or anything else a provider sent) as Anthropic's error body.
 * Our stable `code` stays readable in the message, since Anthropic's shape has no field for it.
 */
export function anthropicErrorBody(status: number, body: unknown): AnthropicErrorBody {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const message =
    typeof error?.message === 'string' ? error.message : `The request failed with status ${status}`;
  const code =
    typeof error?.code === 'string' && error.code.startsWith('ERR_') ? error.code : undefined;
  return {
    type: 'error',
    error: {
      type: anthropicErrorTypeOf(status),
      message: code === undefined ? message : `${message} (${code})`,
    },
  };
}

/**
 * The Anthropic error type for an error that arrives without a status (an OpenAI stream's error
 * event): an Anthropic type is kept, OpenAI's rate-limit type mapped, anything else is api_error.
 */
export function anthropicErrorTypeOfEvent(type: unknown): AnthropicErrorType {
  if (typeof type === 'string' && anthropicTypes.has(type)) return type as AnthropicErrorType;
  if (type === 'rate_limit_exceeded' || type === 'tokens') return 'rate_limit_error';
  return 'api_error';
}
