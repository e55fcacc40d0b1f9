import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadBalancerError } from '../../lib/errors.js';
import {
  anthropicErrorBody,
  anthropicErrorTypeOf,
} from '../../lib/inbound/anthropic-errors-out.js';
import {
  anthropicToChatParams,
  chatCompletionToAnthropicMessage,
  stopReasonOf,
} from '../../lib/inbound/anthropic-messages-in.js';
import { OpenAIToAnthropicStream } from '../../lib/inbound/anthropic-stream-out.js';
import { toMessagesRequest } from '../../lib/providers/anthropic-messages.js';
import type { Params } from '../../lib/types.js';
import {
  type CannedAnswer,
  namedEvents,
  openAIStreamOf,
  runTranslator,
  splitBytes,
  startCannedServer,
} from '../helpers/canned-server.js';

const png = 'iVBORw0KGgo=';

/** A Messages request using every field the translation supports. */
const fullRequest = {
  model: 'gpt-4o',
  max_tokens: 512,
  system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these, and the weather?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'hm', signature: 'sig' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' },
        { type: 'text', text: 'Thanks' },
      ],
    },
  ],
  tools: [
    {
      name: 'weather',
      description: 'Weather for a city',
      input_schema: { type: 'object', properties: { city: { type: 'string' } } },
    },
  ],
  tool_choice: { type: 'tool', name: 'weather', disable_parallel_tool_use: true },
  stop_sequences: ['END'],
  temperature: 0.5,
  top_p: 0.9,
  top_k: 40,
  metadata: { user_id: 'user-1' },
  stream: true,
  thinking: { type: 'enabled', budget_tokens: 1024 },
};

describe('anthropicToChatParams', () => {
  it('maps every supported field to chat params', () => {
    expect(anthropicToChatParams(fullRequest)).toEqual({
      model: 'gpt-4o',
      max_completion_tokens: 512,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these, and the weather?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
        { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'weather',
            description: 'Weather for a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      parallel_tool_calls: false,
      stop: ['END'],
      temperature: 0.5,
      top_p: 0.9,
      user: 'user-1',
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('keeps top_k only for targets that take it, and drops thinking', () => {
    const params = anthropicToChatParams(fullRequest, { supportsTopK: true });
    expect(params.top_k).toBe(40);
    expect(params).not.toHaveProperty('thinking');
    expect(anthropicToChatParams(fullRequest)).not.toHaveProperty('top_k');
  });

  it('takes a string system and string contents', () => {
    const params = anthropicToChatParams({
      model: 'm',
      max_tokens: 10,
      system: 'You help.',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
      ],
    });
    expect(params.messages).toEqual([
      { role: 'system', content: 'You help.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ]);
    expect(params).not.toHaveProperty('stream');
  });

  it('maps each tool_choice', () => {
    const choice = (tool_choice: unknown) =>
      anthropicToChatParams({
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'x' }],
        tool_choice,
      }).tool_choice;
    expect(choice({ type: 'auto' })).toBe('auto');
    expect(choice({ type: 'any' })).toBe('required');
    expect(choice({ type: 'none' })).toBe('none');
    expect(choice({ type: 'tool', name: 'f' })).toEqual({
      type: 'function',
      function: { name: 'f' },
    });
  });

  it('joins text blocks of a tool result and marks is_error in the text', () => {
    const params = anthropicToChatParams({
      model: 'm',
      max_tokens: 1,
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't1',
              is_error: true,
              content: [
                { type: 'text', text: 'line 1' },
                { type: 'text', text: 'line 2' },
              ],
            },
            { type: 'tool_result', tool_use_id: 't2' },
          ],
        },
      ],
    });
    expect(params.messages).toEqual([
      { role: 'tool', tool_call_id: 't1', content: 'Error: line 1\nline 2' },
      { role: 'tool', tool_call_id: 't2', content: '' },
    ]);
  });

  it.each([
    [{}, 'model'],
    [{ model: 'm' }, 'max_tokens'],
    [{ model: 'm', max_tokens: 0, messages: [] }, 'max_tokens'],
    [{ model: 'm', max_tokens: 1, messages: [] }, 'messages'],
    [
      { model: 'm', max_tokens: 1, messages: [{ role: 'system', content: 'x' }] },
      'messages[0].role',
    ],
    [
      { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'video' }] }] },
      'messages[0].content[0].type',
    ],
    [
      {
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file' } }] }],
      },
      'messages[0].content[0].source',
    ],
    [
      {
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: [{ type: 'tool_result' }] }],
      },
      'messages[0].content[0].tool_use_id',
    ],
    [
      {
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ name: 't' }],
      },
      'tools[0].input_schema',
    ],
    [
      {
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'x' }],
        tool_choice: { type: 'x' },
      },
      'tool_choice',
    ],
    [
      {
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'x' }],
        stop_sequences: 'END',
      },
      'stop_sequences',
    ],
    [
      { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], system: 7 },
      'system',
    ],
  ])('refuses %j as ERR_PARAMS_INVALID naming %s', (body, param) => {
    const error = catchError(() => anthropicToChatParams(body));
    expect(error).toMatchObject({ code: 'ERR_PARAMS_INVALID', status: 400, param });
    expect(error.message).toContain(param);
  });

  it('refuses Anthropic server tools as an unsupported operation for this target', () => {
    const error = catchError(() =>
      anthropicToChatParams({
        model: 'm',
        max_tokens: 1,
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      }),
    );
    expect(error).toMatchObject({ code: 'ERR_OPERATION_UNSUPPORTED', param: 'tools[0].type' });
  });
});

