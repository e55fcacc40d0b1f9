import { isRecord } from '../../shared/values.js';
import type { Params } from '../../types.js';
import {
  parseToolArguments,
  structuredOutputToolName,
  structuredOutputToolOf,
} from '../forced-tool-output.js';
import { invalidParam } from '../invalid-param.js';

/**
 * OpenAI chat (and text completion) requests as Bedrock Converse requests. Every function is
 * pure. The model id is not part of the body (it goes in the path, see `bedrockConversePath`),
 * nor is `stream` (it picks `/converse-stream`). OpenAI fields without a Converse equivalent
 * (`seed`, `user`, `n`, `logprobs`, `parallel_tool_calls`, ...) are dropped: Bedrock answers 400
 * to unknown fields.
 */

type Block = Record<string, unknown>;
type Role = 'user' | 'assistant';

/** A Converse message: `user` and `assistant` turns alternate, the first one is `user`. */
export interface ConverseMessage {
  role: Role;
  content: Block[];
}

export { structuredOutputToolName };

/** Image media types Converse takes, as its `format` values. */
const imageFormats: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/**
 * An OpenAI chat request as a Converse request body.
 *
 * - `system` and `developer` messages -> `system: [{text}]`.
 * - `user`, `assistant` and `tool` messages -> alternating turns; consecutive turns of one role
 *   are merged, tool results go in a user turn. A conversation that starts with the assistant
 *   is refused (Converse needs a user first turn).
 * - `max_tokens` (or `max_completion_tokens`), `temperature` (clamped to 0..1), `top_p`, `stop`
 *   -> `inferenceConfig`.
 * - `tools` and `tool_choice` -> `toolConfig`. Converse has no `none`: with `tool_choice: "none"`
 *   the tools are left out, unless the conversation holds tool calls or results, for which
 *   Converse requires a `toolConfig`; then the tools are sent without a `toolChoice` and the model
 *   may still call one. A conversation with tool calls and no `tools` gets a `toolConfig` with a
 *   permissive spec for each tool name it uses, for the same reason.
 * - `response_format` `json_schema` / `json_object` -> a forced `structured_output` tool
 *   (`toolChoice: {tool}`; Bedrock takes `any` and `tool` choices only for the models that
 *   support them, such as Anthropic Claude 3 and later, and answers 400 for the others).
 *
 * Throws ERR_PARAMS_INVALID, naming the offending path, for what Converse cannot take (an image
 * by http URL, an image type other than png, jpeg, gif or webp, an empty message...).
 */
export function toConverseRequest(params: Params): Params {
  const messages = params.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalidParam('messages', 'params.messages must be a non-empty array');
  }
  const { system, turns } = translateMessages(messages);
  if (turns[0]?.role !== 'user') {
    throw invalidParam(
      'messages',
      'params.messages must hold a user message before any assistant message for provider bedrock',
    );
  }
  const request: Params = { messages: turns };
  if (system.length > 0) request.system = system;
  const inference = inferenceConfigOf(params);
  if (Object.keys(inference).length > 0) request.inferenceConfig = inference;
  const toolConfig = toolConfigOf(params, turns);
  if (toolConfig !== undefined) request.toolConfig = toolConfig;
  return request;
}

/** An OpenAI text completion request (`prompt`) as a Converse request body. */
export function completionToConverseRequest(params: Params): Params {
  const prompt =
    Array.isArray(params.prompt) && params.prompt.length === 1 ? params.prompt[0] : params.prompt;
  if (typeof prompt !== 'string') {
    throw invalidParam('prompt', 'params.prompt must be a string for provider bedrock');
  }
  const { prompt: _prompt, suffix: _suffix, ...rest } = params;
  return toConverseRequest({ ...rest, messages: [{ role: 'user', content: prompt }] });
}

