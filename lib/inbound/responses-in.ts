import { LoadBalancerError } from '../errors.js';
import { isRecord, numberOr0 } from '../shared/values.js';
import type { Params } from '../types.js';
import { completionParts } from './chat-completion.js';

/**
 * The inbound OpenAI Responses API, for targets without one (everything but OpenAI and Azure
 * OpenAI, which take it natively): the stateless subset of a Responses request as OpenAI chat
 * params, and a `chat.completion` back as a Responses `response`. Pure.
 *
 * What needs state kept by the provider (`previous_response_id`, `conversation`, `store: true`,
 * `background`, stored `prompt` templates, `item_reference` and `file_id` inputs) or a tool the
 * provider runs (web search, file search, computer use, code interpreter, ...) is refused with
 * ERR_OPERATION_UNSUPPORTED (400): this target cannot serve it, as Anthropic cannot serve
 * embeddings. `reasoning` items in the input are dropped: they only mean something to OpenAI.
 */

type Json = Record<string, unknown>;

/** A Responses API request body as OpenAI chat params. */
export function responsesToChatParams(body: unknown): Params {
  if (!isRecord(body)) throw invalid('', 'The request body must be a JSON object');
  refuseStateful(body);
  if (typeof body.model !== 'string' || body.model === '') {
    throw invalid('model', 'model: a model name (string) is required');
  }
  const messages: Json[] = [];
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== 'string') {
      throw invalid('instructions', 'instructions: a string expected');
    }
    messages.push({ role: 'system', content: body.instructions });
  }
  appendInput(messages, body.input);
  const params: Params = { model: body.model, messages };
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
    params.max_completion_tokens = body.max_output_tokens;
  }
  for (const key of ['temperature', 'top_p', 'parallel_tool_calls', 'user'] as const) {
    if (body[key] !== undefined && body[key] !== null) params[key] = body[key];
  }
  if (isRecord(body.reasoning) && typeof body.reasoning.effort === 'string') {
    params.reasoning_effort = body.reasoning.effort;
  }
  if (body.tools !== undefined) {
    const tools = toolsOf(body.tools);
    if (tools.length > 0) params.tools = tools;
  }
  if (body.tool_choice !== undefined) params.tool_choice = toolChoiceOf(body.tool_choice);
  const format = isRecord(body.text) ? responseFormatOf(body.text.format) : undefined;
  if (format !== undefined) params.response_format = format;
  if (body.stream === true) {
    // Usage arrives only in a last chunk, and response.completed must carry it.
    params.stream = true;
    params.stream_options = { include_usage: true };
  }
  return params;
}

function refuseStateful(body: Json): void {
  const stateful: [string, boolean][] = [
    ['previous_response_id', body.previous_response_id != null],
    ['conversation', body.conversation != null],
    ['store', body.store === true],
    ['background', body.background === true],
    ['prompt', body.prompt != null],
  ];
  for (const [field, present] of stateful) {
    if (present) {
      throw unsupported(
        field,
        `${field}: needs state kept by the provider, which only OpenAI and Azure OpenAI targets have`,
      );
    }
  }
}

function appendInput(messages: Json[], input: unknown): void {
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return;
  }
  if (!Array.isArray(input) || input.length === 0) {
    throw invalid('input', 'input: a string or a non-empty array of items is required');
  }
  input.forEach((item, index) => {
    appendItem(messages, item, `input[${index}]`);
  });
}

function appendItem(messages: Json[], item: unknown, path: string): void {
  if (!isRecord(item)) throw invalid(path, `${path}: an object expected`);
  const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message':
      messages.push(messageOf(item, path));
      return;
    case 'function_call':
      appendFunctionCall(messages, item, path);
      return;
    case 'function_call_output':
      messages.push(toolMessageOf(item, path));
      return;
    case 'reasoning':
      return;
    case 'item_reference':
      throw unsupported(
        `${path}.type`,
        `${path}.type: item_reference needs items stored by the provider`,
      );
    default:
      throw invalid(
        `${path}.type`,
        `${path}.type: message, function_call or function_call_output expected (got ${String(type)})`,
      );
  }
}

const roles = new Set(['user', 'assistant', 'system', 'developer']);

function messageOf(item: Json, path: string): Json {
  if (typeof item.role !== 'string' || !roles.has(item.role)) {
    throw invalid(`${path}.role`, `${path}.role: user, assistant, system or developer expected`);
  }
  if (typeof item.content === 'string') return { role: item.role, content: item.content };
  if (!Array.isArray(item.content)) {
    throw invalid(`${path}.content`, `${path}.content: a string or an array of parts expected`);
  }
  const parts = item.content.map((part, index) => partOf(part, `${path}.content[${index}]`));
  if (item.role === 'assistant') {
    // Chat assistant messages take text only; their parts were output_text or refusal.
    return { role: 'assistant', content: parts.map((part) => part.text).join('') };
  }
  return { role: item.role, content: parts };
}

