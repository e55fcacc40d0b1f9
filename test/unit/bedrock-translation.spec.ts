import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LoadBalancerError } from '../../lib/errors.js';
import {
  BedrockToOpenAIStream,
  bedrockApiKeyHeaders,
  bedrockBaseURL,
  bedrockConversePath,
  bedrockErrorBody,
  bedrockExceptionName,
  bedrockPatterns,
  bedrockStreamContentType,
  completionToConverseRequest,
  encodeBedrockModelId,
  isBedrockModelId,
  isBedrockRegion,
  signBedrockRequest,
  structuredOutputToolName,
  toChatCompletion,
  toConverseRequest,
  toTextCompletion,
} from '../../lib/providers/bedrock/index.js';
import type { StreamShape } from '../../lib/providers/provider.js';
import type { Params } from '../../lib/types.js';
import {
  bedrockEventFrame,
  bedrockExceptionFrame,
  converseRequestProblem,
} from '../../simulators/bedrock.js';
import { type Simulator, samplePngBase64, startBedrockSimulator } from '../../simulators/index.js';
import {
  awsCredentials,
  awsRegion,
  awsSessionCredentials,
  nativeKeys,
} from '../helpers/native-providers.js';
import { chunksOf, dataOf } from '../helpers/sse.js';

const model = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const context = { id: 'chatcmpl-bedrock-1', model, created: 1_700_000_000 };
const chatShape: StreamShape = { operation: 'chat', includeUsage: false };
const pngDataURL = `data:image/png;base64,${samplePngBase64}`;

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
};

/** Translates and checks the body against the simulator's rules, the way Bedrock would. */
function converse(params: Params): Params {
  const body = toConverseRequest(params);
  expect(converseRequestProblem(body)).toBeUndefined();
  return body;
}

function thrown(action: () => unknown): LoadBalancerError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(LoadBalancerError);
    return error as LoadBalancerError;
  }
  throw new Error('expected a LoadBalancerError');
}

describe('Bedrock target values', () => {
  it('accepts AWS regions and refuses anything else that would reach the host name', () => {
    for (const region of ['us-east-1', 'eu-central-1', 'ap-southeast-2', 'us-gov-west-1']) {
      expect(isBedrockRegion(region)).toBe(true);
    }
    for (const region of [
      '',
      'US-EAST-1',
      'us-east-1.evil.com',
      'us-east-1/',
      'evil.com#',
      'us-east-10',
      'us-east-1\n',
      'us_east_1',
      undefined,
      42,
    ]) {
      expect(isBedrockRegion(region)).toBe(false);
    }
    expect(bedrockBaseURL('eu-central-1')).toBe(
      'https://bedrock-runtime.eu-central-1.amazonaws.com',
    );
    expect(thrown(() => bedrockBaseURL('evil.com/x')).code).toBe('ERR_PARAMS_INVALID');
  });

  it('accepts model ids, inference profiles and ARNs, and refuses what could leave the path segment', () => {
    for (const id of [
      model,
      'us.anthropic.claude-3-5-haiku-20241022-v1:0',
      'amazon.nova-lite-v1:0',
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0',
      'a'.repeat(256),
    ]) {
      expect(isBedrockModelId(id)).toBe(true);
    }
    for (const id of [
      '',
      '.',
      '..',
      'a/../b',
      '../converse',
      '/model',
      'a b',
      'a%2Fb',
      'a?b',
      'a#b',
      'a\\b',
      'a\r\nb',
      'a'.repeat(257),
      'é',
      undefined,
    ]) {
      expect(isBedrockModelId(id)).toBe(false);
    }
    expect(new RegExp(bedrockPatterns.modelId).test('x..y')).toBe(false);
  });

  it('exports patterns a JSON Schema validator (unicode RegExp) takes as they are', () => {
    const region = new RegExp(bedrockPatterns.region, 'u');
    const modelId = new RegExp(bedrockPatterns.modelId, 'u');
    expect([region.test('us-gov-east-1'), region.test('us-east-1x')]).toEqual([true, false]);
    expect([modelId.test(model), modelId.test('a..b')]).toEqual([true, false]);
  });

  it('keeps every accepted model id in one path segment that reads back as the id', () => {
    const chars = fc.constantFrom(...'aZ09._:/-%?#\\ é'.split(''));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 24 }), (letters) => {
        const id = letters.join('');
        if (!isBedrockModelId(id)) {
          expect(() => bedrockConversePath(id, false)).toThrow(LoadBalancerError);
          return;
        }
        const path = bedrockConversePath(id, false);
        const url = new URL(`https://bedrock-runtime.us-east-1.amazonaws.com${path}`);
        expect(url.pathname).toBe(path);
        const segments = url.pathname.split('/');
        expect(segments).toHaveLength(4);
        expect(decodeURIComponent(segments[2] as string)).toBe(id);
      }),
      { numRuns: 500, seed: 20261201 },
    );
  });

  it('percent-encodes the model id into one path segment', () => {
    expect(encodeBedrockModelId(model)).toBe('anthropic.claude-3-5-haiku-20241022-v1%3A0');
    expect(bedrockConversePath(model, false)).toBe(
      '/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse',
    );
    expect(bedrockConversePath('arn:aws:bedrock:us-east-1:1:inference-profile/p', true)).toBe(
      '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fp/converse-stream',
    );
    const error = thrown(() => bedrockConversePath('../../x', false));
    expect(error.code).toBe('ERR_PARAMS_INVALID');
    expect(error.param).toBe('params.model');
  });
});

