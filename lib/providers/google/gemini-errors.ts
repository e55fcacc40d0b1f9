import type { OpenAIErrorBody } from '../../errors.js';
import { isRecord } from '../../shared/values.js';

/**
 * Google's error body, `{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT",
 * "details": [...]}}` (inside a one-element array when a stream was asked for without
 * `alt=sse`), in OpenAI's error shape. The `status` name becomes the `code`, which is what a
 * client can branch on; `details` are dropped, since OpenAI's shape has no place for them.
 */
export function googleErrorBody(status: number, body: unknown): OpenAIErrorBody {
  const error = googleErrorOf(body);
  if (error === undefined) {
    // As openai-errors' genericErrorBody, which does not know `google` until it is registered.
    return {
      error: {
        message: `Provider google answered with status ${status}`,
        type: errorTypeOf(status),
        param: null,
        code: 'ERR_UPSTREAM_ERROR',
      },
    };
  }
  return {
    error: {
      message: error.message,
      type: errorTypeOf(error.httpCode ?? status),
      param: null,
      code: error.status ?? (error.httpCode === undefined ? null : String(error.httpCode)),
    },
  };
}

/** A Google error object's fields, or undefined when the body carries none. */
export interface GoogleError {
  message: string;
  /** Google's status name, e.g. `RESOURCE_EXHAUSTED`. */
  status: string | undefined;
  /** The HTTP status Google gives inside the body (`code`). */
  httpCode: number | undefined;
}

/** The error object of a Google error body (or of one stream frame). */
export function googleErrorOf(body: unknown): GoogleError | undefined {
  const payload = Array.isArray(body) && body.length === 1 ? body[0] : body;
  const error = isRecord(payload) && isRecord(payload.error) ? payload.error : undefined;
  if (error === undefined || typeof error.message !== 'string') return undefined;
  return {
    message: error.message,
    status: typeof error.status === 'string' ? error.status : undefined,
    httpCode: typeof error.code === 'number' ? error.code : undefined,
  };
}

/** OpenAI's error `type` for an HTTP status, as the other adapters give it. */
export function errorTypeOf(status: number): string {
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}