function partOf(part: unknown, path: string): Json {
  if (!isRecord(part)) throw invalid(path, `${path}: an object expected`);
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      if (typeof part.text !== 'string')
        throw invalid(`${path}.text`, `${path}.text: a string expected`);
      return { type: 'text', text: part.text };
    case 'refusal':
      return { type: 'text', text: String(part.refusal ?? '') };
    case 'input_image': {
      if (typeof part.image_url !== 'string') {
        throw part.file_id != null
          ? unsupported(
              `${path}.file_id`,
              `${path}.file_id: files stored by the provider are not available here`,
            )
          : invalid(`${path}.image_url`, `${path}.image_url: a URL or data URL string expected`);
      }
      const image: Json = { url: part.image_url };
      if (typeof part.detail === 'string') image.detail = part.detail;
      return { type: 'image_url', image_url: image };
    }
    default:
      throw invalid(
        `${path}.type`,
        `${path}.type: input_text, input_image or output_text expected (got ${String(part.type)})`,
      );
  }
}

/** Consecutive function calls, and a call after the assistant's text, share one assistant message. */
function appendFunctionCall(messages: Json[], item: Json, path: string): void {
  if (typeof item.call_id !== 'string' || typeof item.name !== 'string') {
    throw invalid(path, `${path}: a function_call needs call_id and name strings`);
  }
  const call = {
    id: item.call_id,
    type: 'function',
    function: {
      name: item.name,
      arguments: typeof item.arguments === 'string' ? item.arguments : '{}',
    },
  };
  const last = messages[messages.length - 1];
  if (last?.role === 'assistant') {
    last.tool_calls = [...(Array.isArray(last.tool_calls) ? last.tool_calls : []), call];
    return;
  }
  messages.push({ role: 'assistant', content: null, tool_calls: [call] });
}

function toolMessageOf(item: Json, path: string): Json {
  if (typeof item.call_id !== 'string') {
    throw invalid(`${path}.call_id`, `${path}.call_id: a string is required`);
  }
  return {
    role: 'tool',
    tool_call_id: item.call_id,
    content: outputText(item.output, `${path}.output`),
  };
}

/** Chat tool messages carry text, so an output given as parts must be text parts. */
function outputText(output: unknown, path: string): string {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) throw invalid(path, `${path}: a string or text parts expected`);
  return output
    .map((part, index) => {
      if (!isRecord(part) || part.type !== 'input_text' || typeof part.text !== 'string') {
        throw invalid(
          `${path}[${index}]`,
          `${path}[${index}]: only input_text parts can go to this target`,
        );
      }
      return part.text;
    })
    .join('\n');
}

function toolsOf(tools: unknown): Json[] {
  if (!Array.isArray(tools)) throw invalid('tools', 'tools: an array expected');
  return tools.map((tool, index) => {
    const path = `tools[${index}]`;
    if (!isRecord(tool)) throw invalid(path, `${path}: an object expected`);
    if (tool.type !== 'function') {
      throw unsupported(
        `${path}.type`,
        `${path}.type: the built-in tool ${String(tool.type)} runs only on OpenAI and Azure OpenAI targets`,
      );
    }
    if (typeof tool.name !== 'string')
      throw invalid(`${path}.name`, `${path}.name: a string is required`);
    const fn: Json = { name: tool.name };
    if (typeof tool.description === 'string') fn.description = tool.description;
    if (isRecord(tool.parameters)) fn.parameters = tool.parameters;
    if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
    return { type: 'function', function: fn };
  });
}

function toolChoiceOf(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    return { type: 'function', function: { name: choice.name } };
  }
  throw invalid(
    'tool_choice',
    'tool_choice: "auto", "none", "required" or {type: "function", name} expected',
  );
}

function responseFormatOf(format: unknown): Json | undefined {
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format)) throw invalid('text.format', 'text.format: an object expected');
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema' && typeof format.name === 'string' && isRecord(format.schema)) {
    const spec: Json = { name: format.name, schema: format.schema };
    if (typeof format.description === 'string') spec.description = format.description;
    if (typeof format.strict === 'boolean') spec.strict = format.strict;
    return { type: 'json_schema', json_schema: spec };
  }
  throw invalid(
    'text.format',
    'text.format: {type: "text"}, {type: "json_object"} or {type: "json_schema", name, schema} expected',
  );
}