describe('round trip through the outbound Anthropic translation', () => {
  it('gives back the original request for the fields both support', () => {
    const outbound = toMessagesRequest(anthropicToChatParams(fullRequest, { supportsTopK: true }), {
      maxTokens: 4096,
    });
    // What the inbound side drops on purpose (thinking, cache_control) is left out of the original.
    const { thinking: _thinking, ...original } = fullRequest;
    expect(outbound).toEqual({
      ...original,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        original.messages[0],
        { role: 'assistant', content: original.messages[1]?.content.slice(1) },
        original.messages[2],
      ],
    });
  });

  it('normalises string contents to text blocks and keeps tool_choice variants', () => {
    for (const tool_choice of [{ type: 'auto' }, { type: 'any' }, { type: 'none' }]) {
      const request = {
        model: 'm',
        max_tokens: 5,
        system: 'S',
        messages: [{ role: 'user', content: 'Hi' }],
        tool_choice,
      };
      expect(toMessagesRequest(anthropicToChatParams(request), { maxTokens: 1 })).toEqual({
        ...request,
        system: [{ type: 'text', text: 'S' }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      });
    }
  });
});

describe('chatCompletionToAnthropicMessage', () => {
  const completion = (message: Params, finish_reason = 'stop', usage?: Params) => ({
    id: 'chatcmpl-abc',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason }],
    usage: usage ?? { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });

  it('maps text, tool calls, stop reason and usage', () => {
    const message = chatCompletionToAnthropicMessage(
      completion(
        {
          content: 'Let me check.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        'tool_calls',
        {
          prompt_tokens: 100,
          completion_tokens: 7,
          total_tokens: 107,
          prompt_tokens_details: { cached_tokens: 60 },
        },
      ),
    );
    expect(message).toEqual({
      id: 'msg_abc',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o',
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 40,
        output_tokens: 7,
        cache_read_input_tokens: 60,
        cache_creation_input_tokens: 0,
      },
    });
  });

  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['content_filter', 'refusal'],
    [null, 'end_turn'],
  ])('maps finish_reason %s to stop_reason %s', (finish, stop) => {
    expect(stopReasonOf(finish)).toBe(stop);
  });

  it('answers a refusal as text with stop_reason refusal, and keeps msg_ ids', () => {
    const message = chatCompletionToAnthropicMessage({
      ...completion({ content: null, refusal: 'I cannot help.' }),
      id: 'msg_kept',
    });
    expect(message).toMatchObject({
      id: 'msg_kept',
      content: [{ type: 'text', text: 'I cannot help.' }],
      stop_reason: 'refusal',
    });
  });

  it('refuses an answer that is not a chat.completion, or tool arguments that are not JSON', () => {
    expect(catchError(() => chatCompletionToAnthropicMessage({}))).toMatchObject({
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
    });
    const broken = completion(
      { content: null, tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{"a":' } }] },
      'tool_calls',
    );
    expect(catchError(() => chatCompletionToAnthropicMessage(broken))).toMatchObject({
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
    });
  });
});

