import { LoadBalancerError } from '../errors.js';
import { isRecord } from '../shared/values.js';

type Json = Record<string, unknown>;

/** A chat completion's first choice and its message, which inbound answers are built from. */
export interface CompletionParts {
  readonly completion: Json;
  readonly choice: Json;
  readonly message: Json;
}

/**
 * The parts of an OpenAI `chat.completion` (already translated from the provider's answer);
 * throws ERR_UPSTREAM_INVALID_RESPONSE for a body that is not one.
 */
export function completionParts(completion: unknown): CompletionParts {
  const choice =
    isRecord(completion) && Array.isArray(completion.choices) ? completion.choices[0] : undefined;
  if (!isRecord(completion) || !isRecord(choice) || !isRecord(choice.message)) {
    throw new LoadBalancerError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      'The provider answered with a body that is not a chat.completion',
    );
  }
  return { completion, choice, message: choice.message };
}
