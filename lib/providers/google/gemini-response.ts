import { createHash } from 'node:crypto';
import { LoadBalancerError } from '../../errors.js';
import { isRecord, numberOr0 } from '../../shared/values.js';
import type { Params } from '../../types.js';

/**
 * Gemini answers as OpenAI answers. Every function is pure: the creation time and the model
 * asked for come in as arguments.
 */

/** What a translated answer needs besides the Gemini body. */
export interface AnswerContext {
  /** `created`, in seconds since the epoch. */
  created: number;
  /** The model asked for, used when the answer carries no `modelVersion`. */
  model: string;
}

const contentFilterReasons = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
]);

/**
 * Gemini's `finishReason` as an OpenAI `finish_reason`: `STOP` -> `stop` (or `tool_calls` when
 * the candidate called functions), `MAX_TOKENS` -> `length`, the safety family ->
 * `content_filter`, anything else (`OTHER`, `MALFORMED_FUNCTION_CALL`, `LANGUAGE`...) -> `stop`.
 * Null while the candidate is not finished.
 */
export function finishReasonOf(reason: unknown, calledFunctions: boolean): string | null {
  if (typeof reason !== 'string') return null;
  if (reason === 'MAX_TOKENS') return 'length';
  if (contentFilterReasons.has(reason)) return 'content_filter';
  return calledFunctions ? 'tool_calls' : 'stop';
}

/**
 * The id of a function call, which Gemini does not give (or gives only on some APIs): the one
 * Gemini sent when there is one, else `call_` and 24 hex digits of a SHA-256 over the response
 * id, the candidate index, the call's position among the candidate's calls, its name and its
 * arguments. The same answer gives the same ids, streamed or not, and the ids only use
 * `[a-zA-Z0-9_]`, which every provider a conversation may fall back to accepts.
 */
export function toolCallIdOf(
  responseId: string,
  candidateIndex: number,
  callIndex: number,
  call: Record<string, unknown>,
): string {
  if (typeof call.id === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(call.id)) return call.id;
  const digest = createHash('sha256')
    .update(
      [
        responseId,
        candidateIndex,
        callIndex,
        String(call.name),
        JSON.stringify(call.args ?? {}),
      ].join('\n'),
    )
    .digest('hex');
  return `call_${digest.slice(0, 24)}`;
}

function argsOf(call: Record<string, unknown>): Record<string, unknown> {
  return isRecord(call.args) ? call.args : {};
}

/**
 * Gemini's `usageMetadata` as OpenAI's `usage`. Prompt tokens include cached ones (as in
 * OpenAI) and the tokens of tool results; completion tokens include the thoughts, reported
 * again as `reasoning_tokens`, so that prompt + completion = total as OpenAI clients expect.
 */
export function usageOf(usage: unknown): Params | undefined {
  if (!isRecord(usage)) return undefined;
  const prompt = numberOr0(usage.promptTokenCount) + numberOr0(usage.toolUsePromptTokenCount);
  const thoughts = numberOr0(usage.thoughtsTokenCount);
  const completion = numberOr0(usage.candidatesTokenCount) + thoughts;
  const result: Params = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens:
      typeof usage.totalTokenCount === 'number' ? usage.totalTokenCount : prompt + completion,
    prompt_tokens_details: { cached_tokens: numberOr0(usage.cachedContentTokenCount) },
    completion_tokens_details: { reasoning_tokens: thoughts },
  };
  return result;
}

/** One candidate's parts, as OpenAI message fields. */
export interface TranslatedParts {
  text: string;
  toolCalls: Params[];
}

/**
 * Text parts joined (thought summaries, `thought: true`, left out: OpenAI's message has no
 * place for them) and function calls as OpenAI tool calls, numbered from `firstCallIndex`.
 */
export function translateParts(
  parts: unknown,
  responseId: string,
  candidateIndex: number,
  firstCallIndex = 0,
): TranslatedParts {
  let text = '';
  const toolCalls: Params[] = [];
  for (const part of Array.isArray(parts) ? parts : []) {
    if (!isRecord(part) || part.thought === true) continue;
    if (typeof part.text === 'string') text += part.text;
    if (isRecord(part.functionCall)) {
      const call = part.functionCall;
      const index = firstCallIndex + toolCalls.length;
      toolCalls.push({
        id: toolCallIdOf(responseId, candidateIndex, index, call),
        type: 'function',
        // args is a protobuf Struct: anything but an object is no argument list.
        function: { name: String(call.name), arguments: JSON.stringify(argsOf(call)) },
      });
    }
  }
  return { text, toolCalls };
}

