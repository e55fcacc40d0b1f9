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
  if (body.stream_options !== undefined && body.stream !== true) {
    return {
      message: 'The stream_options parameter is only allowed when stream is enabled.',
      param: 'stream_options',
    };
  }
  return undefined;
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
  const text = `Hello from ${provider} (${model})`;
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
    const events = [chunk({ role: 'assistant', content: '' }, null)];
    for (const word of text.split(/(?= )/)) events.push(chunk({ content: word }, null));
    events.push(chunk({}, 'stop'));
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
      choices: [{ index: 0, text, finish_reason: 'stop', logprobs: null }],
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
        { index: 0, message, finish_reason: toolCall ? 'tool_calls' : 'stop', logprobs: null },
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

/** With tools offered and a user turn last, the simulator calls the first tool. */
function wantsToolCall(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const tools = body.tools;
  const messages = body.messages;
  if (!Array.isArray(tools) || tools.length === 0 || !Array.isArray(messages)) return undefined;
  const last = messages[messages.length - 1];
  if (!isRecord(last) || last.role !== 'user') return undefined;
  const tool = tools[0];
  const name = isRecord(tool) && isRecord(tool.function) ? String(tool.function.name) : 'tool';
  return {
    id: `call_sim_${sequence}`,
    type: 'function',
    function: { name, arguments: '{"city":"Paris"}' },
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
};

/** OpenAI: `Authorization: Bearer <key>`, a `model` in every body. */
export function startOpenAISimulator(options: SimulatorOptions = {}): Promise<Simulator> {
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
