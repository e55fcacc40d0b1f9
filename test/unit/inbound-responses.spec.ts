import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadBalancerError } from '../../lib/errors.js';
import { chatCompletionToResponse, responsesToChatParams } from '../../lib/inbound/responses-in.js';
import { ChatToResponsesStream } from '../../lib/inbound/responses-stream-out.js';
import {
  type CannedAnswer,
  namedEvents,
  openAIStreamOf,
  runTranslator,
  splitBytes,
  startCannedServer,
} from '../helpers/canned-server.js';

const weatherTool = {
  type: 'function',
  name: 'weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: true,
};

describe('responsesToChatParams', () => {
  it('maps every supported field to chat params', () => {
    const params = responsesToChatParams({
      model: 'claude-sonnet-4-5',
      instructions: 'Be brief.',
      input: [
        { role: 'developer', content: 'Use metric units.' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Weather where this is?' },
            { type: 'input_image', image_url: 'https://example.com/p.jpg', detail: 'low' },
          ],
        },
        {
          type: 'message',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Checking.' }],
        },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        {
          type: 'function_call',
          call_id: 'call_1',
          name: 'weather',
          arguments: '{"city":"Paris"}',
        },
        { type: 'function_call', call_id: 'call_2', name: 'weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '18C' },
        {
          type: 'function_call_output',
          call_id: 'call_2',
          output: [{ type: 'input_text', text: '25C' }],
        },
        { role: 'system', content: [{ type: 'input_text', text: 'Answer in one line.' }] },
      ],
      tools: [weatherTool],
      tool_choice: { type: 'function', name: 'weather' },
      parallel_tool_calls: false,
      text: {
        format: {
          type: 'json_schema',
          name: 'answer',
          schema: { type: 'object', properties: { text: { type: 'string' } } },
          strict: true,
        },
      },
      max_output_tokens: 300,
      temperature: 0.2,
      top_p: 0.8,
      reasoning: { effort: 'low' },
      store: false,
      stream: true,
    });
    expect(params).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Use metric units.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather where this is?' },
            { type: 'image_url', image_url: { url: 'https://example.com/p.jpg', detail: 'low' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Rome"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: '25C' },
        { role: 'system', content: [{ type: 'text', text: 'Answer in one line.' }] },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'weather',
            description: 'Weather for a city',
            parameters: weatherTool.parameters,
            strict: true,
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'answer',
          schema: { type: 'object', properties: { text: { type: 'string' } } },
          strict: true,
        },
      },
      max_completion_tokens: 300,
      temperature: 0.2,
      top_p: 0.8,
      reasoning_effort: 'low',
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('takes a string input, a call without preceding text, and json_object / text formats', () => {
    expect(
      responsesToChatParams({ model: 'm', input: 'Hi', text: { format: { type: 'text' } } }),
    ).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const params = responsesToChatParams({
      model: 'm',
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' },
      ],
      text: { format: { type: 'json_object' } },
      tool_choice: 'required',
    });
    expect(params.messages).toEqual([
      { role: 'user', content: 'Hi' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }],
      },
    ]);
    expect(params.response_format).toEqual({ type: 'json_object' });
    expect(params.tool_choice).toBe('required');
  });

  it.each([
    [{ previous_response_id: 'resp_1' }, 'previous_response_id'],
    [{ conversation: 'conv_1' }, 'conversation'],
    [{ store: true }, 'store'],
    [{ background: true }, 'background'],
    [{ prompt: { id: 'pmpt_1' } }, 'prompt'],
    [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ tools: [weatherTool, { type: 'file_search', vector_store_ids: ['vs'] }] }, 'tools[1].type'],
    [{ tools: [{ type: 'computer_use_preview' }] }, 'tools[0].type'],
    [{ tools: [{ type: 'code_interpreter' }] }, 'tools[0].type'],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] },
      'input[0].content[0].file_id',
    ],
  ])('refuses what needs server-side state or a built-in tool: %j', (extra, param) => {
    const error = catchError(() => responsesToChatParams({ model: 'm', input: 'Hi', ...extra }));
    expect(error).toMatchObject({ code: 'ERR_OPERATION_UNSUPPORTED', status: 400, param });
    expect(error.message).toContain(param);
  });

  it.each([
    [{ input: 'x' }, 'model'],
    [{ model: 'm' }, 'input'],
    [{ model: 'm', input: [] }, 'input'],
    [{ model: 'm', input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
    [
      { model: 'm', input: [{ role: 'user', content: [{ type: 'input_audio' }] }] },
      'input[0].content[0].type',
    ],
    [{ model: 'm', input: [{ type: 'function_call', name: 'f' }] }, 'input[0]'],
    [{ model: 'm', input: [{ type: 'function_call_output', output: 'x' }] }, 'input[0].call_id'],
    [{ model: 'm', input: 'x', tool_choice: { type: 'allowed_tools' } }, 'tool_choice'],
    [{ model: 'm', input: 'x', text: { format: { type: 'json_schema' } } }, 'text.format'],
    [{ model: 'm', input: 'x', instructions: 7 }, 'instructions'],
  ])('refuses %j as ERR_PARAMS_INVALID naming %s', (body, param) => {
    expect(catchError(() => responsesToChatParams(body))).toMatchObject({
      code: 'ERR_PARAMS_INVALID',
      param,
    });
  });
});

