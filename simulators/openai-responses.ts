import { exampleOf } from './schema-example.js';
import { type Exchange, isRecord } from './simulator-server.js';

/** The Responses API's top-level fields: anything else is refused, as OpenAI does. */
const responsesFields = new Set([
  'model',
  'input',
  'instructions',
  'max_output_tokens',
  'max_tool_calls',
  'temperature',
  'top_p',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'stream',
  'stream_options',
  'store',
  'previous_response_id',
  'conversation',
  'text',
  'reasoning',
  'metadata',
  'user',
  'truncation',
  'include',
  'background',
  'prompt',
  'prompt_cache_key',
  'safety_identifier',
  'service_tier',
  'top_logprobs',
]);

const builtInTools = new Set([
  'web_search',
  'web_search_preview',
  'file_search',
  'computer_use_preview',
  'code_interpreter',
  'image_generation',
  'mcp',
  'local_shell',
]);

/**
 * Responses one simulator (one account) has answered and stored (`store` is true by default),
 * by id, with the function calls they made: a `previous_response_id` must name one of them.
 */
export type StoredResponses = Map<string, { callIds: string[] }>;

type Problem = { message: string; param: string | null };

/** The first way a body breaks the Responses API contract, in OpenAI's words. */
export function responsesRequestProblem(
  body: Record<string, unknown> | undefined,
  stored: StoredResponses,
): Problem | undefined {
  if (body === undefined) {
    return { message: 'We could not parse the JSON body of your request.', param: null };
  }
  for (const field of Object.keys(body)) {
    if (!responsesFields.has(field)) {
      return { message: `Unknown parameter: '${field}'.`, param: field };
    }
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return { message: "Missing required parameter: 'model'.", param: 'model' };
  }
  if (typeof body.previous_response_id === 'string' && !stored.has(body.previous_response_id)) {
    return {
      message: `Previous response with id '${body.previous_response_id}' not found.`,
      param: 'previous_response_id',
    };
  }
  const known = new Set(
    typeof body.previous_response_id === 'string'
      ? (stored.get(body.previous_response_id)?.callIds ?? [])
      : [],
  );
  return inputProblem(body.input, known) ?? toolsProblem(body.tools) ?? formatProblem(body.text);
}

function inputProblem(input: unknown, callIds: Set<string>): Problem | undefined {
  if (typeof input === 'string') return undefined;
  if (!Array.isArray(input) || input.length === 0) {
    return { message: "Missing required parameter: 'input'.", param: 'input' };
  }
  for (const [index, item] of input.entries()) {
    const param = `input[${index}]`;
    if (!isRecord(item)) return { message: `Invalid type for '${param}'.`, param };
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    if (type === 'message') {
      if (!['user', 'assistant', 'system', 'developer'].includes(String(item.role))) {
        return { message: `Invalid value for '${param}.role'.`, param: `${param}.role` };
      }
      if (typeof item.content !== 'string' && !Array.isArray(item.content)) {
        return { message: `Invalid type for '${param}.content'.`, param: `${param}.content` };
      }
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string') {
        return { message: `Missing required parameter: '${param}.call_id'.`, param };
      }
      if (typeof item.arguments !== 'string') {
        return { message: `Invalid type for '${param}.arguments': expected a string.`, param };
      }
      callIds.add(item.call_id);
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string' || !callIds.has(item.call_id)) {
        return {
          message: `No tool call found for function call output with call_id ${String(item.call_id)}.`,
          param: 'input',
        };
      }
    } else if (type !== 'reasoning' && type !== 'item_reference') {
      return { message: `Invalid value: '${String(type)}'.`, param: `${param}.type` };
    }
  }
  return undefined;
}

function toolsProblem(tools: unknown): Problem | undefined {
  if (tools === undefined) return undefined;
  if (!Array.isArray(tools)) return { message: "Invalid type for 'tools'.", param: 'tools' };
  for (const [index, tool] of tools.entries()) {
    const param = `tools[${index}]`;
    if (!isRecord(tool)) return { message: `Invalid type for '${param}'.`, param };
    if (tool.type === 'function') {
      // Chat's nested `function: {...}` shape is a 400 here: the Responses API flattens it.
      if (typeof tool.name !== 'string') {
        return { message: `Missing required parameter: '${param}.name'.`, param };
      }
    } else if (!builtInTools.has(String(tool.type))) {
      return { message: `Invalid value: '${String(tool.type)}'.`, param: `${param}.type` };
    }
  }
  return undefined;
}

function formatProblem(text: unknown): Problem | undefined {
  if (text === undefined) return undefined;
  const format = isRecord(text) ? text.format : undefined;
  if (format === undefined) return undefined;
  if (!isRecord(format) || !['text', 'json_object', 'json_schema'].includes(String(format.type))) {
    return { message: "Invalid value for 'text.format.type'.", param: 'text.format.type' };
  }
  if (
    format.type === 'json_schema' &&
    (typeof format.name !== 'string' || !isRecord(format.schema))
  ) {
    return { message: "Missing required parameter: 'text.format.name'.", param: 'text.format' };
  }
  return undefined;
}

