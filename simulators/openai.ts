import {
  answerResponses,
  responsesRequestProblem,
  type StoredResponses,
} from './openai-responses.js';
import { exampleOf } from './schema-example.js';
import {
  type Exchange,
  isRecord,
  keyAccepted,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator-server.js';

/** Checks an OpenAI-shaped request body; returns the problem, as OpenAI words it, or undefined. */
export function openAIRequestProblem(
  operation: string,
  body: Record<string, unknown> | undefined,
  modelRequired: boolean,
): { message: string; param: string | null } | undefined {
  if (body === undefined)
    return { message: 'We could not parse the JSON body of your request.', param: null };
  if (modelRequired && typeof body.model !== 'string') {
    return { message: 'you must provide a model parameter', param: 'model' };
  }
  if (operation === 'chat') {
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return { message: "Invalid 'messages': empty array.", param: 'messages' };
    }
    const roles = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];
    for (const [index, message] of body.messages.entries()) {
      if (!isRecord(message) || !roles.includes(String(message.role))) {
        return {
          message: `Invalid value for 'messages[${index}].role'.`,
          param: `messages[${index}].role`,
        };
      }
    }
  }
  if (operation === 'complete' && body.prompt === undefined) {
    return { message: 'you must provide a prompt parameter', param: 'prompt' };
  }
  if (operation === 'embed' && body.input === undefined) {
    return { message: "'input' is a required property", param: 'input' };
  }
  if (operation === 'chat') {
    const problem = responseFormatProblem(body);
    if (problem !== undefined) return problem;
  }
  if (body.stream_options !== undefined && body.stream !== true) {
    return {
      message: 'The stream_options parameter is only allowed when stream is enabled.',
      param: 'stream_options',
    };
  }
  return undefined;
}

/** `response_format` as OpenAI checks it: a known type, a named schema, the word JSON for JSON mode. */
function responseFormatProblem(
  body: Record<string, unknown>,
): { message: string; param: string | null } | undefined {
  const format = body.response_format;
  if (format === undefined) return undefined;
  if (!isRecord(format) || !['text', 'json_object', 'json_schema'].includes(String(format.type))) {
    return {
      message:
        "Invalid value for 'response_format.type': expected one of 'text', 'json_object' or 'json_schema'.",
      param: 'response_format.type',
    };
  }
  if (format.type === 'json_object' && !mentionsJson(body.messages)) {
    return {
      message:
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
      param: 'messages',
    };
  }
  if (format.type !== 'json_schema') return undefined;
  const spec = format.json_schema;
  if (!isRecord(spec)) {
    return {
      message: "Missing required parameter: 'response_format.json_schema'.",
      param: 'response_format.json_schema',
    };
  }
  if (typeof spec.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(spec.name)) {
    return {
      message: "Invalid 'response_format.json_schema.name': string does not match pattern.",
      param: 'response_format.json_schema.name',
    };
  }
  if (spec.schema !== undefined && !isRecord(spec.schema)) {
    return {
      message: "Invalid type for 'response_format.json_schema.schema': expected an object.",
      param: 'response_format.json_schema.schema',
    };
  }
  if (spec.strict === true) {
    const where = strictSchemaProblem(spec.schema, '');
    if (where !== undefined) {
      return {
        message: `Invalid schema for response_format '${spec.name}': In context=(${where}), 'additionalProperties' is required to be supplied and to be false, and 'required' must list every property.`,
        param: 'response_format',
      };
    }
  }
  return undefined;
}