function inferenceConfigOf(params: Params): Params {
  const config: Params = {};
  const maxTokens = params.max_tokens ?? params.max_completion_tokens;
  if (maxTokens !== undefined && maxTokens !== null) config.maxTokens = maxTokens;
  if (typeof params.temperature === 'number') {
    // OpenAI accepts 0..2, Converse 0..1: clamp rather than rescale, so common values keep their meaning.
    config.temperature = Math.min(Math.max(params.temperature, 0), 1);
  }
  if (params.top_p !== undefined && params.top_p !== null) config.topP = params.top_p;
  const stop = stopSequencesOf(params.stop);
  if (stop !== undefined) config.stopSequences = stop;
  return config;
}

function stopSequencesOf(stop: unknown): string[] | undefined {
  if (typeof stop === 'string' && stop !== '') return [stop];
  if (!Array.isArray(stop)) return undefined;
  const sequences = stop.map(String).filter((sequence) => sequence !== '');
  return sequences.length > 0 ? sequences : undefined;
}

function translateMessages(messages: unknown[]): { system: Block[]; turns: ConverseMessage[] } {
  const system: Block[] = [];
  const turns: ConverseMessage[] = [];
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
        appendTurn(turns, 'user', nonEmpty(contentBlocks(message.content, index), index));
        return;
      case 'assistant':
        appendTurn(turns, 'assistant', nonEmpty(assistantBlocks(message, index), index));
        return;
      case 'tool':
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

/** Converse wants alternating turns: consecutive same-role messages are merged. */
function appendTurn(turns: ConverseMessage[], role: Role, content: Block[]): void {
  const last = turns[turns.length - 1];
  if (last !== undefined && last.role === role) {
    last.content.push(...content);
  } else {
    turns.push({ role, content });
  }
}

/** Converse refuses a message without content blocks; say which one it is. */
function nonEmpty(blocks: Block[], index: number): Block[] {
  if (blocks.length === 0) {
    throw invalidParam(
      `messages[${index}].content`,
      `params.messages[${index}].content must not be empty for provider bedrock`,
    );
  }
  return blocks;
}

function textBlocks(content: unknown, index: number): Block[] {
  return contentBlocks(content, index).filter((block) => block.text !== undefined);
}

/** Converse refuses blank text blocks; blank text carries nothing, so it is left out. */
function textBlock(text: string): Block[] {
  return text.trim() === '' ? [] : [{ text }];
}

function contentBlocks(content: unknown, index: number): Block[] {
  if (typeof content === 'string') return textBlock(content);
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) {
    throw invalidParam(
      `messages[${index}].content`,
      `params.messages[${index}].content must be a string or an array of parts`,
    );
  }
  return content.flatMap((part, partIndex) =>
    contentPart(part, `messages[${index}].content[${partIndex}]`),
  );
}

function contentPart(part: unknown, path: string): Block[] {
  if (!isRecord(part)) throw invalidParam(path, `params.${path} must be an object`);
  if (part.type === 'text' && typeof part.text === 'string') return textBlock(part.text);
  if (part.type === 'image_url') return [imageBlock(part.image_url, path)];
  throw invalidParam(
    path,
    `params.${path} has a part type Bedrock cannot take (text and image_url are supported)`,
  );
}

function imageBlock(imageURL: unknown, path: string): Block {
  const url = isRecord(imageURL) ? imageURL.url : imageURL;
  if (typeof url !== 'string') {
    throw invalidParam(`${path}.image_url.url`, `params.${path}.image_url.url must be a string`);
  }
  const dataURL = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (dataURL === null) {
    throw invalidParam(
      `${path}.image_url.url`,
      `params.${path}.image_url.url must be a base64 data: URL for provider bedrock (it does not fetch images by URL)`,
    );
  }
  const format = imageFormats[String(dataURL[1]).toLowerCase()];
  if (format === undefined) {
    throw invalidParam(
      `${path}.image_url.url`,
      `params.${path}.image_url.url must be a png, jpeg, gif or webp image for provider bedrock`,
    );
  }
  return { image: { format, source: { bytes: dataURL[2] } } };
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
  if (
    !isRecord(call) ||
    typeof call.id !== 'string' ||
    fn === undefined ||
    typeof fn.name !== 'string'
  ) {
    throw invalidParam(path, `params.${path} must have an id and a function with a name`);
  }
  return {
    toolUse: { toolUseId: call.id, name: fn.name, input: parseToolArguments(fn.arguments, path) },
  };
}