const { chunk, usageChunk, textStream } = openAIStreamOf('gpt-4o');

const toolStream = [
  chunk({ role: 'assistant', content: 'Checking.' }),
  chunk({
    tool_calls: [
      { index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } },
    ],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({
    tool_calls: [
      { index: 1, id: 'call_2', type: 'function', function: { name: 'time', arguments: '{}' } },
    ],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  chunk({}, 'tool_calls'),
  usageChunk,
  'data: [DONE]\n\n',
].join('');

async function translate(pieces: readonly (string | Buffer)[]) {
  const stream = new OpenAIToAnthropicStream();
  const text = await runTranslator(stream, pieces);
  return { stream, text, events: namedEvents(text) };
}

describe('OpenAIToAnthropicStream', () => {
  it('turns a text stream into the Anthropic event sequence', async () => {
    const { stream, text, events } = await translate([textStream]);
    expect(stream.failure).toBeUndefined();
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const { event, data } of events) expect(data.type).toBe(event);
    expect(events[0]?.data.message).toMatchObject({ id: 'msg_s1', model: 'gpt-4o', content: [] });
    expect(events[1]?.data).toEqual({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    });
    expect(events[2]?.data).toEqual({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'Héllo, ' },
    });
    expect(events[5]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: {
        input_tokens: 12,
        output_tokens: 9,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      },
    });
    expect(text).toMatch(/^event: message_start\ndata: \{/);
  });

  it('turns tool calls into tool_use blocks with input_json_delta', async () => {
    const { events } = await translate([toolStream]);
    const starts = events.filter((event) => event.event === 'content_block_start');
    expect(starts.map((event) => event.data.content_block)).toEqual([
      { type: 'text', text: '' },
      { type: 'tool_use', id: 'call_1', name: 'weather', input: {} },
      { type: 'tool_use', id: 'call_2', name: 'time', input: {} },
    ]);
    const json = events
      .filter((event) => (event.data.delta as Params | undefined)?.type === 'input_json_delta')
      .map((event) => [event.data.index, (event.data.delta as Params).partial_json]);
    expect(json).toEqual([
      [1, '{"city":'],
      [2, '{}'],
      [1, '"Paris"}'],
    ]);
    expect(events.at(-2)?.data.delta).toEqual({ stop_reason: 'tool_use', stop_sequence: null });
  });

  it('gives the same events however the bytes are split', async () => {
    for (const stream of [toolStream, textStream]) {
      const whole = (await translate([stream])).text;
      for (const sizes of [[1], [2, 3], [7, 1, 13], [64]]) {
        expect((await translate(splitBytes(stream, sizes))).text).toBe(whole);
      }
    }
  });

  it('turns an OpenAI error event into an Anthropic error event and a failure', async () => {
    const { stream, events } = await translate([
      chunk({ content: 'Hi' }),
      `data: ${JSON.stringify({ error: { message: 'Overloaded', type: 'server_error', code: null } })}\n\n`,
      chunk({ content: 'ignored' }),
    ]);
    expect(events.at(-1)).toEqual({
      event: 'error',
      data: { type: 'error', error: { type: 'api_error', message: 'Overloaded' } },
    });
    expect(events.filter((event) => event.event === 'content_block_delta')).toHaveLength(1);
    expect(stream.failure).toMatchObject({ code: 'ERR_UPSTREAM_ERROR', message: 'Overloaded' });
  });

  it('reports a stream that ends without finish_reason or [DONE] as interrupted', async () => {
    const { stream, events } = await translate([chunk({ content: 'Hi' })]);
    expect(events.at(-1)?.event).toBe('error');
    expect(stream.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
  });

  it('streams a refusal as text with stop_reason refusal', async () => {
    const { events } = await translate([
      chunk({ refusal: 'I cannot help.' }),
      chunk({}, 'stop'),
      'data: [DONE]\n\n',
    ]);
    expect(events[2]?.data.delta).toEqual({ type: 'text_delta', text: 'I cannot help.' });
    expect(events.at(-2)?.data.delta).toEqual({ stop_reason: 'refusal', stop_sequence: null });
  });

  it('accepts a finish_reason without [DONE]', async () => {
    const { stream, events } = await translate([chunk({ content: 'Hi' }), chunk({}, 'length')]);
    expect(stream.failure).toBeUndefined();
    expect(events.at(-2)?.data.delta).toEqual({ stop_reason: 'max_tokens', stop_sequence: null });
  });
});

describe('anthropicErrorBody', () => {
  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [413, 'request_too_large'],
    [422, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'api_error'],
    [529, 'overloaded_error'],
  ])('gives status %i the type %s', (status, type) => {
    expect(anthropicErrorTypeOf(status)).toBe(type);
  });

  it('turns our own errors and provider errors into the Anthropic shape', () => {
    const ours = new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      'messages: a non-empty array is required',
      {
        param: 'messages',
      },
    );
    expect(anthropicErrorBody(ours.status, ours.toJSON())).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'messages: a non-empty array is required (ERR_PARAMS_INVALID)',
      },
    });
    const provider = {
      error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' },
    };
    expect(anthropicErrorBody(429, provider)).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Rate limit reached' },
    });
    expect(anthropicErrorBody(502, 'Bad gateway')).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'The request failed with status 502' },
    });
  });
});