/** Where a strict schema has an object that allows extra keys or leaves a property optional. */
function strictSchemaProblem(schema: unknown, where: string): string | undefined {
  if (!isRecord(schema)) return undefined;
  if (isRecord(schema.properties)) {
    const names = Object.keys(schema.properties);
    const required = Array.isArray(schema.required) ? schema.required : [];
    if (schema.additionalProperties !== false || names.some((name) => !required.includes(name))) {
      return where;
    }
    for (const [name, property] of Object.entries(schema.properties)) {
      const problem = strictSchemaProblem(
        property,
        `${where}${where ? ', ' : ''}'properties', '${name}'`,
      );
      if (problem !== undefined) return problem;
    }
  }
  for (const key of ['items', '$defs', 'definitions', 'anyOf']) {
    const child = schema[key];
    const children = Array.isArray(child)
      ? child
      : isRecord(child) && key.endsWith('s')
        ? Object.values(child)
        : [child];
    for (const entry of children) {
      const problem = strictSchemaProblem(entry, `${where}${where ? ', ' : ''}'${key}'`);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

function mentionsJson(messages: unknown): boolean {
  return JSON.stringify(messages ?? '')
    .toLowerCase()
    .includes('json');
}

/** The message text: JSON for `response_format` json_object or json_schema, prose otherwise. */
function contentFor(body: Record<string, unknown>, text: string): string {
  const format = body.response_format;
  if (!isRecord(format)) return text;
  if (format.type === 'json_object') return JSON.stringify({ answer: text });
  if (format.type === 'json_schema' && isRecord(format.json_schema)) {
    return JSON.stringify(exampleOf(format.json_schema.schema ?? { type: 'object' }));
  }
  return text;
}

let sequence = 0;

/** Answers an accepted OpenAI-shaped request: JSON, or SSE when `stream` is true. */
export async function answerOpenAI(
  exchange: Exchange,
  operation: string,
  provider: string,
  model: string,
): Promise<void> {
  const body = exchange.request.body ?? {};
  const id = `${operation === 'chat' ? 'chatcmpl' : 'cmpl'}-sim-${++sequence}`;
  const created = Math.floor(Date.now() / 1000);
  const text = contentFor(body, exchange.overrides?.text ?? `Hello from ${provider} (${model})`);
  const usage = { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 };
  if (operation === 'embed') {
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    exchange.json(200, {
      object: 'list',
      data: inputs.map((_input, index) => ({
        object: 'embedding',
        index,
        embedding: embeddingOf(body.encoding_format),
      })),
      model,
      usage: { prompt_tokens: 4, total_tokens: 4 },
    });
    return;
  }
  const toolCall = wantsToolCall(body);
  const finish = exchange.overrides?.finishReason ?? 'stop';
  if (body.stream === true) {
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({
        id,
        object: operation === 'chat' ? 'chat.completion.chunk' : 'text_completion',
        created,
        model,
        choices: [
          operation === 'chat'
            ? { index: 0, delta, finish_reason: finish, logprobs: null }
            : { index: 0, text: delta.content ?? '', finish_reason: finish, logprobs: null },
        ],
      })}\n\n`;
    const events: string[] = [];
    if (toolCall !== undefined && operation === 'chat') {
      // As OpenAI streams a call: id, type and name first, then the arguments in fragments.
      const fn = toolCall.function as { name: string; arguments: string };
      events.push(
        chunk(
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                index: 0,
                id: toolCall.id,
                type: 'function',
                function: { name: fn.name, arguments: '' },
              },
            ],
            refusal: null,
          },
          null,
        ),
      );
      for (const fragment of fragmentsOf(fn.arguments)) {
        events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: fragment } }] }, null));
      }
    } else {
      events.push(chunk({ role: 'assistant', content: '' }, null));
      for (const piece of fragmentsOf(text)) events.push(chunk({ content: piece }, null));
    }
    events.push(chunk({}, toolCall !== undefined && operation === 'chat' ? 'tool_calls' : finish));
    if (isRecord(body.stream_options) && body.stream_options.include_usage === true) {
      events.push(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`,
      );
    }
    events.push('data: [DONE]\n\n');
    await exchange.sse(events);
    return;
  }
  if (operation === 'complete') {
    exchange.json(200, {
      id,
      object: 'text_completion',
      created,
      model,
      choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
      usage,
    });
    return;
  }
  const message = toolCall
    ? { role: 'assistant', content: null, tool_calls: [toolCall], refusal: null }
    : { role: 'assistant', content: text, refusal: null };
  exchange.json(
    200,
    {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        { index: 0, message, finish_reason: toolCall ? 'tool_calls' : finish, logprobs: null },
      ],
      usage,
    },
    { 'x-request-id': `req-${sequence}` },
  );
}

