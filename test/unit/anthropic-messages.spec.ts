import { describe, expect, it } from 'vitest';
import { LoadBalancerError } from '../../lib/index.js';
import {
  completionToMessagesRequest,
  structuredOutputToolName,
  toChatCompletion,
  toMessagesRequest,
  toTextCompletion,
} from '../../lib/providers/anthropic-messages.js';
import { AnthropicToOpenAIStream } from '../../lib/providers/anthropic-stream.js';
import { messagesRequestProblem } from '../../simulators/anthropic.js';
import { anthropicEvent, chunksOf, dataOf } from '../helpers/sse.js';

const defaults = { maxTokens: 4096 };

describe('toMessagesRequest', () => {
  it('moves system and developer messages to the top level and keeps user/assistant turns', () => {
    const request = toMessagesRequest(
      {
        model: 'claude-3-5-sonnet-latest',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use British English.' }] },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'Bye' },
        ],
      },
      defaults,
    );
    expect(request).toEqual({
      model: 'claude-3-5-sonnet-latest',
      max_tokens: 4096,
      system: [
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Use British English.' },
      ],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello!' }] },
        { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
      ],
    });
    expect(messagesRequestProblem(request)).toBeUndefined();
  });

  it('maps max_completion_tokens, stop, user and temperature, and drops what Anthropic refuses', () => {
    const request = toMessagesRequest(
      {
        model: 'm',
        messages: [{ role: 'user', content: 'Hi' }],
        max_completion_tokens: 99,
        stop: 'END',
        user: 'u-1',
        temperature: 1.7,
        top_p: 0.9,
        n: 2,
        presence_penalty: 0.5,
        frequency_penalty: 0.5,
        logit_bias: { 1: 2 },
        seed: 4,
        logprobs: true,
      },
      defaults,
    );
    expect(request).toEqual({
      model: 'm',
      max_tokens: 99,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
      temperature: 1,
      top_p: 0.9,
    });
    expect(messagesRequestProblem(request)).toBeUndefined();
  });

  it('prefers max_tokens and keeps an array of stop sequences', () => {
    const request = toMessagesRequest(
      {
        model: 'm',
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 10,
        max_completion_tokens: 99,
        stop: ['a', 'b'],
      },
      defaults,
    );
    expect(request.max_tokens).toBe(10);
    expect(request.stop_sequences).toEqual(['a', 'b']);
  });

  it('translates tools, tool_choice, tool calls and merged tool results', () => {
    const request = toMessagesRequest(
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              {
                id: 'call_2',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18C' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        ],
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              description: 'Current weather',
              parameters: {
                type: 'object',
                properties: { city: { type: 'string' } },
                required: ['city'],
              },
            },
          },
        ],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
      },
      defaults,
    );
    expect(request.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        ],
      },
    ]);
    expect(request.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
        },
      },
    ]);
    expect(request.tool_choice).toEqual({
      type: 'tool',
      name: 'get_weather',
      disable_parallel_tool_use: true,
    });
    expect(messagesRequestProblem(request)).toBeUndefined();
  });

  it('maps each tool_choice', () => {
    const choice = (tool_choice: unknown) =>
      toMessagesRequest(
        { model: 'm', messages: [{ role: 'user', content: 'x' }], tool_choice },
        defaults,
      ).tool_choice;
    expect(choice('auto')).toEqual({ type: 'auto' });
    expect(choice('required')).toEqual({ type: 'any' });
    expect(choice('none')).toEqual({ type: 'none' });
    expect(choice(undefined)).toBeUndefined();
  });

  it('turns image_url parts into base64 and url image blocks', () => {
    const request = toMessagesRequest(
      {
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Compare' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              {
                type: 'image_url',
                image_url: { url: 'https://example.com/cat.jpg', detail: 'high' },
              },
            ],
          },
        ],
      },
      defaults,
    );
    expect((request.messages as { content: unknown[] }[])[0]?.content).toEqual([
      { type: 'text', text: 'Compare' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
    expect(messagesRequestProblem(request)).toBeUndefined();
  });

  it('refuses what cannot be translated with ERR_PARAMS_INVALID and the path', () => {
    const failure = (params: Record<string, unknown>) => {
      try {
        toMessagesRequest(params, defaults);
      } catch (error) {
        return error instanceof LoadBalancerError ? [error.code, error.param] : error;
      }
      return undefined;
    };
    expect(failure({ model: 'm' })).toEqual(['ERR_PARAMS_INVALID', 'params.messages']);
    expect(failure({ model: 'm', messages: [{ role: 'robot', content: 'x' }] })).toEqual([
      'ERR_PARAMS_INVALID',
      'params.messages[0].role',
    ]);
    expect(
      failure({ model: 'm', messages: [{ role: 'user', content: [{ type: 'input_audio' }] }] }),
    ).toEqual(['ERR_PARAMS_INVALID', 'params.messages[0].content[0]']);
    expect(
      failure({
        model: 'm',
        messages: [
          {
            role: 'assistant',
            tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{bad' } }],
          },
        ],
      }),
    ).toEqual(['ERR_PARAMS_INVALID', 'params.messages[0].tool_calls[0].function.arguments']);
  });
});

