import { LoadBalancerError } from '../errors.js';
import { isRecord, numberOr0 } from '../shared/values.js';
import type { Params } from '../types.js';
import { completionParts } from './chat-completion.js';

/**
 * The inbound Anthropic Messages API, for targets that are not Anthropic: a Messages request as
 * OpenAI chat params (which every provider adapter takes), and an OpenAI `chat.completion` back
 * as an Anthropic `message`. The mirror image of `providers/anthropic-messages.ts`; pure.
 *
 * What has no chat equivalent is dropped, on purpose and documented here:
 * - `thinking` (and `thinking` / `redacted_thinking` blocks in the history): chat params have no
 *   budgeted thinking, and guessing a `reasoning_effort` would make non-reasoning models answer
 *   400. Anthropic targets never come here: their requests pass through natively.
 * - `cache_control` on any block: prompt caching is Anthropic's; other providers cache on their own.
 * - `is_error` on a `tool_result`: chat tool messages have no flag, so the text says it instead.
 * - `top_k`, unless the target takes it (`supportsTopK`): OpenAI answers 400 to it.
 */

type Json = Record<string, unknown>;

/** How a Messages request is translated for the target it goes to. */
export interface AnthropicInboundOptions {
  /** Whether the target takes `top_k` (Google, Bedrock do; OpenAI does not). Defaults to `false`. */
  supportsTopK?: boolean;
}

/** The text that marks a tool result Anthropic flagged `is_error`, since chat has no flag. */
export const toolErrorPrefix = 'Error: ';

/**
 * A Messages API request body as OpenAI chat params. Invalid input is ERR_PARAMS_INVALID naming
 * the path (`messages[2].content[0].source`), as Anthropic's own 400s do.
 */
export function anthropicToChatParams(
  body: unknown,
  options: AnthropicInboundOptions = {},
): Params {
  if (!isRecord(body)) throw invalid('', 'The request body must be a JSON object');
  if (typeof body.model !== 'string' || body.model === '') {
    throw invalid('model', 'model: a model name (string) is required');
  }
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) {
    throw invalid('max_tokens', 'max_tokens: a positive integer is required');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw invalid('messages', 'messages: a non-empty array is required');
  }
  const params: Params = {
    model: body.model,
    messages: [...systemMessages(body.system), ...body.messages.flatMap(chatMessagesOf)],
    // OpenAI's reasoning models refuse `max_tokens`; every adapter reads `max_completion_tokens`.
    max_completion_tokens: body.max_tokens,
  };
  copyNumber(body, 'temperature', params);
  copyNumber(body, 'top_p', params);
  if (options.supportsTopK === true) copyNumber(body, 'top_k', params);
  if (body.stop_sequences !== undefined) params.stop = stopOf(body.stop_sequences);
  if (isRecord(body.metadata) && typeof body.metadata.user_id === 'string') {
    params.user = body.metadata.user_id;
  }
  if (body.tools !== undefined) params.tools = toolsOf(body.tools);
  if (body.tool_choice !== undefined) Object.assign(params, toolChoiceOf(body.tool_choice));
  if (body.stream === true) {
    // Usage arrives only in a last chunk, and Anthropic's message_delta must carry it.
    params.stream = true;
    params.stream_options = { include_usage: true };
  }
  return params;
}

function systemMessages(system: unknown): Json[] {
  if (system === undefined) return [];
  if (typeof system === 'string') return system === '' ? [] : [{ role: 'system', content: system }];
  if (!Array.isArray(system)) throw invalid('system', 'system: a string or text blocks expected');
  const parts = system.map((block, index) => textPart(block, `system[${index}]`));
  return parts.length === 0 ? [] : [{ role: 'system', content: parts }];
}

function textPart(block: unknown, path: string): Json {
  if (!isRecord(block) || block.type !== 'text' || typeof block.text !== 'string') {
    throw invalid(path, `${path}: a text block {type: "text", text} expected`);
  }
  return { type: 'text', text: block.text };
}

/** One Anthropic turn as chat messages: a user turn's tool results become `tool` messages. */
function chatMessagesOf(message: unknown, index: number): Json[] {
  const path = `messages[${index}]`;
  if (!isRecord(message)) throw invalid(path, `${path}: an object expected`);
  if (message.role === 'user') return userMessages(message.content, path);
  if (message.role === 'assistant') return [assistantMessage(message.content, path)];
  throw invalid(`${path}.role`, `${path}.role: "user" or "assistant" expected`);
}

function blocksOf(content: unknown, path: string): unknown[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) {
    throw invalid(`${path}.content`, `${path}.content: a string or an array of blocks expected`);
  }
  return content;
}