describe('toConverseRequest', () => {
  it('moves system and developer messages to system and keeps alternating turns', () => {
    const body = converse({
      model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use British English.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Bye' },
      ],
    });
    expect(body).toEqual({
      system: [{ text: 'Be brief.' }, { text: 'Use British English.' }],
      messages: [
        { role: 'user', content: [{ text: 'Hi' }] },
        { role: 'assistant', content: [{ text: 'Hello!' }] },
        { role: 'user', content: [{ text: 'Bye' }] },
      ],
    });
  });

  it('merges consecutive same-role messages and drops blank text', () => {
    const body = converse({
      messages: [
        { role: 'user', content: 'One' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Two' },
            { type: 'text', text: '  ' },
          ],
        },
        { role: 'assistant', content: 'A' },
        { role: 'assistant', content: 'B' },
        { role: 'user', content: 'Three' },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ text: 'One' }, { text: 'Two' }] },
      { role: 'assistant', content: [{ text: 'A' }, { text: 'B' }] },
      { role: 'user', content: [{ text: 'Three' }] },
    ]);
  });

  it('refuses a conversation that does not start with a user turn, an empty message or an unknown role', () => {
    const first = thrown(() =>
      toConverseRequest({ messages: [{ role: 'assistant', content: 'Hi' }] }),
    );
    expect([first.code, first.param]).toEqual(['ERR_PARAMS_INVALID', 'params.messages']);
    expect(thrown(() => toConverseRequest({ messages: [] })).param).toBe('params.messages');
    expect(
      thrown(() =>
        toConverseRequest({
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'user', content: '' },
          ],
        }),
      ).param,
    ).toBe('params.messages[1].content');
    expect(
      thrown(() => toConverseRequest({ messages: [{ role: 'function', content: 'x' }] })).param,
    ).toBe('params.messages[0].role');
  });

  it('maps sampling and length params to inferenceConfig and drops what Converse has not', () => {
    const body = converse({
      model,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 100,
      temperature: 1.7,
      top_p: 0.9,
      stop: 'END',
      seed: 7,
      user: 'u-1',
      n: 1,
      stream: true,
      parallel_tool_calls: false,
      stream_options: { include_usage: true },
    });
    expect(body).toEqual({
      messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
      inferenceConfig: { maxTokens: 100, temperature: 1, topP: 0.9, stopSequences: ['END'] },
    });
    expect(
      converse({
        messages: [{ role: 'user', content: 'Hi' }],
        max_completion_tokens: 5,
        stop: ['a', '', 'b'],
        temperature: -1,
      }).inferenceConfig,
    ).toEqual({ maxTokens: 5, temperature: 0, stopSequences: ['a', 'b'] });
  });

  it('sends data: URL images as bytes with their format', () => {
    const body = converse({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: pngDataURL } },
          ],
        },
      ],
    });
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { text: 'What is this?' },
          { image: { format: 'png', source: { bytes: samplePngBase64 } } },
        ],
      },
    ]);
    for (const [type, format] of [
      ['image/jpeg', 'jpeg'],
      ['image/jpg', 'jpeg'],
      ['image/gif', 'gif'],
      ['image/webp', 'webp'],
    ]) {
      const translated = toConverseRequest({
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: `data:${type};base64,AAAA` }] },
        ],
      });
      expect((translated.messages as Params[])[0]?.content).toEqual([
        { image: { format, source: { bytes: 'AAAA' } } },
      ]);
    }
  });

  it('refuses images by http URL and image types Converse cannot take, naming the path', () => {
    const byURL = thrown(() =>
      toConverseRequest({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      }),
    );
    expect([byURL.code, byURL.param]).toEqual([
      'ERR_PARAMS_INVALID',
      'params.messages[0].content[1].image_url.url',
    ]);
    const svg = thrown(() =>
      toConverseRequest({
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'data:image/svg+xml;base64,AAAA' } }],
          },
        ],
      }),
    );
    expect(svg.param).toBe('params.messages[0].content[0].image_url.url');
    expect(
      thrown(() =>
        toConverseRequest({
          messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }],
        }),
      ).param,
    ).toBe('params.messages[0].content[0]');
  });

  it('maps tools and every tool_choice', () => {
    const base = {
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
    };
    const spec = {
      toolSpec: {
        name: 'get_weather',
        description: 'The weather in a city.',
        inputSchema: { json: weatherTool.function.parameters },
      },
    };
    expect(converse(base).toolConfig).toEqual({ tools: [spec] });
    expect(converse({ ...base, tool_choice: 'auto' }).toolConfig).toEqual({
      tools: [spec],
      toolChoice: { auto: {} },
    });
    expect(converse({ ...base, tool_choice: 'required' }).toolConfig).toEqual({
      tools: [spec],
      toolChoice: { any: {} },
    });
    expect(
      converse({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } })
        .toolConfig,
    ).toEqual({ tools: [spec], toolChoice: { tool: { name: 'get_weather' } } });
    // Converse has no "none": the tools are left out.
    expect(converse({ ...base, tool_choice: 'none' }).toolConfig).toBeUndefined();
    expect(
      converse({
        messages: base.messages,
        tools: [{ type: 'function', function: { name: 'ping', description: '' } }],
      }).toolConfig,
    ).toEqual({
      tools: [
        { toolSpec: { name: 'ping', inputSchema: { json: { type: 'object', properties: {} } } } },
      ],
    });
    expect(thrown(() => toConverseRequest({ ...base, tools: [{ type: 'function' }] })).param).toBe(
      'params.tools[0]',
    );
  });

  const toolConversation = [
    { role: 'user', content: 'Weather in Paris and Rome?' },
    {
      role: 'assistant',
      content: 'Let me check.',
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
    { role: 'tool', tool_call_id: 'call_1', content: 'Sunny, 21 °C' },
    { role: 'tool', tool_call_id: 'call_2', content: '{"sky":"cloudy","celsius":17}' },
    { role: 'user', content: 'Thanks, which is warmer?' },
  ];

  it('maps tool calls to toolUse and tool results to toolResult blocks in one user turn', () => {
    const body = converse({ messages: toolConversation, tools: [weatherTool] });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { text: 'Let me check.' },
          { toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } } },
          { toolUse: { toolUseId: 'call_2', name: 'get_weather', input: { city: 'Rome' } } },
        ],
      },
      {
        role: 'user',
        content: [
          { toolResult: { toolUseId: 'call_1', content: [{ text: 'Sunny, 21 °C' }] } },
          {
            toolResult: {
              toolUseId: 'call_2',
              content: [{ json: { sky: 'cloudy', celsius: 17 } }],
            },
          },
          { text: 'Thanks, which is warmer?' },
        ],
      },
    ]);
  });

  it('keeps a toolConfig the conversation needs under tool_choice none or without tools', () => {
    const none = converse({
      messages: toolConversation,
      tools: [weatherTool],
      tool_choice: 'none',
    });
    expect(none.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: 'get_weather',
            description: 'The weather in a city.',
            inputSchema: { json: weatherTool.function.parameters },
          },
        },
      ],
    });
    const withoutTools = converse({ messages: toolConversation });
    expect(withoutTools.toolConfig).toEqual({
      tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }],
    });
  });

  it('sends an empty tool result as an empty JSON object and refuses a tool message without its id', () => {
    const body = converse({
      messages: [
        { role: 'user', content: 'Go' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c', content: '' },
      ],
      tools: [weatherTool],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ text: 'Go' }] },
      {
        role: 'assistant',
        content: [{ toolUse: { toolUseId: 'c', name: 'get_weather', input: {} } }],
      },
      { role: 'user', content: [{ toolResult: { toolUseId: 'c', content: [{ json: {} }] } }] },
    ]);
    expect(
      thrown(() =>
        toConverseRequest({
          messages: [
            { role: 'user', content: 'Go' },
            { role: 'tool', content: 'x' },
          ],
        }),
      ).param,
    ).toBe('params.messages[1].tool_call_id');
    expect(
      thrown(() =>
        toConverseRequest({
          messages: [
            { role: 'user', content: 'Go' },
            {
              role: 'assistant',
              tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }],
            },
          ],
        }),
      ).param,
    ).toBe('params.messages[1].tool_calls[0].function.arguments');
  });

  const personSchema = {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'integer' } },
    required: ['name', 'age'],
  };

  it('turns response_format into a forced structured_output tool', () => {
    const body = converse({
      messages: [{ role: 'user', content: 'Who?' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'person', description: 'A person.', schema: personSchema },
      },
    });
    expect(body.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: structuredOutputToolName,
            description: 'Answer with the person object. A person.',
            inputSchema: { json: personSchema },
          },
        },
      ],
      toolChoice: { tool: { name: structuredOutputToolName } },
    });
    const jsonObject = converse({
      messages: [{ role: 'user', content: 'JSON please' }],
      response_format: { type: 'json_object' },
    });
    expect(jsonObject.toolConfig).toMatchObject({
      tools: [{ toolSpec: { name: structuredOutputToolName } }],
      toolChoice: { tool: { name: structuredOutputToolName } },
    });
    expect(
      converse({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'text' } })
        .toolConfig,
    ).toBeUndefined();
  });

  it('offers structured output beside the caller’s tools, keeping a named choice', () => {
    const format = { type: 'json_schema', json_schema: { name: 'person', schema: personSchema } };
    const messages = [{ role: 'user', content: 'Who?' }];
    const beside = converse({ messages, tools: [weatherTool], response_format: format });
    expect((beside.toolConfig as Params).toolChoice).toEqual({ any: {} });
    expect(((beside.toolConfig as Params).tools as unknown[]).length).toBe(2);
    const named = converse({
      messages,
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: format,
    });
    expect((named.toolConfig as Params).toolChoice).toEqual({ tool: { name: 'get_weather' } });
    const none = converse({
      messages,
      tools: [weatherTool],
      tool_choice: 'none',
      response_format: format,
    });
    expect(none.toolConfig).toEqual({
      tools: [
        expect.objectContaining({
          toolSpec: expect.objectContaining({ name: structuredOutputToolName }),
        }),
      ],
      toolChoice: { tool: { name: structuredOutputToolName } },
    });
  });

  it('refuses a response_format it cannot express', () => {
    expect(
      thrown(() =>
        toConverseRequest({
          messages: [{ role: 'user', content: 'x' }],
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'n', schema: { type: 'array' } },
          },
        }),
      ).param,
    ).toBe('params.response_format.json_schema.schema');
    expect(
      thrown(() =>
        toConverseRequest({
          messages: [{ role: 'user', content: 'x' }],
          response_format: { type: 'yaml' },
        }),
      ).param,
    ).toBe('params.response_format');
  });

  it('translates a text completion prompt into one user turn', () => {
    expect(completionToConverseRequest({ prompt: ['Say hi'], max_tokens: 3, suffix: '!' })).toEqual(
      {
        messages: [{ role: 'user', content: [{ text: 'Say hi' }] }],
        inferenceConfig: { maxTokens: 3 },
      },
    );
    expect(thrown(() => completionToConverseRequest({ prompt: ['a', 'b'] })).param).toBe(
      'params.prompt',
    );
  });
});