describe('completionToMessagesRequest', () => {
  it('sends a prompt as one user turn', () => {
    expect(
      completionToMessagesRequest(
        { model: 'm', prompt: 'Say hi', max_tokens: 5, suffix: 'x' },
        defaults,
      ),
    ).toEqual({
      model: 'm',
      max_tokens: 5,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hi' }] }],
    });
  });
});

describe('responses', () => {
  const message = {
    id: 'msg_1',
    type: 'message',
    model: 'claude-x',
    content: [
      { type: 'text', text: 'Checking' },
      { type: 'text', text: ' now.' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
    ],
    stop_reason: 'tool_use',
    usage: {
      input_tokens: 10,
      output_tokens: 5,
      cache_read_input_tokens: 4,
      cache_creation_input_tokens: 1,
    },
  };

  it('builds a chat.completion with tool calls, finish reason and usage including cache tokens', () => {
    expect(toChatCompletion(message, 1700000000)).toEqual({
      id: 'msg_1',
      object: 'chat.completion',
      created: 1700000000,
      model: 'claude-x',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Checking now.',
            tool_calls: [
              {
                id: 'toolu_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 15,
        completion_tokens: 5,
        total_tokens: 20,
        prompt_tokens_details: { cached_tokens: 4, cache_creation_tokens: 1 },
      },
    });
  });

  it('maps stop reasons', () => {
    const finish = (stop_reason: string) =>
      (
        toChatCompletion({ ...message, content: [], stop_reason }, 0).choices as {
          finish_reason: string;
        }[]
      )[0]?.finish_reason;
    expect(finish('end_turn')).toBe('stop');
    expect(finish('stop_sequence')).toBe('stop');
    expect(finish('max_tokens')).toBe('length');
    expect(finish('tool_use')).toBe('tool_calls');
  });

  it('builds a text_completion', () => {
    const completion = toTextCompletion(
      { ...message, content: [{ type: 'text', text: 'Hi' }], stop_reason: 'max_tokens' },
      5,
    );
    expect(completion).toMatchObject({
      object: 'text_completion',
      choices: [{ index: 0, text: 'Hi', finish_reason: 'length' }],
    });
  });

  it('refuses a body that is not a message', () => {
    expect(() => toChatCompletion({ nope: true }, 0)).toThrow(LoadBalancerError);
  });
});

describe('structured output', () => {
  const schema = {
    type: 'object',
    properties: { city: { type: 'string' }, celsius: { type: 'number' } },
    required: ['city', 'celsius'],
    additionalProperties: false,
  };
  const ask = { model: 'm', messages: [{ role: 'user', content: 'Weather?' }] };
  const jsonSchema = {
    type: 'json_schema',
    json_schema: { name: 'weather', schema, strict: true },
  };

  it('asks for a JSON schema through one forced tool whose input schema it is', () => {
    const request = toMessagesRequest({ ...ask, response_format: jsonSchema }, defaults);
    expect(request.tools).toEqual([
      {
        name: structuredOutputToolName,
        description: 'Answer with the weather object.',
        input_schema: schema,
      },
    ]);
    expect(request.tool_choice).toEqual({ type: 'tool', name: structuredOutputToolName });
    expect(messagesRequestProblem(request)).toBeUndefined();
  });

  it('asks for any JSON object with json_object, and ignores type text', () => {
    const request = toMessagesRequest(
      { ...ask, response_format: { type: 'json_object' } },
      defaults,
    );
    expect((request.tools as { input_schema: unknown }[])[0]?.input_schema).toEqual({
      type: 'object',
      additionalProperties: true,
    });
    expect(messagesRequestProblem(request)).toBeUndefined();
    const text = toMessagesRequest({ ...ask, response_format: { type: 'text' } }, defaults);
    expect(text.tools).toBeUndefined();
  });

  it("lets the model choose between the caller's tools and the answer, unless a tool is named", () => {
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: schema } }];
    const free = toMessagesRequest({ ...ask, tools, response_format: jsonSchema }, defaults);
    expect((free.tools as { name: string }[]).map((tool) => tool.name)).toEqual([
      'lookup',
      structuredOutputToolName,
    ]);
    expect(free.tool_choice).toEqual({ type: 'any' });
    const named = toMessagesRequest(
      {
        ...ask,
        tools,
        tool_choice: { type: 'function', function: { name: 'lookup' } },
        response_format: jsonSchema,
      },
      defaults,
    );
    expect(named.tool_choice).toEqual({ type: 'tool', name: 'lookup' });
  });

  it('refuses a schema that is not an object, and a malformed response_format', () => {
    const array = { type: 'json_schema', json_schema: { name: 'list', schema: { type: 'array' } } };
    expect(() => toMessagesRequest({ ...ask, response_format: array }, defaults)).toThrow(
      expect.objectContaining({ param: 'params.response_format.json_schema.schema' }),
    );
    expect(() =>
      toMessagesRequest({ ...ask, response_format: { type: 'json_schema' } }, defaults),
    ).toThrow(expect.objectContaining({ param: 'params.response_format' }));
  });

  it('returns the tool input as the message content, finished with stop', () => {
    const chat = toChatCompletion(
      {
        id: 'msg_1',
        model: 'claude-x',
        content: [
          {
            type: 'tool_use',
            id: 'toolu_1',
            name: structuredOutputToolName,
            input: { city: 'Paris', celsius: 21 },
          },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 1, output_tokens: 1 },
      },
      1,
    );
    const choice = (
      chat.choices as { message: Record<string, unknown>; finish_reason: string }[]
    )[0];
    expect(choice?.message).toEqual({
      role: 'assistant',
      content: '{"city":"Paris","celsius":21}',
    });
    expect(choice?.finish_reason).toBe('stop');
  });

  it('streams the tool input as content deltas', async () => {
    const translator = new AnthropicToOpenAIStream({ operation: 'chat', includeUsage: false });
    const output: string[] = [];
    translator.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const events = [
      anthropicEvent('message_start', { message: { id: 'm', model: 'c', usage: {} } }),
      anthropicEvent('content_block_start', {
        index: 0,
        content_block: { type: 'tool_use', id: 't', name: structuredOutputToolName, input: {} },
      }),
      anthropicEvent('content_block_delta', {
        index: 0,
        delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' },
      }),
      anthropicEvent('content_block_delta', {
        index: 0,
        delta: { type: 'input_json_delta', partial_json: 'ris"}' },
      }),
      anthropicEvent('message_delta', { delta: { stop_reason: 'tool_use' }, usage: {} }),
      anthropicEvent('message_stop', {}),
    ];
    translator.end(events.join(''));
    await new Promise((resolve) => translator.once('end', resolve));
    const chunks = chunksOf(dataOf(output.join(''))).slice(0, -1) as {
      choices: {
        delta: { content?: string; tool_calls?: unknown };
        finish_reason: string | null;
      }[];
    }[];
    const content = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(JSON.parse(content)).toEqual({ city: 'Paris' });
    expect(chunks.some((chunk) => chunk.choices[0]?.delta.tool_calls !== undefined)).toBe(false);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(translator.failure).toBeUndefined();
  });
});