describe('the official Anthropic SDK reads what the translators produce', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function clientAnswering(answer: CannedAnswer) {
    const server = await startCannedServer(() => answer);
    close = server.close;
    return new Anthropic({ baseURL: server.baseURL, apiKey: 'test', maxRetries: 0 });
  }

  const sse = async (stream: string) => ({
    status: 200,
    contentType: 'text/event-stream',
    body: (await translate(splitBytes(stream, [5, 11]))).text,
  });

  it('streams text and tool use to a final message', async () => {
    const client = await clientAnswering(await sse(toolStream));
    const texts: string[] = [];
    const stream = client.messages
      .stream({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .on('text', (text) => texts.push(text));
    const message = await stream.finalMessage();
    expect(texts).toEqual(['Checking.']);
    expect(message).toMatchObject({
      id: 'msg_s1',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_2', name: 'time', input: {} },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 12, output_tokens: 9 },
    });
  });

  it('streams multibyte text split at odd bytes', async () => {
    const client = await clientAnswering(await sse(textStream));
    const message = await client.messages
      .stream({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .finalMessage();
    expect(message.content).toEqual([
      expect.objectContaining({ type: 'text', text: 'Héllo, wörld 🌍' }),
    ]);
  });

  it('raises the error event of a failed stream', async () => {
    const failing = `${chunk({ content: 'Hi' })}data: {"error":{"message":"Boom","type":"server_error"}}\n\n`;
    const client = await clientAnswering(await sse(failing));
    const stream = client.messages.stream({
      model: 'gpt-4o',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    });
    await expect(stream.finalMessage()).rejects.toThrow(/Boom/);
  });

  it('reads a translated message and raises the error class for each status', async () => {
    const message = chatCompletionToAnthropicMessage({
      id: 'chatcmpl-1',
      model: 'gpt-4o',
      choices: [{ message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1 },
    });
    let client = await clientAnswering({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify(message),
    });
    const created = await client.messages.create({
      model: 'gpt-4o',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(created.content).toEqual([{ type: 'text', text: 'Hi' }]);
    await close?.();
    const limited = new LoadBalancerError('ERR_RATE_LIMITED', 'Every target is rate limited');
    client = await clientAnswering({
      status: 429,
      contentType: 'application/json',
      body: JSON.stringify(anthropicErrorBody(limited.status, limited.toJSON())),
    });
    const error = await client.messages
      .create({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error' },
    });
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