/** A Responses id (`resp_...`) for a chat completion id. */
export function responseIdOf(id: unknown): string {
  const text = typeof id === 'string' && id !== '' ? id : Math.random().toString(36).slice(2);
  return text.startsWith('resp_') ? text : `resp_${text.replace(/^chatcmpl-/, '')}`;
}

/** OpenAI chat usage as Responses usage. */
export function responsesUsageOf(usage: unknown): Json {
  const u = isRecord(usage) ? usage : {};
  const promptDetails = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const completionDetails = isRecord(u.completion_tokens_details)
    ? u.completion_tokens_details
    : {};
  const input = numberOr0(u.prompt_tokens);
  const output = numberOr0(u.completion_tokens);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: numberOr0(promptDetails.cached_tokens) },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: numberOr0(completionDetails.reasoning_tokens) },
    total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : input + output,
  };
}

/** What a `response` object echoes of its request, and how it ended. */
export interface ResponseEnvelope {
  /** `resp_...`, from the chat completion's id. */
  id: string;
  /** The model the provider says answered. */
  model: unknown;
  /** Unix seconds. */
  createdAt: number;
  /** The client's Responses request, whose settings the response echoes. */
  request: Json;
}

/**
 * The fields of a `response` object that do not depend on its output. The SDK's types require
 * them, so they are filled from the request with the API's documented defaults.
 */
export function responseEnvelope(envelope: ResponseEnvelope, status: string): Json {
  const { request } = envelope;
  return {
    id: envelope.id,
    object: 'response',
    created_at: envelope.createdAt,
    status,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    metadata: isRecord(request.metadata) ? request.metadata : {},
    model: envelope.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    temperature: request.temperature ?? null,
    tool_choice: request.tool_choice ?? 'auto',
    tools: Array.isArray(request.tools) ? request.tools : [],
    top_p: request.top_p ?? null,
    text: isRecord(request.text) ? request.text : { format: { type: 'text' } },
    store: false,
    usage: null,
  };
}

/** How a chat `finish_reason` ends a response: `status` and `incomplete_details`. */
export function responseStatusOf(finishReason: unknown): Json {
  if (finishReason === 'length') {
    return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  }
  if (finishReason === 'content_filter') {
    return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  }
  return { status: 'completed', incomplete_details: null };
}

/** A `message` output item with one `output_text` part. */
export function messageItem(id: string, text: string, status: string): Json {
  return {
    type: 'message',
    id,
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

/** A `function_call` output item. */
export function functionCallItem(id: string, call: Json, status: string): Json {
  return {
    type: 'function_call',
    id,
    call_id: call.call_id,
    name: call.name,
    arguments: call.arguments,
    status,
  };
}

/**
 * An OpenAI `chat.completion` as a Responses `response` object (`output_text` is left to the
 * SDK, which derives it from the output on the client side).
 */
export function chatCompletionToResponse(
  answer: unknown,
  request: Json,
  createdAt: number = Math.floor(Date.now() / 1000),
): Json {
  const { completion, choice, message } = completionParts(answer);
  const id = responseIdOf(completion.id);
  const base = id.slice('resp_'.length);
  const output: Json[] = [];
  const text = typeof message.content === 'string' ? message.content : '';
  if (text !== '') output.push(messageItem(`msg_${base}`, text, 'completed'));
  if (typeof message.refusal === 'string' && message.refusal !== '') {
    output.push({
      type: 'message',
      id: `msg_${base}_refusal`,
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'refusal', refusal: message.refusal }],
    });
  }
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((call, index) => {
      const fn = isRecord(call) && isRecord(call.function) ? call.function : {};
      const callId = isRecord(call) ? call.id : undefined;
      output.push(
        functionCallItem(
          `fc_${base}_${index}`,
          { call_id: callId, name: fn.name, arguments: fn.arguments ?? '{}' },
          'completed',
        ),
      );
    });
  }
  const { status, incomplete_details } = responseStatusOf(choice.finish_reason);
  return {
    ...responseEnvelope({ id, model: completion.model, createdAt, request }, String(status)),
    incomplete_details,
    output,
    usage: responsesUsageOf(completion.usage),
  };
}

function invalid(param: string, message: string): LoadBalancerError {
  return new LoadBalancerError('ERR_PARAMS_INVALID', message, {
    param: param === '' ? null : param,
  });
}

function unsupported(param: string, message: string): LoadBalancerError {
  return new LoadBalancerError('ERR_OPERATION_UNSUPPORTED', message, { param });
}