/**
 * A `generateContent` answer as an OpenAI `chat.completion`: one choice per candidate. An
 * answer whose prompt was blocked (`promptFeedback.blockReason`, no candidates) is one empty
 * choice finished with `content_filter`, as OpenAI reports its own refusals.
 */
export function toChatCompletion(body: unknown, context: AnswerContext): Params {
  const answer = answerOf(body);
  const responseId = responseIdOf(answer, context);
  return {
    id: responseId,
    object: 'chat.completion',
    created: context.created,
    model: modelOf(answer, context),
    choices: candidatesOf(answer).map((candidate, position) => {
      const index = candidateIndexOf(candidate, position);
      const content = isRecord(candidate.content) ? candidate.content : {};
      const { text, toolCalls } = translateParts(content.parts, responseId, index);
      const message: Params = {
        role: 'assistant',
        content:
          text === '' && (toolCalls.length > 0 || !Array.isArray(content.parts)) ? null : text,
      };
      if (toolCalls.length > 0) message.tool_calls = toolCalls;
      return {
        index,
        message,
        finish_reason: finishReasonOf(candidate.finishReason, toolCalls.length > 0) ?? 'stop',
        logprobs: null,
      };
    }),
    usage: usageOf(answer.usageMetadata),
  };
}

/** A `generateContent` answer as an OpenAI `text_completion`. */
export function toTextCompletion(body: unknown, context: AnswerContext): Params {
  const chat = toChatCompletion(body, context);
  return {
    id: chat.id,
    object: 'text_completion',
    created: chat.created,
    model: chat.model,
    choices: (chat.choices as Params[]).map((choice) => ({
      index: choice.index,
      text: ((choice.message as Params).content as string | null) ?? '',
      finish_reason: choice.finish_reason,
      logprobs: null,
    })),
    usage: chat.usage,
  };
}

/** What an embeddings answer needs besides the Gemini body. */
export interface EmbeddingContext {
  model: string;
  /** The request's `encoding_format`; the `openai` SDK asks for `base64` unless told otherwise. */
  encodingFormat?: unknown;
}

/**
 * A `batchEmbedContents` answer as an OpenAI embedding list. Gemini reports no token counts for
 * embeddings, so usage is zero. With `encoding_format: "base64"` each vector is the base64 of its
 * little-endian float32 values, as OpenAI sends it.
 */
export function toEmbeddingList(body: unknown, context: EmbeddingContext): Params {
  if (!isRecord(body) || !Array.isArray(body.embeddings)) throw unexpectedBody();
  return {
    object: 'list',
    data: body.embeddings.map((embedding, index) => {
      const values = isRecord(embedding) ? embedding.values : undefined;
      if (!Array.isArray(values) || !values.every((value) => typeof value === 'number')) {
        throw unexpectedBody();
      }
      return {
        object: 'embedding',
        index,
        embedding: context.encodingFormat === 'base64' ? base64Of(values as number[]) : values,
      };
    }),
    model: context.model,
    usage: { prompt_tokens: 0, total_tokens: 0 },
  };
}

function base64Of(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => {
    bytes.writeFloatLE(value, index * 4);
  });
  return bytes.toString('base64');
}

function answerOf(body: unknown): Record<string, unknown> {
  if (!isRecord(body) || (body.candidates === undefined && !isRecord(body.promptFeedback))) {
    throw unexpectedBody();
  }
  return body;
}

/** The candidates, or the one empty blocked candidate of a refused prompt. */
export function candidatesOf(answer: Record<string, unknown>): Record<string, unknown>[] {
  const candidates = Array.isArray(answer.candidates) ? answer.candidates.filter(isRecord) : [];
  if (candidates.length > 0) return candidates;
  const blocked =
    isRecord(answer.promptFeedback) && answer.promptFeedback.blockReason !== undefined;
  return [{ index: 0, finishReason: blocked ? 'SAFETY' : 'OTHER' }];
}

/** A candidate's `index`, or its position when Gemini leaves the index out. */
export function candidateIndexOf(candidate: Record<string, unknown>, position: number): number {
  return typeof candidate.index === 'number' ? candidate.index : position;
}

/** The answer's `responseId`, or an id made from `created` when there is none. */
export function responseIdOf(answer: Record<string, unknown>, context: AnswerContext): string {
  return typeof answer.responseId === 'string' && answer.responseId !== ''
    ? answer.responseId
    : `chatcmpl-google-${context.created}`;
}

/** The `modelVersion` that answered, or the model asked for. */
export function modelOf(answer: Record<string, unknown>, context: AnswerContext): string {
  return typeof answer.modelVersion === 'string' && answer.modelVersion !== ''
    ? answer.modelVersion
    : context.model;
}

function unexpectedBody(): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_UPSTREAM_INVALID_RESPONSE',
    'Provider google answered with an unexpected body',
  );
}