describe('toChatCompletion', () => {
  const usage = { inputTokens: 12, outputTokens: 5, totalTokens: 17 };

  it('joins text blocks and maps usage', () => {
    const answer = {
      output: { message: { role: 'assistant', content: [{ text: 'Hello ' }, { text: 'there' }] } },
      stopReason: 'end_turn',
      usage,
      metrics: { latencyMs: 42 },
    };
    expect(toChatCompletion(answer, context)).toEqual({
      id: context.id,
      object: 'chat.completion',
      created: context.created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there' },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 5,
        total_tokens: 17,
        prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
      },
    });
  });

  it('maps every stopReason', () => {
    const cases: [string, string][] = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['tool_use', 'tool_calls'],
      ['guardrail_intervened', 'content_filter'],
      ['content_filtered', 'content_filter'],
      ['something_new', 'stop'],
    ];
    for (const [stopReason, finishReason] of cases) {
      const chat = toChatCompletion(
        { output: { message: { role: 'assistant', content: [{ text: 'x' }] } }, stopReason, usage },
        context,
      );
      expect((chat.choices as Params[])[0]?.finish_reason).toBe(finishReason);
    }
  });

  it('counts cached prompt tokens into prompt_tokens', () => {
    const chat = toChatCompletion(
      {
        output: { message: { role: 'assistant', content: [{ text: 'x' }] } },
        stopReason: 'end_turn',
        usage: {
          inputTokens: 10,
          outputTokens: 2,
          totalTokens: 112,
          cacheReadInputTokens: 80,
          cacheWriteInputTokens: 20,
        },
      },
      context,
    );
    expect(chat.usage).toEqual({
      prompt_tokens: 110,
      completion_tokens: 2,
      total_tokens: 112,
      prompt_tokens_details: { cached_tokens: 80, cache_creation_tokens: 20 },
    });
  });

  it('turns toolUse blocks into tool_calls with JSON arguments', () => {
    const chat = toChatCompletion(
      {
        output: {
          message: {
            role: 'assistant',
            content: [
              {
                toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } },
              },
            ],
          },
        },
        stopReason: 'tool_use',
        usage,
      },
      context,
    );
    expect((chat.choices as Params[])[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'tooluse_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      finish_reason: 'tool_calls',
      logprobs: null,
    });
  });

  it('returns the structured_output tool input as the content, finishing with stop', () => {
    const chat = toChatCompletion(
      {
        output: {
          message: {
            role: 'assistant',
            content: [
              { text: 'Here it is:' },
              {
                toolUse: { toolUseId: 't', name: structuredOutputToolName, input: { name: 'Ada' } },
              },
            ],
          },
        },
        stopReason: 'tool_use',
        usage,
      },
      context,
    );
    expect((chat.choices as Params[])[0]).toMatchObject({
      message: { role: 'assistant', content: '{"name":"Ada"}' },
      finish_reason: 'stop',
    });
  });

  it('answers a text completion and refuses a body that is not a Converse answer', () => {
    const text = toTextCompletion(
      {
        output: { message: { role: 'assistant', content: [{ text: 'Hi' }] } },
        stopReason: 'max_tokens',
        usage,
      },
      context,
    );
    expect(text).toMatchObject({
      object: 'text_completion',
      choices: [{ index: 0, text: 'Hi', finish_reason: 'length', logprobs: null }],
    });
    expect(thrown(() => toChatCompletion({ message: 'nope' }, context)).code).toBe(
      'ERR_UPSTREAM_INVALID_RESPONSE',
    );
  });
});

