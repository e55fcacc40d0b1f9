import { exampleOf } from './schema-example.js';
import {
  type Exchange,
  isRecord,
  keyAccepted,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator-server.js';

const topLevelFields = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'stop_sequences',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'metadata',
  'tools',
  'tool_choice',
  'thinking',
  'service_tier',
]);
const blockTypes = new Set(['text', 'image', 'tool_use', 'tool_result', 'document', 'thinking']);
const imageTypes = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** The first way this body breaks the Messages API contract, in Anthropic's words. */
export function messagesRequestProblem(
  body: Record<string, unknown> | undefined,
): string | undefined {
  if (body === undefined) return 'There was an issue with your request body: invalid JSON';
  for (const field of Object.keys(body)) {
    if (!topLevelFields.has(field)) return `${field}: Extra inputs are not permitted`;
  }
  if (typeof body.model !== 'string') return 'model: Field required';
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) {
    return 'max_tokens: Field required (a positive integer)';
  }
  if (body.temperature !== undefined && !inRange(body.temperature, 0, 1)) {
    return 'temperature: Input should be less than or equal to 1';
  }
  if (body.top_p !== undefined && !inRange(body.top_p, 0, 1))
    return 'top_p: Input should be between 0 and 1';
  if (body.stop_sequences !== undefined) {
    if (
      !Array.isArray(body.stop_sequences) ||
      !body.stop_sequences.every((s) => typeof s === 'string')
    ) {
      return 'stop_sequences: Input should be a valid list of strings';
    }
  }
  if (body.metadata !== undefined) {
    if (!isRecord(body.metadata) || Object.keys(body.metadata).some((key) => key !== 'user_id')) {
      return 'metadata: only user_id is permitted';
    }
  }
  if (body.system !== undefined && typeof body.system !== 'string') {
    if (
      !Array.isArray(body.system) ||
      !body.system.every(
        (block) => isRecord(block) && block.type === 'text' && typeof block.text === 'string',
      )
    ) {
      return 'system: Input should be a valid string or a list of text blocks';
    }
  }
  return toolsProblem(body) ?? messagesProblem(body.messages);
}

function toolsProblem(body: Record<string, unknown>): string | undefined {
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: Input should be a valid list';
    for (const [index, tool] of body.tools.entries()) {
      if (
        !isRecord(tool) ||
        typeof tool.name !== 'string' ||
        !/^[a-zA-Z0-9_-]{1,64}$/.test(tool.name)
      ) {
        return `tools.${index}.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`;
      }
      if (!isRecord(tool.input_schema) || tool.input_schema.type !== 'object') {
        return `tools.${index}.input_schema: Input should be an object schema`;
      }
      const extra = Object.keys(tool).find(
        (key) => !['name', 'description', 'input_schema', 'cache_control'].includes(key),
      );
      if (extra !== undefined) return `tools.${index}.${extra}: Extra inputs are not permitted`;
    }
  }
  if (body.tool_choice !== undefined) {
    const choice = body.tool_choice;
    if (!isRecord(choice) || !['auto', 'any', 'tool', 'none'].includes(String(choice.type))) {
      return 'tool_choice: Input tag does not match any of the expected tags';
    }
    if (choice.type === 'tool' && typeof choice.name !== 'string')
      return 'tool_choice.tool.name: Field required';
  }
  return undefined;
}

function messagesProblem(messages: unknown): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0)
    return 'messages: at least one message is required';
  let previousToolUses = new Set<string>();
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message)) return `messages.${index}: Input should be a valid dictionary`;
    if (message.role !== 'user' && message.role !== 'assistant') {
      return `messages.${index}.role: Input should be 'user' or 'assistant'`;
    }
    if (index === 0 && message.role !== 'user')
      return 'messages: first message must use the "user" role';
    const content = message.content;
    const toolUses = new Set<string>();
    if (typeof content === 'string') {
      if (content === '') return `messages.${index}: text content blocks must be non-empty`;
    } else if (Array.isArray(content) && content.length > 0) {
      for (const [blockIndex, block] of content.entries()) {
        const where = `messages.${index}.content.${blockIndex}`;
        const problem = blockProblem(block, where, message.role, previousToolUses);
        if (problem !== undefined) return problem;
        if (isRecord(block) && block.type === 'tool_use') toolUses.add(String(block.id));
      }
    } else {
      return `messages.${index}.content: Input should be a valid string or a non-empty list`;
    }
    previousToolUses = toolUses;
  }
  return undefined;
}