function userMessages(content: unknown, path: string): Json[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const tools: Json[] = [];
  const parts: Json[] = [];
  blocksOf(content, path).forEach((block, index) => {
    const blockPath = `${path}.content[${index}]`;
    if (!isRecord(block)) throw invalid(blockPath, `${blockPath}: an object expected`);
    switch (block.type) {
      case 'text':
        parts.push(textPart(block, blockPath));
        return;
      case 'image':
        parts.push(imagePart(block.source, `${blockPath}.source`));
        return;
      case 'tool_result':
        tools.push(toolMessage(block, blockPath));
        return;
      default:
        throw invalid(
          `${blockPath}.type`,
          `${blockPath}.type: text, image or tool_result expected in a user turn`,
        );
    }
  });
  // Chat wants tool messages right after the assistant's tool calls, before any new user text.
  return parts.length === 0 ? tools : [...tools, { role: 'user', content: parts }];
}

function imagePart(source: unknown, path: string): Json {
  if (isRecord(source) && source.type === 'base64') {
    if (typeof source.media_type !== 'string' || typeof source.data !== 'string') {
      throw invalid(path, `${path}: a base64 source needs media_type and data strings`);
    }
    return {
      type: 'image_url',
      image_url: { url: `data:${source.media_type};base64,${source.data}` },
    };
  }
  if (isRecord(source) && source.type === 'url' && typeof source.url === 'string') {
    return { type: 'image_url', image_url: { url: source.url } };
  }
  throw invalid(path, `${path}: {type: "base64", media_type, data} or {type: "url", url} expected`);
}

function toolMessage(block: Json, path: string): Json {
  if (typeof block.tool_use_id !== 'string') {
    throw invalid(`${path}.tool_use_id`, `${path}.tool_use_id: a string is required`);
  }
  const text = toolResultText(block.content, `${path}.content`);
  return {
    role: 'tool',
    tool_call_id: block.tool_use_id,
    content: block.is_error === true ? `${toolErrorPrefix}${text}` : text,
  };
}

/** Chat tool messages carry text only, so text blocks are joined and images refused. */
function toolResultText(content: unknown, path: string): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(path, `${path}: a string or text blocks expected`);
  return content
    .map((block, index) => {
      const blockPath = `${path}[${index}]`;
      if (isRecord(block) && block.type === 'image') {
        throw invalid(blockPath, `${blockPath}: images in tool results cannot go to this target`);
      }
      return textPart(block, blockPath).text as string;
    })
    .join('\n');
}

