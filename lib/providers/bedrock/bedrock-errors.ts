import type { OpenAIErrorBody } from '../../errors.js';
import { isRecord } from '../../shared/values.js';

/**
 * Bedrock's errors in OpenAI's shape. Bedrock says what went wrong in a header,
 * `x-amzn-errortype: ValidationException:http://internal.amazon.com/coral/...`, and puts only
 * `{message}` in the body; inside an event stream, an exception frame names it in
 * `:exception-type` (`throttlingException`). Both become the same OpenAI `code`: the exception's
 * name as the AWS SDK spells it (`ValidationException`, `ThrottlingException`).
 */

/** OpenAI error types (which the `openai` SDK maps to its error classes) by Bedrock exception. */
const errorTypes: Record<string, string> = {
  ValidationException: 'invalid_request_error',
  SerializationException: 'invalid_request_error',
  UnknownOperationException: 'invalid_request_error',
  MissingAuthenticationTokenException: 'authentication_error',
  IncompleteSignatureException: 'authentication_error',
  InvalidSignatureException: 'authentication_error',
  UnrecognizedClientException: 'authentication_error',
  ExpiredTokenException: 'authentication_error',
  AccessDeniedException: 'permission_error',
  ResourceNotFoundException: 'not_found_error',
  ThrottlingException: 'rate_limit_error',
  ServiceQuotaExceededException: 'rate_limit_error',
  ModelTimeoutException: 'timeout_error',
};

/**
 * The exception's name from an `x-amzn-errortype` header (`Name:namespace-url`), a body's
 * `__type` (`namespace#Name`) or an `:exception-type` header (`throttlingException`), in the
 * AWS SDK's spelling; undefined when none names one.
 */
export function bedrockExceptionName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.split(':')[0]?.split('#').pop()?.trim() ?? '';
  if (!/^[A-Za-z][A-Za-z0-9]{0,99}$/.test(name)) return undefined;
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The OpenAI error `type` for a Bedrock exception, or by status when it names none we know. */
export function bedrockErrorType(exception: string | undefined, status: number): string {
  const known = exception === undefined ? undefined : errorTypes[exception];
  if (known !== undefined) return known;
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

/**
 * A Bedrock error answer in OpenAI's error shape. `errorType` is the `x-amzn-errortype` response
 * header, which the adapter contract must pass (today's `errorBody(status, body)` sees no
 * headers); without it the body's `__type`, then the status, decide.
 */
export function bedrockErrorBody(
  status: number,
  body: unknown,
  errorType: string | undefined,
): OpenAIErrorBody {
  const record = isRecord(body) ? body : {};
  const exception = bedrockExceptionName(errorType) ?? bedrockExceptionName(record.__type);
  const text = record.message ?? record.Message;
  return {
    error: {
      message:
        typeof text === 'string' && text !== ''
          ? text
          : `Provider bedrock answered with status ${status}`,
      type: bedrockErrorType(exception, status),
      param: null,
      code: exception ?? 'ERR_UPSTREAM_ERROR',
    },
  };
}