function blockProblem(
  block: unknown,
  where: string,
  role: unknown,
  toolUses: Set<string>,
): string | undefined {
  if (!isRecord(block) || !blockTypes.has(String(block.type)))
    return `${where}: Input tag does not match any of the expected tags`;
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' && block.text !== ''
        ? undefined
        : `${where}.text: Field required`;
    case 'image': {
      const source = block.source;
      if (!isRecord(source)) return `${where}.source: Field required`;
      if (source.type === 'base64') {
        return imageTypes.has(String(source.media_type)) &&
          typeof source.data === 'string' &&
          source.data !== ''
          ? undefined
          : `${where}.source: invalid base64 image source`;
      }
      return source.type === 'url' && typeof source.url === 'string'
        ? undefined
        : `${where}.source: invalid image source`;
    }
    case 'tool_use':
      if (role !== 'assistant')
        return `${where}: tool_use blocks are only allowed in assistant messages`;
      return typeof block.id === 'string' && typeof block.name === 'string' && isRecord(block.input)
        ? undefined
        : `${where}: tool_use needs id, name and an input object`;
    case 'tool_result':
      if (role !== 'user') return `${where}: tool_result blocks are only allowed in user messages`;
      return toolUses.has(String(block.tool_use_id))
        ? undefined
        : `${where}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
    default:
      return undefined;
  }
}

function inRange(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && value >= min && value <= max;
}

let sequence = 0;

function anthropicError(exchange: Exchange, status: number, type: string, message: string): void {
  exchange.json(status, { type: 'error', error: { type, message } });
}

/** Anthropic's Messages API: `x-api-key`, `anthropic-version`, `max_tokens` and a strict body. */
export function startAnthropicSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  return startSimulator(
    '/v1',
    async (exchange) => {
      const path = exchange.url.pathname;
      if (
        exchange.request.method !== 'POST' ||
        (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')
      ) {
        anthropicError(exchange, 404, 'not_found_error', 'Not found');
        return;
      }
      const key = exchange.request.headers['x-api-key'];
      if (!keyAccepted(typeof key === 'string' ? key : undefined, options)) {
        anthropicError(exchange, 401, 'authentication_error', 'invalid x-api-key');
        return;
      }
      if (typeof exchange.request.headers['anthropic-version'] !== 'string') {
        anthropicError(
          exchange,
          400,
          'invalid_request_error',
          'anthropic-version: header is required',
        );
        return;
      }
      const body = exchange.request.body;
      if (path === '/v1/messages/count_tokens') {
        countTokens(exchange, body);
        return;
      }
      const problem = messagesRequestProblem(body);
      if (problem !== undefined || body === undefined) {
        anthropicError(exchange, 400, 'invalid_request_error', problem ?? 'invalid body');
        return;
      }
      await answer(exchange, body);
    },
    options,
  );
}

const countTokensFields = new Set([
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
]);

/**
 * `POST /v1/messages/count_tokens`: a Messages request without `max_tokens` or `stream`, answered
 * with `{input_tokens}` (here one token per four characters of the messages and system).
 */
function countTokens(exchange: Exchange, body: Record<string, unknown> | undefined): void {
  const extra =
    body === undefined ? undefined : Object.keys(body).find((key) => !countTokensFields.has(key));
  const problem =
    extra === undefined
      ? messagesRequestProblem(body === undefined ? undefined : { ...body, max_tokens: 1 })
      : `${extra}: Extra inputs are not permitted`;
  if (problem !== undefined || body === undefined) {
    anthropicError(exchange, 400, 'invalid_request_error', problem ?? 'invalid body');
    return;
  }
  const text = JSON.stringify(body.messages) + JSON.stringify(body.system ?? '');
  exchange.json(200, { input_tokens: Math.ceil(text.length / 4) });
}

async function answer(exchange: Exchange, body: Record<string, unknown>): Promise<void> {
  const id = `msg_sim_${++sequence}`;
  const model = String(body.model);
  const text = `Hello from anthropic (${model})`;
  const tool = toolToCall(body);
  const usage = {
    input_tokens: 12,
    output_tokens: 6,
    cache_read_input_tokens: 3,
    cache_creation_input_tokens: 2,
  };
  if (body.stream !== true) {
    const content: Record<string, unknown>[] =
      tool?.forced === true ? [] : [{ type: 'text', text: tool ? 'Let me check.' : text }];
    if (tool)
      content.push({
        type: 'tool_use',
        id: `toolu_sim_${sequence}`,
        name: tool.name,
        input: tool.input,
      });
    exchange.json(
      200,
      {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: tool ? 'tool_use' : 'end_turn',
        stop_sequence: null,
        usage,
      },
      { 'request-id': `req_sim_${sequence}` },
    );
    return;
  }
  const event = (name: string, data: Record<string, unknown>) =>
    `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  const events = [
    event('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
    event('ping', {}),
  ];
  const textBlock = tool?.forced === true ? undefined : tool ? 'Let me check.' : text;
  if (textBlock !== undefined) {
    events.push(
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    );
    for (const word of textBlock.split(/(?= )/)) {
      events.push(
        event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: word } }),
      );
    }
    events.push(event('content_block_stop', { index: 0 }));
  }
  if (tool) {
    const index = textBlock === undefined ? 0 : 1;
    const json = JSON.stringify(tool.input);
    const half = Math.ceil(json.length / 2);
    events.push(
      event('content_block_start', {
        index,
        content_block: {
          type: 'tool_use',
          id: `toolu_sim_${sequence}`,
          name: tool.name,
          input: {},
        },
      }),
      event('content_block_delta', {
        index,
        delta: { type: 'input_json_delta', partial_json: json.slice(0, half) },
      }),
      event('content_block_delta', {
        index,
        delta: { type: 'input_json_delta', partial_json: json.slice(half) },
      }),
      event('content_block_stop', { index }),
    );
  }
  events.push(
    event('message_delta', {
      delta: { stop_reason: tool ? 'tool_use' : 'end_turn', stop_sequence: null },
      usage: { output_tokens: 6 },
    }),
    event('message_stop', {}),
  );
  await exchange.sse(events);
}