function assistantMessage(content: unknown, path: string): Json {
  let text = '';
  const toolCalls: Json[] = [];
  blocksOf(content, path).forEach((block, index) => {
    const blockPath = `${path}.content[${index}]`;
    if (!isRecord(block)) throw invalid(blockPath, `${blockPath}: an object expected`);
    switch (block.type) {
      case 'text':
        text += textPart(block, blockPath).text as string;
        return;
      case 'tool_use':
        toolCalls.push(toolCall(block, blockPath));
        return;
      case 'thinking':
      case 'redacted_thinking':
        // Signed thinking only means something to Anthropic (see the module comment).
        return;
      default:
        throw invalid(
          `${blockPath}.type`,
          `${blockPath}.type: text, tool_use or thinking expected in an assistant turn`,
        );
    }
  });
  const message: Json = {
    role: 'assistant',
    content: text === '' && toolCalls.length > 0 ? null : text,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

function toolCall(block: Json, path: string): Json {
  if (typeof block.id !== 'string' || typeof block.name !== 'string') {
    throw invalid(path, `${path}: a tool_use block needs id and name strings`);
  }
  return {
    id: block.id,
    type: 'function',
    function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
  };
}

function toolsOf(tools: unknown): Json[] {
  if (!Array.isArray(tools)) throw invalid('tools', 'tools: an array expected');
  return tools.map((tool, index) => {
    const path = `tools[${index}]`;
    if (!isRecord(tool) || typeof tool.name !== 'string') {
      throw invalid(path, `${path}: {name, description, input_schema} expected`);
    }
    // Server tools (web search, code execution, computer use...) run at Anthropic only.
    if (tool.type !== undefined && tool.type !== 'custom') {
      throw new LoadBalancerError(
        'ERR_OPERATION_UNSUPPORTED',
        `${path}.type: the Anthropic server tool ${String(tool.type)} runs only on Anthropic targets`,
        { param: `${path}.type` },
      );
    }
    if (!isRecord(tool.input_schema)) {
      throw invalid(
        `${path}.input_schema`,
        `${path}.input_schema: a JSON schema object is required`,
      );
    }
    const fn: Json = { name: tool.name, parameters: tool.input_schema };
    if (typeof tool.description === 'string') fn.description = tool.description;
    return { type: 'function', function: fn };
  });
}

/** `tool_choice`, and `disable_parallel_tool_use` as chat's `parallel_tool_calls: false`. */
function toolChoiceOf(choice: unknown): Params {
  if (!isRecord(choice)) throw invalid('tool_choice', 'tool_choice: an object {type} expected');
  const params: Params = {};
  if (choice.type === 'auto') params.tool_choice = 'auto';
  else if (choice.type === 'any') params.tool_choice = 'required';
  else if (choice.type === 'none') params.tool_choice = 'none';
  else if (choice.type === 'tool' && typeof choice.name === 'string') {
    params.tool_choice = { type: 'function', function: { name: choice.name } };
  } else {
    throw invalid(
      'tool_choice',
      'tool_choice: {type: "auto" | "any" | "none" | "tool", name?} expected',
    );
  }
  if (choice.disable_parallel_tool_use === true) params.parallel_tool_calls = false;
  return params;
}

function stopOf(stop: unknown): string[] {
  if (!Array.isArray(stop) || !stop.every((item) => typeof item === 'string')) {
    throw invalid('stop_sequences', 'stop_sequences: an array of strings expected');
  }
  return stop;
}

function copyNumber(body: Json, key: string, params: Params): void {
  if (body[key] === undefined) return;
  if (typeof body[key] !== 'number') throw invalid(key, `${key}: a number expected`);
  params[key] = body[key];
}

const stopReasons: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

/**
 * An OpenAI `finish_reason` as Anthropic's `stop_reason`. Chat never says which stop sequence
 * ended the text, so `stop` is always `end_turn` (and `stop_sequence` null).
 */
export function stopReasonOf(finishReason: unknown): string {
  return typeof finishReason === 'string' ? (stopReasons[finishReason] ?? 'end_turn') : 'end_turn';
}

/**
 * OpenAI usage as Anthropic's: `input_tokens` excludes cached tokens there, while OpenAI's
 * `prompt_tokens` includes them.
 */
export function anthropicUsageOf(usage: unknown): Json {
  const u = isRecord(usage) ? usage : {};
  const details = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cacheRead = numberOr0(details.cached_tokens);
  const cacheWrite = numberOr0(details.cache_creation_tokens);
  return {
    input_tokens: Math.max(numberOr0(u.prompt_tokens) - cacheRead - cacheWrite, 0),
    output_tokens: numberOr0(u.completion_tokens),
    cache_read_input_tokens: cacheRead,
    cache_creation_input_tokens: cacheWrite,
  };
}

/** An id in Anthropic's `msg_` form, kept when it already is one. */
export function messageIdOf(id: unknown): string {
  const text = typeof id === 'string' && id !== '' ? id : Math.random().toString(36).slice(2);
  return text.startsWith('msg_') ? text : `msg_${text.replace(/^chatcmpl-/, '')}`;
}

/** An OpenAI `chat.completion` as an Anthropic `message`. */
export function chatCompletionToAnthropicMessage(answer: unknown): Json {
  const { completion, choice, message } = completionParts(answer);
  const content: Json[] = [];
  if (typeof message.content === 'string' && message.content !== '') {
    content.push({ type: 'text', text: message.content });
  }
  // A refusal is the answer's text on Anthropic, flagged by stop_reason `refusal`.
  if (typeof message.refusal === 'string' && message.refusal !== '') {
    content.push({ type: 'text', text: message.refusal });
  }
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) content.push(toolUseBlock(call));
  }
  const refused = typeof message.refusal === 'string' && message.refusal !== '';
  return {
    id: messageIdOf(completion.id),
    type: 'message',
    role: 'assistant',
    model: completion.model,
    content,
    stop_reason: refused ? 'refusal' : stopReasonOf(choice.finish_reason),
    stop_sequence: null,
    usage: anthropicUsageOf(completion.usage),
  };
}

function toolUseBlock(call: unknown): Json {
  const fn = isRecord(call) && isRecord(call.function) ? call.function : {};
  return {
    type: 'tool_use',
    id: isRecord(call) ? call.id : undefined,
    name: fn.name,
    input: toolInputOf(fn.arguments),
  };
}

/**
 * Tool arguments as the object Anthropic's `input` must be. Arguments that are not a JSON object
 * cannot be represented, so the answer is refused rather than handed on altered.
 */
export function toolInputOf(text: unknown): Json {
  if (text === undefined || text === '') return {};
  try {
    const input: unknown = typeof text === 'string' ? JSON.parse(text) : text;
    if (isRecord(input)) return input;
  } catch {
    // Falls through to the error below: the provider's model produced invalid JSON.
  }
  throw new LoadBalancerError(
    'ERR_UPSTREAM_INVALID_RESPONSE',
    'The provider answered with tool arguments that are not a JSON object',
  );
}

function invalid(param: string, message: string): LoadBalancerError {
  return new LoadBalancerError('ERR_PARAMS_INVALID', message, {
    param: param === '' ? null : param,
  });
}