let sequence = 0;

/** The function tool to call: with function tools and a user turn last, unless `tool_choice` is none. */
function toolToCall(body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!Array.isArray(body.tools) || body.tool_choice === 'none') return undefined;
  const functions = body.tools.filter((tool) => isRecord(tool) && tool.type === 'function');
  const input = body.input;
  const last = Array.isArray(input) ? input[input.length - 1] : { role: 'user' };
  if (functions.length === 0 || !isRecord(last) || last.role !== 'user') return undefined;
  const choice = body.tool_choice;
  const named = isRecord(choice) && typeof choice.name === 'string' ? choice.name : undefined;
  const tool = (functions.find((entry) => isRecord(entry) && entry.name === named) ??
    functions[0]) as Record<string, unknown>;
  return { name: String(tool.name), arguments: JSON.stringify(exampleOf(tool.parameters ?? {})) };
}

function outputText(body: Record<string, unknown>, provider: string, model: string): string {
  const format = isRecord(body.text) ? body.text.format : undefined;
  if (isRecord(format) && format.type === 'json_schema')
    return JSON.stringify(exampleOf(format.schema));
  if (isRecord(format) && format.type === 'json_object') return JSON.stringify({ answer: 'Hello' });
  return `Hello from ${provider} (${model})`;
}

/** Answers an accepted Responses request: a `response` object, or its event stream. */
export async function answerResponses(
  exchange: Exchange,
  provider: string,
  model: string,
  stored: StoredResponses,
): Promise<void> {
  const body = exchange.request.body ?? {};
  const n = ++sequence;
  const id = `resp_sim_${n}`;
  const createdAt = Math.floor(Date.now() / 1000);
  const call = toolToCall(body);
  const item: Record<string, unknown> =
    call === undefined
      ? {
          type: 'message',
          id: `msg_sim_${n}`,
          status: 'completed',
          role: 'assistant',
          content: [
            {
              type: 'output_text',
              text: outputText(body, provider, model),
              annotations: [],
              logprobs: [],
            },
          ],
        }
      : {
          type: 'function_call',
          id: `fc_sim_${n}`,
          call_id: `call_sim_${n}`,
          name: call.name,
          arguments: call.arguments,
          status: 'completed',
        };
  const store = body.store !== false;
  if (store) stored.set(id, { callIds: call === undefined ? [] : [`call_sim_${n}`] });
  const response = (status: string, output: unknown[], usage: unknown) => ({
    id,
    object: 'response',
    created_at: createdAt,
    status,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: isRecord(body.metadata) ? body.metadata : {},
    model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    temperature: body.temperature ?? 1,
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: body.top_p ?? 1,
    text: isRecord(body.text) ? body.text : { format: { type: 'text' } },
    store,
    usage,
  });
  const usage = {
    input_tokens: 12,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 6,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 18,
  };
  if (body.stream !== true) {
    exchange.json(200, response('completed', [item], usage), { 'x-request-id': `req-${n}` });
    return;
  }
  let number = 0;
  const event = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: number++, ...data })}\n\n`;
  const events = [
    event('response.created', { response: response('in_progress', [], null) }),
    event('response.in_progress', { response: response('in_progress', [], null) }),
  ];
  if (item.type === 'message') {
    const text = String((item.content as { text: string }[])[0]?.text);
    const where = { item_id: item.id, output_index: 0, content_index: 0 };
    events.push(
      event('response.output_item.added', {
        output_index: 0,
        item: { ...item, status: 'in_progress', content: [] },
      }),
      event('response.content_part.added', {
        ...where,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      }),
    );
    for (const delta of text.split(/(?= )/)) {
      events.push(event('response.output_text.delta', { ...where, delta, logprobs: [] }));
    }
    events.push(
      event('response.output_text.done', { ...where, text, logprobs: [] }),
      event('response.content_part.done', {
        ...where,
        part: { type: 'output_text', text, annotations: [], logprobs: [] },
      }),
    );
  } else {
    const args = String(item.arguments);
    const half = Math.ceil(args.length / 2);
    events.push(
      event('response.output_item.added', {
        output_index: 0,
        item: { ...item, arguments: '', status: 'in_progress' },
      }),
      event('response.function_call_arguments.delta', {
        item_id: item.id,
        output_index: 0,
        delta: args.slice(0, half),
      }),
      event('response.function_call_arguments.delta', {
        item_id: item.id,
        output_index: 0,
        delta: args.slice(half),
      }),
      event('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: 0,
        arguments: args,
      }),
    );
  }
  events.push(
    event('response.output_item.done', { output_index: 0, item }),
    event('response.completed', { response: response('completed', [item], usage) }),
  );
  await exchange.sse(events);
}
