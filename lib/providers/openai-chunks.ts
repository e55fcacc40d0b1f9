import type { Operation, Params } from '../types.js';

/**
 * OpenAI's answer shapes as the translating providers write them (Anthropic, Gemini, Bedrock):
 * the chunks of a stream, and the usage of an answer. One definition, so that every provider's
 * stream reads the same to OpenAI's clients.
 */

type Json = Record<string, unknown>;

/** The fields every chunk of an answer repeats: its id, `object`, `created` and model. */
export function chunkEnvelope(
  operation: Operation,
  id: string,
  created: number,
  model: string,
): Json {
  return {
    id,
    object: operation === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created,
    model,
  };
}

/**
 * One streamed delta as a chunk: `delta` for chat, `text` for a text completion (which has no
 * role: undefined for a role-only delta, which is then not sent).
 */
export function deltaChunk(
  operation: Operation,
  envelope: Json,
  delta: Json,
  finishReason: string | null,
  index = 0,
): Json | undefined {
  if (operation === 'chat') {
    return {
      ...envelope,
      choices: [{ index, delta, finish_reason: finishReason, logprobs: null }],
    };
  }
  if (delta.role !== undefined) return undefined;
  const text = typeof delta.content === 'string' ? delta.content : '';
  return { ...envelope, choices: [{ index, text, finish_reason: finishReason, logprobs: null }] };
}

/** A chunk as an SSE event. */
export function sseEvent(chunk: unknown): string {
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/**
 * Token counts as OpenAI's `usage`, where prompt tokens include cached ones (read and written),
 * as Anthropic and Bedrock count them apart.
 */
export function openAIUsage(counts: {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
}): Params {
  const prompt = counts.input + counts.cacheRead + counts.cacheWrite;
  return {
    prompt_tokens: prompt,
    completion_tokens: counts.output,
    total_tokens: prompt + counts.output,
    prompt_tokens_details: {
      cached_tokens: counts.cacheRead,
      cache_creation_tokens: counts.cacheWrite,
    },
  };
}

/** OpenAI's error event, which ends a translated stream that failed. */
export function errorEvent(type: string, code: string, message: string): string {
  return sseEvent({ error: { message, type, param: null, code } });
}