/**
 * A tool message as a `toolResult` block. A result that is a JSON object is sent as `{json}`,
 * which Converse passes to the model as structured data; any other text as `{text}`; an empty
 * result as an empty JSON object, since Converse refuses blank text.
 */
function toolResultBlock(message: Record<string, unknown>, index: number): Block {
  if (typeof message.tool_call_id !== 'string') {
    throw invalidParam(
      `messages[${index}].tool_call_id`,
      `params.messages[${index}].tool_call_id is required for role tool`,
    );
  }
  const text =
    typeof message.content === 'string'
      ? message.content
      : textBlocks(message.content, index)
          .map((block) => block.text)
          .join('');
  return { toolResult: { toolUseId: message.tool_call_id, content: [toolResultContent(text)] } };
}

function toolResultContent(text: string): Block {
  if (text.trim() === '') return { json: {} };
  const json = jsonObjectOf(text);
  return json === undefined ? { text } : { json };
}

function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function toolConfigOf(params: Params, turns: ConverseMessage[]): Params | undefined {
  const own = toolSpecsOf(params.tools);
  const choice = params.tool_choice;
  const structured = structuredOutputTool(params.response_format);
  const usedNames = toolNamesUsed(turns);
  const offered = choice === 'none' ? [] : own;
  const tools = structured === undefined ? offered : [...offered, structured];
  if (tools.length === 0) {
    if (usedNames.length === 0) return undefined;
    // Converse refuses toolUse and toolResult blocks without a toolConfig.
    return { tools: own.length > 0 ? own : usedNames.map(permissiveToolSpec) };
  }
  const toolChoice =
    structured === undefined
      ? toolChoiceOf(choice)
      : structuredToolChoice(toolChoiceOf(choice), offered.length > 0);
  return toolChoice === undefined ? { tools } : { tools, toolChoice };
}

function toolSpecsOf(tools: unknown): Block[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool, index) => {
    const fn = isRecord(tool) && isRecord(tool.function) ? tool.function : undefined;
    if (fn === undefined || typeof fn.name !== 'string') {
      throw invalidParam(
        `tools[${index}]`,
        `params.tools[${index}] must be {type: "function", function: {name, ...}}`,
      );
    }
    const spec: Block = {
      name: fn.name,
      inputSchema: {
        json: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
      },
    };
    // Converse refuses an empty description.
    if (typeof fn.description === 'string' && fn.description !== '') {
      spec.description = fn.description;
    }
    return { toolSpec: spec };
  });
}

function toolNamesUsed(turns: ConverseMessage[]): string[] {
  const names = new Set<string>();
  for (const turn of turns) {
    for (const block of turn.content) {
      if (isRecord(block.toolUse)) names.add(String(block.toolUse.name));
    }
  }
  return [...names];
}

function permissiveToolSpec(name: string): Block {
  return { toolSpec: { name, inputSchema: { json: { type: 'object' } } } };
}

function toolChoiceOf(choice: unknown): Block | undefined {
  if (choice === 'auto') return { auto: {} };
  if (choice === 'required') return { any: {} };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { tool: { name: choice.function.name } };
  }
  return undefined;
}

/** The structured-output tool as a Converse `toolSpec`. */
function structuredOutputTool(format: unknown): Block | undefined {
  const tool = structuredOutputToolOf(format, 'bedrock');
  if (tool === undefined) return undefined;
  return {
    toolSpec: {
      name: tool.name,
      description: tool.description,
      inputSchema: { json: tool.schema },
    },
  };
}

/**
 * Alone, the structured-output tool is forced. Next to the caller's own tools the model may call
 * those or answer through it, unless the caller named a tool to call.
 */
function structuredToolChoice(choice: Block | undefined, hasOwnTools: boolean): Block {
  if (!hasOwnTools) return { tool: { name: structuredOutputToolName } };
  if (choice?.tool !== undefined) return choice;
  return { any: {} };
}
