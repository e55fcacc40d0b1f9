/**
 * Stable error codes. Tests and callers match on these, never on message text.
 * Each code maps to the HTTP status the middleware answers with.
 */
export const errorCodes = {
  /** The middleware options are invalid (thrown at construction). */
  ERR_OPTIONS_INVALID: 500,
  /** The request body is not valid JSON. */
  ERR_BODY_INVALID_JSON: 400,
  /** The request body is larger than `bodyLimit`. */
  ERR_BODY_TOO_LARGE: 413,
  /** The request body uses an encoding or charset the middleware cannot read. */
  ERR_BODY_UNSUPPORTED_ENCODING: 415,
  /** The request body is JSON but not the expected object. */
  ERR_BODY_INVALID: 400,
  /** The request carries no config and no server default exists. */
  ERR_CONFIG_MISSING: 400,
  /** The `x-portkey-config` header is neither JSON nor the name of a server config. */
  ERR_CONFIG_INVALID_JSON: 400,
  /** The config does not match the schema or its rules. */
  ERR_CONFIG_INVALID: 400,
  /** A config name (body `config` string or non-JSON `x-portkey-config`) names no server config. */
  ERR_CONFIG_NOT_FOUND: 400,
  /** The server's `requestConfig` policy refuses this request config. */
  ERR_CONFIG_FORBIDDEN: 403,
  /** A `custom_host` is not in `allowedHosts`, or resolves to an internal address. */
  ERR_HOST_NOT_ALLOWED: 400,
  /** An `x-portkey-*` header that this middleware does not honour (it would silently do nothing). */
  ERR_HEADER_UNSUPPORTED: 400,
  /** The params cannot be translated for the chosen provider. */
  ERR_PARAMS_INVALID: 400,
  /** `x-portkey-dry-run` was sent but the server's `allowDryRun` is off. */
  ERR_DRY_RUN_FORBIDDEN: 403,
  /** The chosen provider does not offer the requested operation. */
  ERR_OPERATION_UNSUPPORTED: 400,
  /** The provider could not be reached (refused, reset, DNS failure). */
  ERR_UPSTREAM_UNREACHABLE: 502,
  /** The provider did not answer within the timeout. */
  ERR_UPSTREAM_TIMEOUT: 504,
  /** The provider answered with something that is not a usable response. */
  ERR_UPSTREAM_INVALID_RESPONSE: 502,
  /** The provider's stream broke off after it had begun (sent as an event, not a status). */
  ERR_UPSTREAM_STREAM_INTERRUPTED: 502,
  /** The provider answered with an error status (the provider's own status is kept). */
  ERR_UPSTREAM_ERROR: 502,
  /** Every target that could serve the request is ejected by its circuit breaker. */
  ERR_NO_HEALTHY_TARGET: 503,
  /** Every target that could serve the request is out for its provider's rate limit (429, with the earliest `retry-after`). */
  ERR_RATE_LIMITED: 429,
  /**
   * Every target that could serve the request has used its `rpm` or `tpm` budget for the current
   * window (a target's own, or its virtual key's); `retry-after` is when the earliest window ends.
   */
  ERR_BUDGET_EXCEEDED: 429,
  /** A conditional strategy has no condition matching the request and no `default`. */
  ERR_NO_MATCHING_CONDITION: 400,
  /**
   * The `x-portkey-metadata` header is not a JSON object of string values within the bounds.
   */
  ERR_METADATA_INVALID: 400,
  /**
   * The client closed the connection before the answer ended. Never sent (no one is left to
   * read it): it is the code of the `error` event and of the metrics, with status 499.
   */
  ERR_CLIENT_CLOSED: 499,
  /** A bug in the middleware itself. */
  ERR_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** OpenAI's error `type` values, which the `openai` SDK maps to its error classes. */
export type ErrorType = 'invalid_request_error' | 'api_error' | 'timeout_error';

export interface LoadBalancerErrorDetails {
  /** The offending path (`config.options[1].weight`, `x-portkey-config`, ...). */
  param?: string | null;
  /** HTTP status to answer with; defaults to the code's status. */
  status?: number;
  /** OpenAI error type; defaults by status. */
  type?: ErrorType | string;
  cause?: unknown;
}

/** The one error class of the package: a stable `code`, an HTTP `status` and the offending `param`. */
export class LoadBalancerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | null;
  readonly type: string;

  constructor(code: ErrorCode, message: string, details: LoadBalancerErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LoadBalancerError';
    this.code = code;
    this.status = details.status ?? errorCodes[code];
    this.param = details.param ?? null;
    this.type = details.type ?? defaultErrorType(this.status);
  }

  /** The OpenAI error body, the shape every client of this middleware receives. */
  toJSON(): OpenAIErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/** `{"error": {"message", "type", "param", "code"}}`: what the `openai` SDK parses. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function defaultErrorType(status: number): string {
  if (status === 504) return 'timeout_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}