interface ToolCall {
  name: string;
  input: unknown;
  /** Whether `tool_choice` forced a tool (`any` or `tool`): then, as in the real API, no text comes first. */
  forced: boolean;
}

/**
 * With tools offered and a plain user turn last, the simulator calls the tool `tool_choice`
 * names, or else the first one, with an input made from its input schema; `tool_choice: none`
 * calls none. A forced call (`any`, `tool`) comes without text before it and is made even after a
 * tool_result; otherwise a tool_result last means the simulator answers in text.
 */
function toolToCall(body: Record<string, unknown>): ToolCall | undefined {
  if (!Array.isArray(body.tools) || body.tools.length === 0 || !Array.isArray(body.messages))
    return undefined;
  const choice = isRecord(body.tool_choice) ? body.tool_choice : { type: 'auto' };
  if (choice.type === 'none') return undefined;
  const forced = choice.type === 'any' || choice.type === 'tool';
  const last = body.messages[body.messages.length - 1];
  if (!isRecord(last) || last.role !== 'user') return undefined;
  const hasToolResult =
    Array.isArray(last.content) &&
    last.content.some((block) => isRecord(block) && block.type === 'tool_result');
  if (hasToolResult && !forced) return undefined;
  const tools = body.tools.filter(isRecord);
  const tool =
    choice.type === 'tool' ? tools.find((candidate) => candidate.name === choice.name) : tools[0];
  if (tool === undefined) return undefined;
  return { name: String(tool.name), input: exampleOf(tool.input_schema), forced };
}
