import { LoadBalancerError } from '../errors.js';
import { isRecord, numberOr0 } from '../shared/values.js';
import type { Params } from '../types.js';
import {
  parseToolArguments,
  structuredOutputToolName,
  structuredOutputToolOf,
} from './forced-tool-output.js';
import { invalidParam } from './invalid-param.js';
import { openAIUsage } from './openai-chunks.js';

/**
 * Translation between OpenAI chat completions and Anthropic's Messages API. Every function is
 * pure; what Anthropic does not accept is dropped, what it requires is supplied.
 */

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

/** What a translation supplies when the OpenAI request leaves it out. */
export interface TranslationDefaults {
  /** `max_tokens`, which Anthropic requires and OpenAI does not. */
  maxTokens: number;
}

/**
 * An OpenAI chat request as a Messages API request. OpenAI fields with an Anthropic equivalent
 * are mapped; everything else is dropped (Anthropic answers 400 to unknown fields).
 */
export function toMessagesRequest(params: Params, defaults: TranslationDefaults): Params {
  const messages = params.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalidParam('messages', 'params.messages must be a non-empty array');
  }
  const { system, turns } = translateMessages(messages);
  const request: Params = {
    model: params.model,
    max_tokens: maxTokensOf(params, defaults),
    messages: turns,
  };
  if (system.length > 0) request.system = system;
  copySampling(params, request);
  const stop = stopSequencesOf(params.stop);
  if (stop !== undefined) request.stop_sequences = stop;
  if (typeof params.user === 'string') request.metadata = { user_id: params.user };
  if (params.stream === true) request.stream = true;
  const tools = toolsOf(params.tools);
  if (tools !== undefined) request.tools = tools;
  const toolChoice = toolChoiceOf(params.tool_choice, params.parallel_tool_calls);
  if (toolChoice !== undefined) request.tool_choice = toolChoice;
  const structured = structuredOutputToolOf(params.response_format, 'anthropic');
  if (structured !== undefined) {
    const { name, description, schema } = structured;
    request.tools = [...(tools ?? []), { name, description, input_schema: schema }];
    request.tool_choice = structuredToolChoice(toolChoice, tools !== undefined);
  }
  return request;
}

export { structuredOutputToolName };

/**
 * Alone, the structured-output tool is forced. Next to the caller's own tools the model may call
 * those or answer through it, unless the caller named a tool to call.
 */
function structuredToolChoice(choice: Block | undefined, hasOwnTools: boolean): Block {
  const parallel =
    choice?.disable_parallel_tool_use === true ? { disable_parallel_tool_use: true } : {};
  if (!hasOwnTools || choice?.type === 'none') {
    return { type: 'tool', name: structuredOutputToolName, ...parallel };
  }
  if (choice?.type === 'tool') return choice;
  return { type: 'any', ...parallel };
}

/** An OpenAI text completion request (`prompt`) as a Messages API request. */
export function completionToMessagesRequest(params: Params, defaults: TranslationDefaults): Params {
  const prompt =
    Array.isArray(params.prompt) && params.prompt.length === 1 ? params.prompt[0] : params.prompt;
  if (typeof prompt !== 'string') {
    throw invalidParam('prompt', 'params.prompt must be a string for provider anthropic');
  }
  const { prompt: _prompt, suffix: _suffix, ...rest } = params;
  return toMessagesRequest({ ...rest, messages: [{ role: 'user', content: prompt }] }, defaults);
}

function maxTokensOf(params: Params, defaults: TranslationDefaults): unknown {
  return params.max_tokens ?? params.max_completion_tokens ?? defaults.maxTokens;
}

function copySampling(params: Params, request: Params): void {
  if (typeof params.temperature === 'number') {
    // OpenAI accepts 0..2, Anthropic 0..1: clamp rather than rescale, so common values keep their meaning.
    request.temperature = Math.min(Math.max(params.temperature, 0), 1);
  }
  if (params.top_p !== undefined) request.top_p = params.top_p;
  if (params.top_k !== undefined) request.top_k = params.top_k;
}