describe('chatCompletionToResponse', () => {
  const request = { model: 'claude', input: 'Hi', instructions: 'Be brief.', tools: [weatherTool] };

  it('maps text, function calls and usage into a response object', () => {
    const response = chatCompletionToResponse(
      {
        id: 'chatcmpl-abc',
        model: 'claude-sonnet-4-5',
        choices: [
          {
            message: {
              role: 'assistant',
              content: 'Checking.',
              tool_calls: [
                {
                  id: 'call_1',
                  type: 'function',
                  function: { name: 'weather', arguments: '{"city":"Paris"}' },
                },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: {
          prompt_tokens: 20,
          completion_tokens: 5,
          total_tokens: 25,
          prompt_tokens_details: { cached_tokens: 4 },
        },
      },
      request,
      1700000000,
    );
    expect(response).toMatchObject({
      id: 'resp_abc',
      object: 'response',
      created_at: 1700000000,
      status: 'completed',
      error: null,
      incomplete_details: null,
      model: 'claude-sonnet-4-5',
      instructions: 'Be brief.',
      tools: [weatherTool],
      output: [
        {
          type: 'message',
          id: 'msg_abc',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Checking.', annotations: [] }],
        },
        {
          type: 'function_call',
          id: 'fc_abc_0',
          call_id: 'call_1',
          name: 'weather',
          arguments: '{"city":"Paris"}',
          status: 'completed',
        },
      ],
      usage: {
        input_tokens: 20,
        input_tokens_details: { cached_tokens: 4 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 25,
      },
    });
    expect(response).not.toHaveProperty('output_text');
  });

  it('marks a cut answer incomplete and refuses a body that is not a chat.completion', () => {
    const response = chatCompletionToResponse(
      { id: 'x', choices: [{ message: { content: 'Part' }, finish_reason: 'length' }] },
      request,
    );
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
    });
    expect(catchError(() => chatCompletionToResponse({ choices: [] }, request))).toMatchObject({
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
    });
  });
});

const { chunk, usageChunk, textStream } = openAIStreamOf('claude-sonnet-4-5');

const toolStream = [
  chunk({ role: 'assistant', content: 'Checking.' }),
  chunk({
    tool_calls: [
      { index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } },
    ],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  chunk({}, 'tool_calls'),
  usageChunk,
  'data: [DONE]\n\n',
].join('');

const request = { model: 'claude-sonnet-4-5', input: 'Hi', stream: true };

async function translate(pieces: readonly (string | Buffer)[]) {
  const stream = new ChatToResponsesStream(request, 1700000000);
  const text = await runTranslator(stream, pieces);
  return { stream, text, events: namedEvents(text) };
}

describe('ChatToResponsesStream', () => {
  it('turns a text stream into Responses events with sequence numbers', async () => {
    const { stream, events } = await translate([textStream]);
    expect(stream.failure).toBeUndefined();
    expect(events.map((event) => event.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    events.forEach(({ event, data }, index) => {
      expect(data.type).toBe(event);
      expect(data.sequence_number).toBe(index);
    });
    expect(events[0]?.data.response).toMatchObject({
      id: 'resp_s1',
      status: 'in_progress',
      output: [],
    });
    expect(events[4]?.data).toMatchObject({
      item_id: 'msg_s1_0',
      output_index: 0,
      content_index: 0,
      delta: 'Héllo, ',
    });
    expect(events[6]?.data).toMatchObject({ text: 'Héllo, wörld 🌍' });
    expect(events.at(-1)?.data.response).toMatchObject({
      status: 'completed',
      output: [{ type: 'message', content: [{ type: 'output_text', text: 'Héllo, wörld 🌍' }] }],
      usage: { input_tokens: 12, output_tokens: 9, total_tokens: 21 },
    });
  });

  it('turns tool calls into function_call items with argument deltas', async () => {
    const { events } = await translate([toolStream]);
    const types = events.map((event) => event.event);
    expect(types.slice(2)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(
      events.find((event) => event.event === 'response.function_call_arguments.done')?.data,
    ).toMatchObject({
      item_id: 'fc_s1_1',
      output_index: 1,
      name: 'weather',
      arguments: '{"city":"Paris"}',
    });
  });

  it('gives the same events however the bytes are split', async () => {
    for (const stream of [toolStream, textStream]) {
      const whole = (await translate([stream])).text;
      for (const sizes of [[1], [2, 3], [7, 1, 13], [64]]) {
        expect((await translate(splitBytes(stream, sizes))).text).toBe(whole);
      }
    }
  });

  it('turns an error event into error and response.failed, and a failure', async () => {
    const { stream, events } = await translate([
      chunk({ content: 'Hi' }),
      `data: ${JSON.stringify({ error: { message: 'Overloaded', type: 'server_error', code: null } })}\n\n`,
    ]);
    expect(events.slice(-2).map((event) => event.data)).toMatchObject([
      { type: 'error', code: 'ERR_UPSTREAM_ERROR', message: 'Overloaded', param: null },
      {
        type: 'response.failed',
        response: { status: 'failed', error: { code: 'server_error', message: 'Overloaded' } },
      },
    ]);
    expect(stream.failure).toMatchObject({ code: 'ERR_UPSTREAM_ERROR' });
  });

  it('reports a stream cut before finish_reason or [DONE], even before any chunk', async () => {
    const cut = await translate([chunk({ content: 'Hi' })]);
    expect(cut.stream.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
    const empty = await translate([]);
    expect(empty.events.map((event) => event.event)).toEqual([
      'response.created',
      'response.in_progress',
      'error',
      'response.failed',
    ]);
  });
});

describe('the official openai SDK reads what the translators produce', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function clientAnswering(answer: CannedAnswer) {
    const server = await startCannedServer(() => answer);
    close = server.close;
    return new OpenAI({ baseURL: server.baseURL, apiKey: 'test', maxRetries: 0 });
  }

  const sse = async (stream: string) => ({
    status: 200,
    contentType: 'text/event-stream',
    body: (await translate(splitBytes(stream, [5, 11]))).text,
  });

  it('responses.stream() accumulates text and function calls into the final response', async () => {
    const client = await clientAnswering(await sse(toolStream));
    const deltas: string[] = [];
    const stream = client.responses
      .stream({ model: 'claude-sonnet-4-5', input: 'Hi' })
      .on('response.output_text.delta', (event) => deltas.push(event.delta));
    const response = await stream.finalResponse();
    expect(deltas).toEqual(['Checking.']);
    expect(response.output_text).toBe('Checking.');
    expect(response.output[1]).toMatchObject({
      type: 'function_call',
      call_id: 'call_1',
      name: 'weather',
      arguments: '{"city":"Paris"}',
    });
    expect(response.usage?.total_tokens).toBe(21);
  });

  it('create({stream: true}) yields every event', async () => {
    const client = await clientAnswering(await sse(textStream));
    const types: string[] = [];
    for await (const event of await client.responses.create({
      model: 'm',
      input: 'Hi',
      stream: true,
    })) {
      types.push(event.type);
    }
    expect(types.at(-1)).toBe('response.completed');
    expect(types).toContain('response.output_text.delta');
  });

  it('create() reads a translated response, with output_text derived by the SDK', async () => {
    const body = chatCompletionToResponse(
      {
        id: 'chatcmpl-1',
        model: 'm',
        choices: [{ message: { content: 'Hi there' }, finish_reason: 'stop' }],
      },
      { model: 'm', input: 'Hi' },
    );
    const client = await clientAnswering({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify(body),
    });
    const response = await client.responses.create({ model: 'm', input: 'Hi' });
    expect(response.output_text).toBe('Hi there');
    expect(response.id).toBe('resp_1');
  });

  it('delivers a failed stream as response.failed', async () => {
    const failing = `${chunk({ content: 'Hi' })}data: {"error":{"message":"Boom","type":"server_error"}}\n\n`;
    const client = await clientAnswering(await sse(failing));
    const types: string[] = [];
    for await (const event of await client.responses.create({
      model: 'm',
      input: 'Hi',
      stream: true,
    })) {
      types.push(event.type);
    }
    expect(types.slice(-2)).toEqual(['error', 'response.failed']);
  });
});

function catchError(run: () => unknown): LoadBalancerError {
  try {
    run();
  } catch (error) {
    if (error instanceof LoadBalancerError) return error;
    throw error;
  }
  throw new Error('expected a LoadBalancerError');
}