/** A small fixed vector, as floats or (what the openai SDK asks for) base64 float32. */
function embeddingOf(format: unknown): number[] | string {
  const vector = [0.1, 0.2, 0.3];
  return format === 'base64'
    ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
    : vector;
}

/** Splits a text into the small pieces a stream carries (words for prose, runs of JSON). */
function fragmentsOf(text: string): string[] {
  const pieces = text.match(/.{1,8}/gs) ?? [];
  return /^\s*[{[]/.test(text) ? pieces : text.split(/(?= )/);
}

/**
 * With tools offered and a user turn last, the simulator calls a tool: the one `tool_choice`
 * names, else the first; never with `tool_choice: "none"`. Its arguments match the tool's
 * parameters schema (a `city` is `"Paris"`).
 */
function wantsToolCall(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const tools = body.tools;
  const messages = body.messages;
  if (!Array.isArray(tools) || tools.length === 0 || !Array.isArray(messages)) return undefined;
  if (body.tool_choice === 'none') return undefined;
  const last = messages[messages.length - 1];
  if (!isRecord(last) || last.role !== 'user') return undefined;
  const choice = body.tool_choice;
  const named =
    isRecord(choice) && isRecord(choice.function) ? String(choice.function.name) : undefined;
  const tool =
    tools.find(
      (entry) => isRecord(entry) && isRecord(entry.function) && entry.function.name === named,
    ) ?? tools[0];
  const fn = isRecord(tool) && isRecord(tool.function) ? tool.function : {};
  const name = typeof fn.name === 'string' ? fn.name : 'tool';
  const args = isRecord(fn.parameters) ? exampleOf(fn.parameters) : {};
  return {
    id: `call_sim_${sequence}`,
    type: 'function',
    function: { name, arguments: JSON.stringify(args) },
  };
}

export function openAIError(
  exchange: Exchange,
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
): void {
  exchange.json(status, { error: { message, type, param, code } });
}

const routes: Record<string, string> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'complete',
  '/v1/embeddings': 'embed',
  '/v1/responses': 'responses',
};

/** OpenAI: `Authorization: Bearer <key>`, a `model` in every body. */
export function startOpenAISimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const stored: StoredResponses = new Map();
  return startSimulator(
    '/v1',
    async (exchange) => {
      const operation = routes[exchange.url.pathname];
      if (exchange.request.method !== 'POST' || operation === undefined) {
        openAIError(
          exchange,
          404,
          `Invalid URL (${exchange.request.method} ${exchange.url.pathname})`,
          'invalid_request_error',
          null,
        );
        return;
      }
      const auth = exchange.request.headers.authorization;
      const key = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      if (!keyAccepted(key, options)) {
        openAIError(
          exchange,
          401,
          `Incorrect API key provided: ${mask(key)}.`,
          'invalid_request_error',
          'invalid_api_key',
        );
        return;
      }
      if (operation === 'responses') {
        const invalid = responsesRequestProblem(exchange.request.body, stored);
        if (invalid !== undefined) {
          openAIError(exchange, 400, invalid.message, 'invalid_request_error', null, invalid.param);
          return;
        }
        await answerResponses(exchange, 'openai', String(exchange.request.body?.model), stored);
        return;
      }
      const problem = openAIRequestProblem(operation, exchange.request.body, true);
      if (problem !== undefined) {
        openAIError(exchange, 400, problem.message, 'invalid_request_error', null, problem.param);
        return;
      }
      await answerOpenAI(exchange, operation, 'openai', String(exchange.request.body?.model));
    },
    options,
  );
}

/** How OpenAI shows a wrong key: never whole. */
export function mask(key: string | undefined): string {
  if (key === undefined) return '<none>';
  return key.length > 8 ? `${key.slice(0, 3)}***${key.slice(-4)}` : '***';
}