function stopSequencesOf(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.length > 0) return stop.map(String);
  return undefined;
}

function translateMessages(messages: unknown[]): { system: Block[]; turns: AnthropicMessage[] } {
  const system: Block[] = [];
  const turns: AnthropicMessage[] = [];
  messages.forEach((message, index) => {
    if (!isRecord(message)) {
      throw invalidParam(`messages[${index}]`, `params.messages[${index}] must be an object`);
    }
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textBlocks(message.content, index));
        return;
      case 'user':
        appendTurn(turns, 'user', contentBlocks(message.content, index));
        return;
      case 'assistant':
        appendTurn(turns, 'assistant', assistantBlocks(message, index));
        return;
      case 'tool':
        // Anthropic wants tool results inside a user turn; consecutive results share one turn.
        appendTurn(turns, 'user', [toolResultBlock(message, index)]);
        return;
      default:
        throw invalidParam(
          `messages[${index}].role`,
          `params.messages[${index}].role must be system, developer, user, assistant or tool`,
        );
    }
  });
  return { system, turns };
}

/** Anthropic wants alternating turns: consecutive same-role messages are merged. */
function appendTurn(turns: AnthropicMessage[], role: 'user' | 'assistant', content: Block[]): void {
  const last = turns[turns.length - 1];
  if (last !== undefined && last.role === role) {
    last.content.push(...content);
  } else {
    turns.push({ role, content });
  }
}

function textBlocks(content: unknown, index: number): Block[] {
  return contentBlocks(content, index).filter((block) => block.type === 'text');
}

function contentBlocks(content: unknown, index: number): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) {
    throw invalidParam(
      `messages[${index}].content`,
      `params.messages[${index}].content must be a string or an array of parts`,
    );
  }
  return content.map((part, partIndex) =>
    contentPart(part, `messages[${index}].content[${partIndex}]`),
  );
}

function contentPart(part: unknown, path: string): Block {
  if (!isRecord(part)) throw invalidParam(path, `params.${path} must be an object`);
  if (part.type === 'text' && typeof part.text === 'string')
    return { type: 'text', text: part.text };
  if (part.type === 'image_url') return imageBlock(part.image_url, path);
  throw invalidParam(
    path,
    `params.${path} has a part type Anthropic cannot take (text and image_url are supported)`,
  );
}