describe('bedrockErrorBody', () => {
  it('reads the exception from x-amzn-errortype and the message from the body', () => {
    expect(
      bedrockErrorBody(
        400,
        { message: 'The provided model identifier is invalid.' },
        'ValidationException:http://internal.amazon.com/coral/com.amazon.coral.service/',
      ),
    ).toEqual({
      error: {
        message: 'The provided model identifier is invalid.',
        type: 'invalid_request_error',
        param: null,
        code: 'ValidationException',
      },
    });
    expect(
      bedrockErrorBody(429, { message: 'Slow down' }, 'ThrottlingException:http://x/'),
    ).toEqual({
      error: {
        message: 'Slow down',
        type: 'rate_limit_error',
        param: null,
        code: 'ThrottlingException',
      },
    });
    expect(bedrockErrorBody(403, { message: 'no' }, 'AccessDeniedException').error.type).toBe(
      'permission_error',
    );
  });

  it('falls back to the body’s __type, then to the status', () => {
    expect(
      bedrockErrorBody(
        404,
        { __type: 'com.amazon.bedrock#ResourceNotFoundException', Message: 'gone' },
        undefined,
      ),
    ).toEqual({
      error: {
        message: 'gone',
        type: 'not_found_error',
        param: null,
        code: 'ResourceNotFoundException',
      },
    });
    expect(bedrockErrorBody(503, 'Service Unavailable', undefined)).toEqual({
      error: {
        message: 'Provider bedrock answered with status 503',
        type: 'api_error',
        param: null,
        code: 'ERR_UPSTREAM_ERROR',
      },
    });
    expect(bedrockExceptionName('throttlingException')).toBe('ThrottlingException');
    expect(bedrockExceptionName('<script>')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Streams

interface Translated {
  text: string;
  chunks: (Record<string, unknown> | '[DONE]')[];
  failure: LoadBalancerError | undefined;
}

async function translateStream(
  pieces: readonly Uint8Array[],
  shape: StreamShape = chatShape,
): Promise<Translated> {
  const stream = new BedrockToOpenAIStream(shape, context);
  const out: string[] = [];
  stream.on('data', (chunk) => out.push(String(chunk)));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const piece of pieces) stream.write(Buffer.from(piece));
  stream.end();
  await ended;
  const text = out.join('');
  return { text, chunks: chunksOf(dataOf(text)), failure: stream.failure };
}

function concat(frames: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(frames.map((frame) => Buffer.from(frame))));
}

/** Every way of cutting the bytes in two, and one byte at a time. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const ways: Uint8Array[][] = [];
  for (let at = 1; at < bytes.length; at++) ways.push([bytes.subarray(0, at), bytes.subarray(at)]);
  ways.push([...bytes].map((byte) => Uint8Array.of(byte)));
  return ways;
}

const textFrames = [
  bedrockEventFrame('messageStart', { role: 'assistant' }),
  bedrockEventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello' } }),
  bedrockEventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' there' } }),
  bedrockEventFrame('contentBlockStop', { contentBlockIndex: 0 }),
  bedrockEventFrame('messageStop', { stopReason: 'end_turn' }),
  bedrockEventFrame('metadata', {
    usage: { inputTokens: 12, outputTokens: 2, totalTokens: 14 },
    metrics: { latencyMs: 42 },
  }),
];

function deltas(chunks: Translated['chunks']): Params[] {
  return chunks
    .filter((chunk): chunk is Record<string, unknown> => chunk !== '[DONE]')
    .flatMap((chunk) =>
      ((chunk.choices as Params[] | undefined) ?? []).map((choice) => choice.delta as Params),
    );
}

function contentOf(chunks: Translated['chunks']): string {
  return deltas(chunks)
    .map((delta) => (typeof delta.content === 'string' ? delta.content : ''))
    .join('');
}

describe('BedrockToOpenAIStream', () => {
  it('turns a text stream into OpenAI chunks ending in [DONE]', async () => {
    const { chunks, failure } = await translateStream([concat(textFrames)]);
    expect(failure).toBeUndefined();
    expect(chunks).toEqual([
      expect.objectContaining({
        id: context.id,
        object: 'chat.completion.chunk',
        created: context.created,
        model,
        choices: [
          {
            index: 0,
            delta: { role: 'assistant', content: '' },
            finish_reason: null,
            logprobs: null,
          },
        ],
      }),
      expect.objectContaining({
        choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null, logprobs: null }],
      }),
      expect.objectContaining({
        choices: [{ index: 0, delta: { content: ' there' }, finish_reason: null, logprobs: null }],
      }),
      expect.objectContaining({
        choices: [{ index: 0, delta: {}, finish_reason: 'stop', logprobs: null }],
      }),
      '[DONE]',
    ]);
  });

  it('gives the same output however the bytes are split', async () => {
    const bytes = concat(textFrames);
    const whole = await translateStream([bytes]);
    for (const pieces of splits(bytes)) {
      const translated = await translateStream(pieces);
      expect(translated.text).toBe(whole.text);
      expect(translated.failure).toBeUndefined();
    }
  });

  it('adds the usage chunk when the client asked for it', async () => {
    const { chunks } = await translateStream(textFrames, { operation: 'chat', includeUsage: true });
    expect(chunks.slice(-2)).toEqual([
      {
        id: context.id,
        object: 'chat.completion.chunk',
        created: context.created,
        model,
        choices: [],
        usage: {
          prompt_tokens: 12,
          completion_tokens: 2,
          total_tokens: 14,
          prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
        },
      },
      '[DONE]',
    ]);
  });

  const toolFrames = [
    bedrockEventFrame('messageStart', { role: 'assistant' }),
    bedrockEventFrame('contentBlockDelta', {
      contentBlockIndex: 0,
      delta: { text: 'Let me check.' },
    }),
    bedrockEventFrame('contentBlockStop', { contentBlockIndex: 0 }),
    bedrockEventFrame('contentBlockStart', {
      contentBlockIndex: 1,
      start: { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather' } },
    }),
    bedrockEventFrame('contentBlockDelta', {
      contentBlockIndex: 1,
      delta: { toolUse: { input: '{"city":' } },
    }),
    bedrockEventFrame('contentBlockDelta', {
      contentBlockIndex: 1,
      delta: { toolUse: { input: '"Paris"}' } },
    }),
    bedrockEventFrame('contentBlockStop', { contentBlockIndex: 1 }),
    bedrockEventFrame('messageStop', { stopReason: 'tool_use' }),
    bedrockEventFrame('metadata', { usage: { inputTokens: 12, outputTokens: 8, totalTokens: 20 } }),
  ];

  it('turns tool use into tool_calls deltas, whatever the split', async () => {
    const bytes = concat(toolFrames);
    const whole = await translateStream([bytes]);
    expect(whole.failure).toBeUndefined();
    expect(deltas(whole.chunks)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Let me check.' },
      {
        tool_calls: [
          {
            index: 0,
            id: 'tooluse_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      {},
    ]);
    const last = whole.chunks[whole.chunks.length - 2] as Params;
    expect((last.choices as Params[])[0]?.finish_reason).toBe('tool_calls');
    for (const pieces of splits(bytes)) {
      expect((await translateStream(pieces)).text).toBe(whole.text);
    }
  });

  it('streams the structured_output tool input as content, finishing with stop', async () => {
    const { chunks, failure } = await translateStream([
      bedrockEventFrame('messageStart', { role: 'assistant' }),
      bedrockEventFrame('contentBlockStart', {
        contentBlockIndex: 0,
        start: { toolUse: { toolUseId: 't', name: structuredOutputToolName } },
      }),
      bedrockEventFrame('contentBlockDelta', {
        contentBlockIndex: 0,
        delta: { toolUse: { input: '{"name":' } },
      }),
      bedrockEventFrame('contentBlockDelta', {
        contentBlockIndex: 0,
        delta: { toolUse: { input: '"Ada"}' } },
      }),
      bedrockEventFrame('messageStop', { stopReason: 'tool_use' }),
      bedrockEventFrame('metadata', { usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }),
    ]);
    expect(failure).toBeUndefined();
    expect(contentOf(chunks)).toBe('{"name":"Ada"}');
    expect(deltas(chunks).some((delta) => delta.tool_calls !== undefined)).toBe(false);
    const last = chunks[chunks.length - 2] as Params;
    expect((last.choices as Params[])[0]?.finish_reason).toBe('stop');
  });

  it('turns an exception frame into an error event and a failure, whatever the split', async () => {
    const bytes = concat([
      ...textFrames.slice(0, 2),
      bedrockExceptionFrame(
        'throttlingException',
        'Too many requests, please wait before trying again.',
      ),
    ]);
    const whole = await translateStream([bytes]);
    expect(whole.chunks[whole.chunks.length - 1]).toEqual({
      error: {
        message: 'Too many requests, please wait before trying again.',
        type: 'rate_limit_error',
        param: null,
        code: 'ThrottlingException',
      },
    });
    expect(whole.chunks).not.toContain('[DONE]');
    expect(whole.failure).toBeInstanceOf(LoadBalancerError);
    expect(whole.failure?.code).toBe('ERR_UPSTREAM_ERROR');
    for (const pieces of splits(bytes)) {
      const translated = await translateStream(pieces);
      expect(translated.text).toBe(whole.text);
      expect(translated.failure?.code).toBe('ERR_UPSTREAM_ERROR');
    }
  });

  it('reports a modelStreamErrorException as an api_error', async () => {
    const { chunks, failure } = await translateStream([
      textFrames[0] as Uint8Array,
      bedrockExceptionFrame('modelStreamErrorException', 'The model stream failed.'),
    ]);
    expect(chunks[chunks.length - 1]).toEqual({
      error: {
        message: 'The model stream failed.',
        type: 'api_error',
        param: null,
        code: 'ModelStreamErrorException',
      },
    });
    expect(failure?.message).toBe('The model stream failed.');
  });

  it('fails on a frame whose CRC does not match, in the prelude or the message', async () => {
    for (const position of ['payload', 'prelude'] as const) {
      const corrupt = Uint8Array.from(textFrames[1] as Uint8Array);
      const at = position === 'payload' ? corrupt.length - 8 : 5;
      corrupt[at] = (corrupt[at] as number) ^ 0xff;
      const { chunks, failure } = await translateStream([
        textFrames[0] as Uint8Array,
        corrupt,
        ...textFrames.slice(2),
      ]);
      expect(failure?.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
      expect(chunks).not.toContain('[DONE]');
      expect(chunks[chunks.length - 1]).toMatchObject({
        error: { code: 'ERR_UPSTREAM_INVALID_RESPONSE' },
      });
      expect(contentOf(chunks)).toBe('');
    }
  });

  it('fails on bytes that are not event-stream frames', async () => {
    const { failure } = await translateStream([new TextEncoder().encode('data: {"hello":1}\n\n')]);
    expect(failure?.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
  });

  it('reports a stream that ends before messageStop, before metadata or mid-frame as interrupted', async () => {
    const bytes = concat(textFrames);
    const cases = [
      textFrames.slice(0, 3),
      textFrames.slice(0, 5),
      [bytes.subarray(0, bytes.length - 3)],
      [],
    ];
    for (const pieces of cases) {
      const { chunks, failure } = await translateStream(pieces);
      expect(failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
      expect(chunks).not.toContain('[DONE]');
      expect(chunks[chunks.length - 1]).toMatchObject({
        error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' },
      });
    }
  });

  it('streams text_completion chunks for a completion', async () => {
    const { chunks } = await translateStream(textFrames, {
      operation: 'complete',
      includeUsage: false,
    });
    expect(chunks).toEqual([
      expect.objectContaining({
        object: 'text_completion',
        choices: [{ index: 0, text: 'Hello', finish_reason: null, logprobs: null }],
      }),
      expect.objectContaining({
        choices: [{ index: 0, text: ' there', finish_reason: null, logprobs: null }],
      }),
      expect.objectContaining({
        choices: [{ index: 0, text: '', finish_reason: 'stop', logprobs: null }],
      }),
      '[DONE]',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Signing, against the strict simulator (which recomputes every signature)

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('signBedrockRequest against the Bedrock simulator', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startBedrockSimulator({
      credentials: [awsCredentials, awsSessionCredentials],
      apiKeys: [nativeKeys.bedrockApiKey],
      region: awsRegion,
    });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => sim.reset());

  async function signedCall(
    params: Params,
    options: {
      stream?: boolean;
      credentials?: typeof awsCredentials | typeof awsSessionCredentials;
      modelId?: string;
    } = {},
  ): Promise<Answer> {
    const url = `${sim.url}${bedrockConversePath(options.modelId ?? model, options.stream === true)}`;
    const body = JSON.stringify(toConverseRequest(params));
    const headers = await signBedrockRequest({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body,
      credentials: options.credentials ?? awsCredentials,
      region: awsRegion,
    });
    return send(url, headers, body);
  }

  function json(answer: Answer): unknown {
    return JSON.parse(answer.body.toString('utf8'));
  }

  it('is accepted, and the answer translates to a chat.completion', async () => {
    const answer = await signedCall({ model, messages: [{ role: 'user', content: 'Hi' }] });
    expect(answer.status).toBe(200);
    const chat = toChatCompletion(json(answer), context);
    expect((chat.choices as Params[])[0]).toMatchObject({
      message: { role: 'assistant', content: `Hello from bedrock (${model})` },
      finish_reason: 'stop',
    });
    expect(chat.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 });
  });

  it('signs the encoded path of an ARN (the simulator verifies it, then does not know the model)', async () => {
    const arn =
      'arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-3-5-haiku-20241022-v1:0';
    const answer = await signedCall(
      { messages: [{ role: 'user', content: 'Hi' }] },
      { modelId: arn },
    );
    expect(answer.status).toBe(400);
    expect(answer.headers['x-amzn-errortype']).toMatch(/^ValidationException:/);
  });

  it('signs the encoded path of an inference profile id', async () => {
    const profile = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
    const answer = await signedCall(
      { messages: [{ role: 'user', content: 'Hi' }] },
      { modelId: profile },
    );
    expect(answer.status).toBe(200);
    expect(sim.requests[0]?.url).toContain('us.anthropic.claude-3-5-haiku-20241022-v1%3A0');
  });

  it('returns the headers to send with the signature, never the secret', async () => {
    const url = `${sim.url}${bedrockConversePath(model, false)}`;
    const headers = await signBedrockRequest({
      method: 'POST',
      url,
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
      credentials: awsSessionCredentials,
      region: awsRegion,
      now: () => Date.UTC(2026, 0, 2, 3, 4, 5),
    });
    expect(Object.keys(headers).sort()).toEqual([
      'authorization',
      'content-type',
      'host',
      'x-amz-content-sha256',
      'x-amz-date',
      'x-amz-security-token',
    ]);
    expect(headers['x-amz-date']).toBe('20260102T030405Z');
    expect(headers.host).toBe(new URL(sim.url).host);
    expect(headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${awsSessionCredentials.accessKeyId}/20260102/${awsRegion}/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$`,
      ),
    );
    expect(JSON.stringify(headers)).not.toContain(awsSessionCredentials.secretAccessKey);
  });

  it('is refused when the body sent is not the body signed', async () => {
    const url = `${sim.url}${bedrockConversePath(model, false)}`;
    const signedBody = JSON.stringify(
      toConverseRequest({ messages: [{ role: 'user', content: 'Hi' }] }),
    );
    const headers = await signBedrockRequest({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body: signedBody,
      credentials: awsCredentials,
      region: awsRegion,
    });
    const tampered = signedBody.replace('Hi', 'Yo');
    const withHash = await send(url, headers, tampered);
    expect(withHash.status).toBe(403);
    const { 'x-amz-content-sha256': _hash, ...withoutHash } = headers;
    const answer = await send(url, withoutHash, tampered);
    expect(answer.status).toBe(403);
    const error = bedrockErrorBody(
      answer.status,
      json(answer),
      String(answer.headers['x-amzn-errortype']),
    );
    expect(error.error).toMatchObject({
      code: 'InvalidSignatureException',
      type: 'authentication_error',
    });
  });

  it('is refused when signed for another region', async () => {
    const url = `${sim.url}${bedrockConversePath(model, false)}`;
    const body = '{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}';
    const headers = await signBedrockRequest({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body,
      credentials: awsCredentials,
      region: 'us-east-1',
    });
    expect((await send(url, headers, body)).status).toBe(403);
  });

  it('carries a session token, without which temporary credentials are refused', async () => {
    const params = { messages: [{ role: 'user', content: 'Hi' }] };
    expect((await signedCall(params, { credentials: awsSessionCredentials })).status).toBe(200);
    const url = `${sim.url}${bedrockConversePath(model, false)}`;
    const body = JSON.stringify(toConverseRequest(params));
    const { sessionToken: _token, ...longTerm } = awsSessionCredentials;
    const headers = await signBedrockRequest({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body,
      credentials: longTerm,
      region: awsRegion,
    });
    const answer = await send(url, headers, body);
    expect(answer.status).toBe(403);
    expect(answer.headers['x-amzn-errortype']).toMatch(/^UnrecognizedClientException:/);
  });

  it('refuses hostile regions and credentials that cannot form headers before signing', async () => {
    const request = {
      method: 'POST',
      url: `${sim.url}/model/x/converse`,
      headers: {},
      body: '{}',
      credentials: awsCredentials,
      region: awsRegion,
    };
    await expect(
      signBedrockRequest({ ...request, region: 'us-east-1.evil' }),
    ).rejects.toMatchObject({
      code: 'ERR_PARAMS_INVALID',
      param: 'aws_region',
    });
    const bad = signBedrockRequest({
      ...request,
      credentials: { ...awsSessionCredentials, sessionToken: 'token\r\nx-evil: 1' },
    });
    await expect(bad).rejects.toMatchObject({
      code: 'ERR_PARAMS_INVALID',
      param: 'aws_session_token',
    });
    await bad.catch((error: Error) => {
      expect(error.message).not.toContain('x-evil');
    });
  });

  it('accepts a Bedrock API key as a bearer token, unsigned', async () => {
    const url = `${sim.url}${bedrockConversePath(model, false)}`;
    const body = JSON.stringify(toConverseRequest({ messages: [{ role: 'user', content: 'Hi' }] }));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...bedrockApiKeyHeaders(nativeKeys.bedrockApiKey),
    };
    expect(headers.authorization).toBe(`Bearer ${nativeKeys.bedrockApiKey}`);
    expect((await send(url, headers, body)).status).toBe(200);
    const wrong = {
      'content-type': 'application/json',
      ...bedrockApiKeyHeaders('bedrock-api-key-wrong'),
    };
    const refused = await send(url, wrong, body);
    expect(refused.status).toBe(403);
    expect(
      bedrockErrorBody(refused.status, json(refused), String(refused.headers['x-amzn-errortype']))
        .error,
    ).toMatchObject({
      code: 'AccessDeniedException',
      type: 'permission_error',
    });
    expect(() => bedrockApiKeyHeaders('key with spaces')).toThrow(LoadBalancerError);
  });

  it('normalises the simulator’s validation error for a model it does not serve', async () => {
    const answer = await signedCall(
      { messages: [{ role: 'user', content: 'Hi' }] },
      { modelId: 'amazon.titan-unknown-v9:0' },
    );
    expect(answer.status).toBe(400);
    expect(
      bedrockErrorBody(answer.status, json(answer), String(answer.headers['x-amzn-errortype'])),
    ).toEqual({
      error: {
        message: 'The provided model identifier is invalid.',
        type: 'invalid_request_error',
        param: null,
        code: 'ValidationException',
      },
    });
  });

  it('takes images, and tools in both directions', async () => {
    const image = await signedCall({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: pngDataURL } },
          ],
        },
      ],
    });
    expect(image.status).toBe(200);
    const first = await signedCall({
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
      tool_choice: 'required',
    });
    expect(first.status).toBe(200);
    const chat = toChatCompletion(json(first), context);
    const choice = (chat.choices as Params[])[0] as Params;
    expect(choice.finish_reason).toBe('tool_calls');
    const assistant = choice.message as Params;
    const call = (assistant.tool_calls as Params[])[0] as Params;
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse(String((call.function as Params).arguments))).toHaveProperty('city');
    const second = await signedCall({
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        assistant,
        { role: 'tool', tool_call_id: call.id, content: '{"celsius":21}' },
      ],
      tools: [weatherTool],
    });
    expect(second.status).toBe(200);
    expect((toChatCompletion(json(second), context).choices as Params[])[0]).toMatchObject({
      message: { content: `Hello from bedrock (${model})` },
      finish_reason: 'stop',
    });
  });

  it('answers structured output as JSON content', async () => {
    const answer = await signedCall({
      messages: [{ role: 'user', content: 'Who?' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, age: { type: 'integer' } },
            required: ['name', 'age'],
          },
        },
      },
    });
    expect(answer.status).toBe(200);
    const choice = (toChatCompletion(json(answer), context).choices as Params[])[0] as Params;
    expect(choice.finish_reason).toBe('stop');
    const person = JSON.parse(String((choice.message as Params).content)) as Params;
    expect(typeof person.name).toBe('string');
    expect(typeof person.age).toBe('number');
  });

  it('translates the simulator’s real stream, split anywhere', async () => {
    const answer = await signedCall(
      { messages: [{ role: 'user', content: 'Hi' }] },
      { stream: true },
    );
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toContain(bedrockStreamContentType);
    const bytes = new Uint8Array(answer.body);
    const whole = await translateStream([bytes], { operation: 'chat', includeUsage: true });
    expect(whole.failure).toBeUndefined();
    expect(contentOf(whole.chunks)).toBe(`Hello from bedrock (${model})`);
    expect(whole.chunks[whole.chunks.length - 1]).toBe('[DONE]');
    expect((whole.chunks[whole.chunks.length - 2] as Params).usage).toMatchObject({
      prompt_tokens: 12,
      completion_tokens: 4,
    });
    for (const at of [1, 3, 4, 5, 12, 13, 50, bytes.length - 1]) {
      const translated = await translateStream([bytes.subarray(0, at), bytes.subarray(at)], {
        operation: 'chat',
        includeUsage: true,
      });
      expect(translated.text).toBe(whole.text);
    }
  });

  it('translates the simulator’s real tool-use stream', async () => {
    const answer = await signedCall(
      {
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [weatherTool],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      },
      { stream: true },
    );
    expect(answer.status).toBe(200);
    const { chunks, failure } = await translateStream([new Uint8Array(answer.body)]);
    expect(failure).toBeUndefined();
    const calls = deltas(chunks).flatMap(
      (delta) => (delta.tool_calls as Params[] | undefined) ?? [],
    );
    expect(calls[0]).toMatchObject({
      index: 0,
      type: 'function',
      function: { name: 'get_weather' },
    });
    const args = calls.map((call) => String((call.function as Params).arguments ?? '')).join('');
    expect(JSON.parse(args)).toHaveProperty('city');
    const last = chunks[chunks.length - 2] as Params;
    expect((last.choices as Params[])[0]?.finish_reason).toBe('tool_calls');
  });

  it('reports the simulator’s mid-stream exception as an error, never a clean end', async () => {
    sim.script({ answer: { streamError: { type: 'throttlingException', afterEvents: 2 } } });
    const answer = await signedCall(
      { messages: [{ role: 'user', content: 'Hi' }] },
      { stream: true },
    );
    expect(answer.status).toBe(200);
    const { chunks, failure } = await translateStream([new Uint8Array(answer.body)]);
    expect(failure?.code).toBe('ERR_UPSTREAM_ERROR');
    expect(chunks).not.toContain('[DONE]');
    expect(chunks[chunks.length - 1]).toMatchObject({
      error: { code: 'ThrottlingException', type: 'rate_limit_error' },
    });
  });
});
