import { LoadBalancerError } from '../../errors.js';
import { isRecord, numberOr0 } from '../../shared/values.js';
import type { Params } from '../../types.js';
import { openAIUsage } from '../openai-chunks.js';
import { structuredOutputToolName } from './converse-request.js';

/** What a Converse answer does not carry and an OpenAI answer needs: the caller supplies it. */
export interface CompletionContext {
  /** The answer's `id` (Converse answers have none; the `x-amzn-requestid` header will do). */
  id: string;
  /** The model id the request named (Converse answers do not repeat it). */
  model: string;
  /** Unix seconds. */
  created: number;
}

const finishReasons: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};

/** Converse's `stopReason` as an OpenAI `finish_reason` (unknown reasons read as `stop`). */
export function finishReasonOf(stopReason: unknown): string | null {
  if (typeof stopReason !== 'string') return null;
  return finishReasons[stopReason] ?? 'stop';
}

/**
 * Converse usage as OpenAI's. Bedrock counts cache reads and writes apart from `inputTokens`;
 * OpenAI's `prompt_tokens` includes cached tokens, so they are added back.
 */
export function usageOf(usage: unknown): Params | undefined {
  if (!isRecord(usage)) return undefined;
  return openAIUsage({
    input: numberOr0(usage.inputTokens),
    cacheRead: numberOr0(usage.cacheReadInputTokens),
    cacheWrite: numberOr0(usage.cacheWriteInputTokens),
    output: numberOr0(usage.outputTokens),
  });
}

/**
 * A Converse answer as an OpenAI `chat.completion`: text blocks joined, `toolUse` blocks as
 * `tool_calls` (arguments as a JSON string), the `structured_output` tool's input as the content.
 * Throws ERR_UPSTREAM_INVALID_RESPONSE for a body that is not a Converse answer.
 */
export function toChatCompletion(answer: unknown, context: CompletionContext): Params {
  const content = isRecord(answer) ? messageContentOf(answer) : undefined;
  if (!isRecord(answer) || content === undefined) {
    throw new LoadBalancerError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      'Provider bedrock answered with an unexpected body',
    );
  }
  let text = '';
  let structured: string | undefined;
  const toolCalls: Params[] = [];
  for (const block of content) {
    if (!isRecord(block)) continue;
    if (typeof block.text === 'string') text += block.text;
    const use = isRecord(block.toolUse) ? block.toolUse : undefined;
    if (use?.name === structuredOutputToolName) {
      structured = JSON.stringify(use.input ?? {});
    } else if (use !== undefined) {
      toolCalls.push({
        id: use.toolUseId,
        type: 'function',
        function: { name: use.name, arguments: JSON.stringify(use.input ?? {}) },
      });
    }
  }
  // Structured output is the answer itself; any prose the model put before it is not JSON.
  const messageContent = structured ?? (text === '' && toolCalls.length > 0 ? null : text);
  const message: Params = { role: 'assistant', content: messageContent };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const finishReason =
    structured !== undefined && toolCalls.length === 0 && answer.stopReason === 'tool_use'
      ? 'stop'
      : finishReasonOf(answer.stopReason);
  return {
    id: context.id,
    object: 'chat.completion',
    created: context.created,
    model: context.model,
    choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
    usage: usageOf(answer.usage),
  };
}

/** A Converse answer as an OpenAI `text_completion`. */
export function toTextCompletion(answer: unknown, context: CompletionContext): Params {
  const chat = toChatCompletion(answer, context);
  const choice = (chat.choices as Params[])[0] as Params;
  const text = (choice.message as Params).content;
  return {
    id: chat.id,
    object: 'text_completion',
    created: chat.created,
    model: chat.model,
    choices: [{ index: 0, text: text ?? '', finish_reason: choice.finish_reason, logprobs: null }],
    usage: chat.usage,
  };
}

function messageContentOf(answer: Record<string, unknown>): unknown[] | undefined {
  const output = answer.output;
  if (!isRecord(output) || !isRecord(output.message)) return undefined;
  return Array.isArray(output.message.content) ? output.message.content : undefined;
}