function imageBlock(imageURL: unknown, path: string): Block {
  const url = isRecord(imageURL) ? imageURL.url : imageURL;
  if (typeof url !== 'string')
    throw invalidParam(path, `params.${path}.image_url.url must be a string`);
  const dataURL = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (dataURL !== null) {
    return { type: 'image', source: { type: 'base64', media_type: dataURL[1], data: dataURL[2] } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw invalidParam(path, `params.${path}.image_url.url must be a data: URL or an http(s) URL`);
}

function assistantBlocks(message: Record<string, unknown>, index: number): Block[] {
  const blocks = contentBlocks(message.content, index);
  const toolCalls = message.tool_calls;
  if (Array.isArray(toolCalls)) {
    toolCalls.forEach((call, callIndex) => {
      blocks.push(toolUseBlock(call, `messages[${index}].tool_calls[${callIndex}]`));
    });
  }
  return blocks;
}

function toolUseBlock(call: unknown, path: string): Block {
  const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
  if (!isRecord(call) || fn === undefined || typeof fn.name !== 'string') {
    throw invalidParam(path, `params.${path} must have an id and a function with a name`);
  }
  return {
    type: 'tool_use',
    id: call.id,
    name: fn.name,
    input: parseToolArguments(fn.arguments, path),
  };
}

function toolResultBlock(message: Record<string, unknown>, index: number): Block {
  if (typeof message.tool_call_id !== 'string') {
    throw invalidParam(
      `messages[${index}].tool_call_id`,
      `params.messages[${index}].tool_call_id is required for role tool`,
    );
  }
  const content =
    typeof message.content === 'string' ? message.content : textBlocks(message.content, index);
  return { type: 'tool_result', tool_use_id: message.tool_call_id, content };
}

function toolsOf(tools: unknown): Block[] | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return tools.map((tool, index) => {
    const fn = isRecord(tool) && isRecord(tool.function) ? tool.function : undefined;
    if (fn === undefined || typeof fn.name !== 'string') {
      throw invalidParam(
        `tools[${index}]`,
        `params.tools[${index}] must be {type: "function", function: {name, ...}}`,
      );
    }
    const block: Block = {
      name: fn.name,
      input_schema: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
    if (typeof fn.description === 'string') block.description = fn.description;
    return block;
  });
}

function toolChoiceOf(choice: unknown, parallel: unknown): Block | undefined {
  let translated: Block | undefined;
  if (choice === 'auto') translated = { type: 'auto' };
  else if (choice === 'required') translated = { type: 'any' };
  else if (choice === 'none') translated = { type: 'none' };
  else if (
    isRecord(choice) &&
    isRecord(choice.function) &&
    typeof choice.function.name === 'string'
  ) {
    translated = { type: 'tool', name: choice.function.name };
  }
  if (parallel === false) {
    translated = { ...(translated ?? { type: 'auto' }), disable_parallel_tool_use: true };
  }
  return translated;
}

const finishReasons: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  pause_turn: 'stop',
};

/** Anthropic's `stop_reason` as an OpenAI `finish_reason`. */
export function finishReasonOf(stopReason: unknown): string | null {
  if (typeof stopReason !== 'string') return null;
  return finishReasons[stopReason] ?? 'stop';
}

/** Anthropic's usage as OpenAI's, where prompt tokens include cached ones. */
export function usageOf(usage: unknown): Params | undefined {
  if (!isRecord(usage)) return undefined;
  return openAIUsage({
    input: numberOr0(usage.input_tokens),
    cacheRead: numberOr0(usage.cache_read_input_tokens),
    cacheWrite: numberOr0(usage.cache_creation_input_tokens),
    output: numberOr0(usage.output_tokens),
  });
}

/** A Messages API response as an OpenAI `chat.completion`. */
export function toChatCompletion(message: unknown, created: number): Params {
  if (!isRecord(message) || !Array.isArray(message.content)) {
    throw new LoadBalancerError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      'Provider anthropic answered with an unexpected body',
    );
  }
  let text = '';
  let structured: string | undefined;
  const toolCalls: Params[] = [];
  for (const block of message.content) {
    if (!isRecord(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    if (block.type === 'tool_use' && block.name === structuredOutputToolName) {
      structured = JSON.stringify(block.input ?? {});
    } else if (block.type === 'tool_use') {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  // Structured output is the answer itself; any prose the model put before it is not JSON.
  const content = structured ?? (text === '' && toolCalls.length > 0 ? null : text);
  const assistant: Params = { role: 'assistant', content };
  if (toolCalls.length > 0) assistant.tool_calls = toolCalls;
  const finishReason =
    structured !== undefined && toolCalls.length === 0 && message.stop_reason === 'tool_use'
      ? 'stop'
      : finishReasonOf(message.stop_reason);
  return {
    id: message.id,
    object: 'chat.completion',
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: assistant,
        finish_reason: finishReason,
        logprobs: null,
      },
    ],
    usage: usageOf(message.usage),
  };
}

/** A Messages API response as an OpenAI `text_completion`. */
export function toTextCompletion(message: unknown, created: number): Params {
  const chat = toChatCompletion(message, created);
  const choice = (chat.choices as Params[])[0] as Params;
  const text = (choice.message as Params).content;
  return {
    id: chat.id,
    object: 'text_completion',
    created,
    model: chat.model,
    choices: [{ index: 0, text: text ?? '', finish_reason: choice.finish_reason, logprobs: null }],
    usage: chat.usage,
  };
}
