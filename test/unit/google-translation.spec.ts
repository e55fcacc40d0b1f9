import { describe, expect, it } from 'vitest';
import { googleErrorBody } from '../../lib/providers/google/gemini-errors.js';
import {
  completionToGenerateContentRequest,
  toBatchEmbedContentsRequest,
  toGenerateContentRequest,
} from '../../lib/providers/google/gemini-request.js';
import {
  finishReasonOf,
  toChatCompletion,
  toEmbeddingList,
  toolCallIdOf,
  toTextCompletion,
  usageOf,
} from '../../lib/providers/google/gemini-response.js';
import { toGeminiSchema } from '../../lib/providers/google/gemini-schema.js';
import { GeminiToOpenAIStream } from '../../lib/providers/google/gemini-stream.js';
import type { StreamShape } from '../../lib/providers/provider.js';
import { generateContentProblem, schemaProblem } from '../../simulators/gemini.js';
import { samplePngBase64 } from '../../simulators/media.js';
import { chunksOf, dataOf } from '../helpers/sse.js';

type Json = Record<string, unknown>;

const ask = { model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'Hi' }] };
const context = { created: 1_700_000_000, model: 'gemini-2.0-flash' };

/** Builds the body and proves the strict simulator accepts it. */
function accepted(params: Json): Json {
  const body = toGenerateContentRequest(params);
  expect(generateContentProblem(body)).toBeUndefined();
  return body;
}

/** The first choice's message of a translated answer. */
function messageOf(chat: Json): Json {
  return ((chat.choices as Json[])[0] as Json).message as Json;
}

function refusedAt(build: () => unknown, param: string): void {
  expect(build).toThrow(expect.objectContaining({ code: 'ERR_PARAMS_INVALID', param }));
}

describe('toGenerateContentRequest: messages', () => {
  it('moves system and developer messages to systemInstruction and renames assistant to model', () => {
    const body = accepted({
      model: 'gemini-2.0-flash',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use British English.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
      ],
    });
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Use British English.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Hi' }] },
        { role: 'model', parts: [{ text: 'Hello!' }] },
        { role: 'user', parts: [{ text: 'Bye' }] },
      ],
    });
  });

  it('merges consecutive same-role messages and leaves out empty ones', () => {
    const body = accepted({
      messages: [
        { role: 'user', content: 'One' },
        { role: 'user', content: '' },
        { role: 'user', content: [{ type: 'text', text: 'Two' }] },
        { role: 'assistant', content: null },
      ],
    });
    expect(body.contents).toEqual([{ role: 'user', parts: [{ text: 'One' }, { text: 'Two' }] }]);
  });

  it('refuses missing messages, unknown roles, and conversations with nothing to send', () => {
    refusedAt(() => toGenerateContentRequest({ model: 'm' }), 'params.messages');
    refusedAt(
      () => toGenerateContentRequest({ messages: [{ role: 'function', content: 'x' }] }),
      'params.messages[0].role',
    );
    refusedAt(
      () => toGenerateContentRequest({ messages: [{ role: 'system', content: 'Only rules' }] }),
      'params.messages',
    );
  });

  it('sends data: URL images inline and refuses web URLs and types Gemini cannot read', () => {
    const body = accepted({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${samplePngBase64}` } },
          ],
        },
      ],
    });
    expect(body.contents).toEqual([
      {
        role: 'user',
        parts: [
          { text: 'What is this?' },
          { inlineData: { mimeType: 'image/png', data: samplePngBase64 } },
        ],
      },
    ]);
    const withImage = (url: string) => ({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }],
    });
    refusedAt(
      () => toGenerateContentRequest(withImage('https://example.com/cat.png')),
      'params.messages[0].content[0].image_url.url',
    );
    expect(() => toGenerateContentRequest(withImage('https://example.com/cat.png'))).toThrow(
      /inline/,
    );
    refusedAt(
      () => toGenerateContentRequest(withImage('data:image/gif;base64,R0lGODlhAQABAAAAACw=')),
      'params.messages[0].content[0].image_url.url',
    );
  });

  it('sends a file part given as a data: URL inline, and refuses file ids', () => {
    const pdf = Buffer.from('%PDF-1.4').toString('base64');
    const body = accepted({
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'file',
              file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf}` },
            },
          ],
        },
      ],
    });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ inlineData: { mimeType: 'application/pdf', data: pdf } }] },
    ]);
    refusedAt(
      () =>
        toGenerateContentRequest({
          messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-123' } }] }],
        }),
      'params.messages[0].content[0].file.file_data',
    );
  });

  it('sends input_audio inline and refuses a system message with an image', () => {
    const body = accepted({
      messages: [
        {
          role: 'user',
          content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }],
        },
      ],
    });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } }] },
    ]);
    refusedAt(
      () =>
        toGenerateContentRequest({
          messages: [
            {
              role: 'system',
              content: [
                { type: 'text', text: 'Rules' },
                {
                  type: 'image_url',
                  image_url: { url: `data:image/png;base64,${samplePngBase64}` },
                },
              ],
            },
            { role: 'user', content: 'Hi' },
          ],
        }),
      'params.messages[0].content[1]',
    );
  });
});

describe('toGenerateContentRequest: generationConfig', () => {
  it('maps the sampling params and drops what Gemini has no field for', () => {
    const body = accepted({
      ...ask,
      max_tokens: 50,
      temperature: 1.5,
      top_p: 0.9,
      top_k: 40,
      seed: 7,
      stop: ['END', 'STOP'],
      n: 2,
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      logit_bias: { 1: 2 },
      user: 'u-1',
      parallel_tool_calls: false,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      generationConfig: {
        maxOutputTokens: 50,
        temperature: 1.5,
        topP: 0.9,
        topK: 40,
        seed: 7,
        stopSequences: ['END', 'STOP'],
        candidateCount: 2,
      },
    });
  });

  it('prefers max_completion_tokens, takes a single stop string and leaves n: 1 out', () => {
    const body = accepted({ ...ask, max_tokens: 10, max_completion_tokens: 99, stop: 'END', n: 1 });
    expect(body.generationConfig).toEqual({ maxOutputTokens: 99, stopSequences: ['END'] });
    expect(accepted(ask).generationConfig).toBeUndefined();
  });

  it('refuses more than five stop sequences and n outside 1..8', () => {
    refusedAt(
      () => toGenerateContentRequest({ ...ask, stop: ['a', 'b', 'c', 'd', 'e', 'f'] }),
      'params.stop',
    );
    refusedAt(() => toGenerateContentRequest({ ...ask, n: 9 }), 'params.n');
    refusedAt(() => toGenerateContentRequest({ ...ask, n: 1.5 }), 'params.n');
  });

  it('translates a text completion prompt', () => {
    const body = completionToGenerateContentRequest({
      model: 'm',
      prompt: ['Once'],
      max_tokens: 5,
    });
    expect(body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Once' }] }],
      generationConfig: { maxOutputTokens: 5 },
    });
    refusedAt(() => completionToGenerateContentRequest({ prompt: [1, 2] }), 'params.prompt');
  });
});

const weatherSchema = {
  type: 'object',
  properties: {
    city: { type: 'string', description: 'City name' },
    celsius: { type: 'number' },
  },
  required: ['city', 'celsius'],
  additionalProperties: false,
};

describe('response_format and schema conversion', () => {
  it('maps json_object to JSON mode and text to nothing', () => {
    expect(accepted({ ...ask, response_format: { type: 'json_object' } }).generationConfig).toEqual(
      {
        responseMimeType: 'application/json',
      },
    );
    expect(
      accepted({ ...ask, response_format: { type: 'text' } }).generationConfig,
    ).toBeUndefined();
  });

  it('converts a json_schema to responseSchema, keeping the property order', () => {
    const body = accepted({
      ...ask,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'weather', strict: true, schema: weatherSchema },
      },
    });
    expect(body.generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: {
        type: 'OBJECT',
        properties: {
          city: { type: 'STRING', description: 'City name' },
          celsius: { type: 'NUMBER' },
        },
        required: ['city', 'celsius'],
        propertyOrdering: ['city', 'celsius'],
      },
    });
  });

  it('inlines $ref, makes type arrays and null branches nullable, keeps known formats only', () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        Address: {
          type: 'object',
          properties: { street: { type: 'string' }, zip: { type: ['string', 'null'] } },
          required: ['street', 'zip', 'missing'],
          additionalProperties: false,
        },
      },
      properties: {
        home: { $ref: '#/$defs/Address', description: 'Where they live' },
        work: { anyOf: [{ $ref: '#/$defs/Address' }, { type: 'null' }] },
        kind: { const: 'person' },
        mood: { enum: ['happy', 'sad', null] },
        email: { type: 'string', format: 'email' },
        born: { type: 'string', format: 'date-time' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1, examples: [['a']] },
        nickname: { allOf: [{ type: 'string' }], description: 'Optional' },
        either: { anyOf: [{ type: 'string' }, { type: 'integer', format: 'int64' }] },
      },
      required: ['home'],
      additionalProperties: false,
    };
    const converted = toGeminiSchema(schema, 'response_format.json_schema.schema');
    const address = {
      type: 'OBJECT',
      properties: { street: { type: 'STRING' }, zip: { type: 'STRING', nullable: true } },
      required: ['street', 'zip'],
    };
    expect(converted).toEqual({
      type: 'OBJECT',
      properties: {
        home: { ...address, description: 'Where they live' },
        work: { ...address, nullable: true },
        kind: { type: 'STRING', enum: ['person'] },
        mood: { type: 'STRING', nullable: true, enum: ['happy', 'sad'] },
        email: { type: 'STRING' },
        born: { type: 'STRING', format: 'date-time' },
        tags: { type: 'ARRAY', items: { type: 'STRING' }, minItems: 1, example: ['a'] },
        nickname: { type: 'STRING', description: 'Optional' },
        either: { anyOf: [{ type: 'STRING' }, { type: 'INTEGER', format: 'int64' }] },
      },
      required: ['home'],
    });
    expect(schemaProblem(converted, 'generationConfig.responseSchema')).toBeUndefined();
    const body = accepted({
      ...ask,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
    });
    const responseSchema = (body.generationConfig as Json).responseSchema as {
      propertyOrdering: string[];
      properties: { home: Json };
    };
    expect(responseSchema.propertyOrdering).toEqual(Object.keys(schema.properties));
    expect(responseSchema.properties.home.propertyOrdering).toEqual(['street', 'zip']);
  });

  it('refuses what Gemini cannot express, naming the path', () => {
    const format = (schema: Json) => ({
      ...ask,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
    });
    const at = 'params.response_format.json_schema.schema';
    const cases: [Json, string][] = [
      [
        { type: 'object', properties: { a: { oneOf: [{ type: 'string' }] } } },
        `${at}.properties.a.oneOf`,
      ],
      [
        { type: 'object', properties: { a: { type: ['string', 'number'] } } },
        `${at}.properties.a.type`,
      ],
      [{ type: 'object', properties: { a: { enum: [1, 2] } } }, `${at}.properties.a.enum`],
      [
        { type: 'object', properties: { a: { type: 'integer', multipleOf: 2 } } },
        `${at}.properties.a.multipleOf`,
      ],
      [
        { type: 'object', properties: { a: { $ref: 'https://example.com/s.json' } } },
        `${at}.properties.a.$ref`,
      ],
      [{ type: 'object', properties: { a: { $ref: '#/$defs/Nope' } } }, `${at}.properties.a.$ref`],
      [
        {
          type: 'object',
          $defs: { Node: { type: 'object', properties: { next: { $ref: '#/$defs/Node' } } } },
          properties: { head: { $ref: '#/$defs/Node' } },
        },
        `${at}.properties.head.properties.next.$ref`,
      ],
      [{ type: 'array', items: [{ type: 'string' }] }, `${at}.items`],
      [
        {
          type: 'object',
          properties: { m: { type: 'object', additionalProperties: { type: 'integer' } } },
        },
        `${at}.properties.m.additionalProperties`,
      ],
      [{ type: 'object', allOf: [{ type: 'object' }, { type: 'object' }] }, `${at}.allOf`],
    ];
    for (const [schema, param] of cases)
      refusedAt(() => toGenerateContentRequest(format(schema)), param);
    refusedAt(
      () => toGenerateContentRequest({ ...ask, response_format: { type: 'json_schema' } }),
      'params.response_format',
    );
  });

  it('asks for JSON mode when the schema is an object without properties', () => {
    const body = accepted({
      ...ask,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'any', schema: { type: 'object', additionalProperties: true } },
      },
    });
    expect(body.generationConfig).toEqual({ responseMimeType: 'application/json' });
  });
});

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather now', parameters: weatherSchema },
};
const clockTool = {
  type: 'function',
  function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
};

describe('tools', () => {
  it('declares functions with converted parameters, and none for a function without any', () => {
    const body = accepted({ ...ask, tools: [weatherTool, clockTool] });
    expect(body.tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Weather now',
            parameters: {
              type: 'OBJECT',
              properties: {
                city: { type: 'STRING', description: 'City name' },
                celsius: { type: 'NUMBER' },
              },
              required: ['city', 'celsius'],
            },
          },
          { name: 'get_time' },
        ],
      },
    ]);
    expect(body.toolConfig).toBeUndefined();
  });

  it('maps every tool_choice', () => {
    const config = (toolChoice: unknown) =>
      accepted({ ...ask, tools: [weatherTool, clockTool], tool_choice: toolChoice }).toolConfig;
    expect(config('auto')).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(config('none')).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(config('required')).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(config({ type: 'function', function: { name: 'get_time' } })).toEqual({
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_time'] },
    });
    refusedAt(
      () => toGenerateContentRequest({ ...ask, tools: [weatherTool], tool_choice: 'sometimes' }),
      'params.tool_choice',
    );
  });

  it('refuses names Gemini refuses and tools that are not functions', () => {
    refusedAt(
      () =>
        toGenerateContentRequest({
          ...ask,
          tools: [{ type: 'function', function: { name: '1st-tool' } }],
        }),
      'params.tools[0].function.name',
    );
    refusedAt(
      () => toGenerateContentRequest({ ...ask, tools: [{ type: 'code_interpreter' }] }),
      'params.tools[0]',
    );
    refusedAt(
      () =>
        toGenerateContentRequest({
          ...ask,
          tools: [
            {
              type: 'function',
              function: { name: 'f', parameters: { type: 'object', patternProperties: {} } },
            },
          ],
        }),
      'params.tools[0].function.parameters.patternProperties',
    );
  });

  it('sends tool calls as functionCall parts and tool results as functionResponse parts by name', () => {
    const body = accepted({
      tools: [weatherTool, clockTool],
      messages: [
        { role: 'user', content: 'Weather in Paris, and the time?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_b', content: '12:00' },
        { role: 'tool', tool_call_id: 'call_a', content: '{"celsius":21}' },
        { role: 'user', content: 'Thanks' },
      ],
    });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris, and the time?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_time', response: { content: '12:00' } } },
          { functionResponse: { name: 'get_weather', response: { celsius: 21 } } },
          { text: 'Thanks' },
        ],
      },
    ]);
  });

  it('refuses a tool result for an unknown call and arguments that are not a JSON object', () => {
    refusedAt(
      () =>
        toGenerateContentRequest({
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'tool', tool_call_id: 'call_nowhere', content: 'x' },
          ],
        }),
      'params.messages[1].tool_call_id',
    );
    refusedAt(
      () =>
        toGenerateContentRequest({
          messages: [
            { role: 'user', content: 'Hi' },
            {
              role: 'assistant',
              tool_calls: [
                { id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } },
              ],
            },
          ],
        }),
      'params.messages[1].tool_calls[0].function.arguments',
    );
  });
});

describe('toBatchEmbedContentsRequest', () => {
  it('sends one request per input, naming the model, with outputDimensionality', () => {
    expect(toBatchEmbedContentsRequest({ model: 'text-embedding-004', input: 'Hi' })).toEqual({
      requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'Hi' }] } }],
    });
    expect(
      toBatchEmbedContentsRequest({
        model: 'gemini-embedding-001',
        input: ['a', 'b'],
        dimensions: 8,
      }),
    ).toEqual({
      requests: [
        {
          model: 'models/gemini-embedding-001',
          content: { parts: [{ text: 'a' }] },
          outputDimensionality: 8,
        },
        {
          model: 'models/gemini-embedding-001',
          content: { parts: [{ text: 'b' }] },
          outputDimensionality: 8,
        },
      ],
    });
  });

  it('refuses token arrays, empty inputs and more than 100 inputs', () => {
    refusedAt(
      () => toBatchEmbedContentsRequest({ model: 'e', input: [[1, 2]] }),
      'params.input[0]',
    );
    refusedAt(() => toBatchEmbedContentsRequest({ model: 'e', input: [] }), 'params.input');
    refusedAt(
      () => toBatchEmbedContentsRequest({ model: 'e', input: Array(101).fill('x') }),
      'params.input',
    );
    refusedAt(() => toBatchEmbedContentsRequest({ input: 'x' }), 'params.model');
  });
});

const answer = {
  candidates: [
    {
      content: { role: 'model', parts: [{ text: 'Hello ' }, { text: 'there', thought: false }] },
      finishReason: 'STOP',
      index: 0,
    },
  ],
  usageMetadata: {
    promptTokenCount: 12,
    candidatesTokenCount: 2,
    thoughtsTokenCount: 5,
    cachedContentTokenCount: 4,
    totalTokenCount: 19,
  },
  modelVersion: 'gemini-2.5-flash-001',
  responseId: 'resp-1',
};

const toolAnswer = {
  candidates: [
    {
      content: {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'get_weather', args: { city: 'Rome' } } },
        ],
      },
      finishReason: 'STOP',
      index: 0,
    },
  ],
  usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7 },
  modelVersion: 'gemini-2.0-flash',
  responseId: 'resp-tools',
};

describe('toChatCompletion', () => {
  it('joins text parts and maps id, model and usage', () => {
    expect(toChatCompletion(answer, context)).toEqual({
      id: 'resp-1',
      object: 'chat.completion',
      created: context.created,
      model: 'gemini-2.5-flash-001',
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
        completion_tokens: 7,
        total_tokens: 19,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 5 },
      },
    });
  });

  it('leaves thought parts out and falls back to the requested model', () => {
    const chat = toChatCompletion(
      {
        candidates: [
          {
            content: { parts: [{ text: 'Thinking...', thought: true }, { text: 'Answer' }] },
            finishReason: 'STOP',
          },
        ],
      },
      context,
    );
    expect((chat.choices as Json[])[0]?.message).toEqual({ role: 'assistant', content: 'Answer' });
    expect(chat.model).toBe('gemini-2.0-flash');
    expect(chat.usage).toBeUndefined();
  });

  it('maps finish reasons', () => {
    expect(finishReasonOf('STOP', false)).toBe('stop');
    expect(finishReasonOf('STOP', true)).toBe('tool_calls');
    expect(finishReasonOf('MAX_TOKENS', false)).toBe('length');
    for (const reason of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII']) {
      expect(finishReasonOf(reason, false)).toBe('content_filter');
    }
    expect(finishReasonOf('OTHER', false)).toBe('stop');
    expect(finishReasonOf('MALFORMED_FUNCTION_CALL', false)).toBe('stop');
    expect(finishReasonOf(undefined, false)).toBeNull();
  });

  it('returns function calls as tool calls with ids that are stable and distinct', () => {
    const first = toChatCompletion(toolAnswer, context);
    const again = toChatCompletion(structuredClone(toolAnswer), { ...context, created: 1 });
    const choice = (first.choices as Json[])[0] as Json;
    const message = choice.message as { content: unknown; tool_calls: Json[] };
    expect(choice.finish_reason).toBe('tool_calls');
    expect(message.content).toBeNull();
    expect(message.tool_calls.map((call) => call.function)).toEqual([
      { name: 'get_weather', arguments: '{"city":"Paris"}' },
      { name: 'get_weather', arguments: '{"city":"Rome"}' },
    ]);
    const ids = message.tool_calls.map((call) => call.id as string);
    expect(ids[0]).toMatch(/^call_[0-9a-f]{24}$/);
    expect(new Set(ids).size).toBe(2);
    expect((messageOf(again).tool_calls as Json[]).map((call) => call.id)).toEqual(ids);
    expect(toolCallIdOf('resp-tools', 0, 0, { name: 'get_weather', args: { city: 'Paris' } })).toBe(
      ids[0],
    );
    expect(
      toolCallIdOf('other-response', 0, 0, { name: 'get_weather', args: { city: 'Paris' } }),
    ).not.toBe(ids[0]);
    expect(toolCallIdOf('r', 0, 0, { name: 'f', id: 'given-id' })).toBe('given-id');
  });

  it('answers a blocked candidate or prompt with content_filter and no content', () => {
    const blocked = toChatCompletion(
      { candidates: [{ finishReason: 'SAFETY', index: 0, safetyRatings: [] }], responseId: 'b' },
      context,
    );
    expect((blocked.choices as Json[])[0]).toMatchObject({
      message: { role: 'assistant', content: null },
      finish_reason: 'content_filter',
    });
    const prompt = toChatCompletion(
      { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 3 } },
      context,
    );
    expect((prompt.choices as Json[])[0]).toMatchObject({ finish_reason: 'content_filter' });
    expect(prompt.id).toBe(`chatcmpl-google-${context.created}`);
  });

  it('gives one choice per candidate and refuses a body that is no answer', () => {
    const two = toChatCompletion(
      {
        candidates: [0, 1].map((index) => ({
          content: { parts: [{ text: `answer ${index}` }] },
          finishReason: index === 0 ? 'STOP' : 'MAX_TOKENS',
          index,
        })),
      },
      context,
    );
    expect((two.choices as Json[]).map((choice) => [choice.index, choice.finish_reason])).toEqual([
      [0, 'stop'],
      [1, 'length'],
    ]);
    expect(() => toChatCompletion({ nope: true }, context)).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_RESPONSE' }),
    );
  });

  it('gives a text completion', () => {
    expect(toTextCompletion(answer, context)).toMatchObject({
      object: 'text_completion',
      choices: [{ index: 0, text: 'Hello there', finish_reason: 'stop' }],
    });
  });

  it('counts tool-use prompt tokens as prompt tokens', () => {
    expect(
      usageOf({ promptTokenCount: 2, toolUsePromptTokenCount: 3, candidatesTokenCount: 1 }),
    ).toEqual({
      prompt_tokens: 5,
      completion_tokens: 1,
      total_tokens: 6,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });
});

describe('toEmbeddingList', () => {
  const body = { embeddings: [{ values: [0.1, 0.2] }, { values: [0.5, -1] }] };

  it('lists the vectors as floats', () => {
    expect(toEmbeddingList(body, { model: 'text-embedding-004' })).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.1, 0.2] },
        { object: 'embedding', index: 1, embedding: [0.5, -1] },
      ],
      model: 'text-embedding-004',
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
  });

  it('encodes base64 as little-endian float32, as the openai SDK decodes it', () => {
    const list = toEmbeddingList(body, { model: 'e', encodingFormat: 'base64' });
    const encoded = ((list.data as Json[])[1] as Json).embedding as string;
    const bytes = Buffer.from(encoded, 'base64');
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual([
      0.5, -1,
    ]);
    expect(() => toEmbeddingList({ embeddings: [{}] }, { model: 'e' })).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_RESPONSE' }),
    );
  });
});

describe('googleErrorBody', () => {
  it("puts Google's status name in code and picks the type by status", () => {
    expect(
      googleErrorBody(400, {
        error: {
          code: 400,
          message: 'API key not valid.',
          status: 'INVALID_ARGUMENT',
          details: [{}],
        },
      }),
    ).toEqual({
      error: {
        message: 'API key not valid.',
        type: 'invalid_request_error',
        param: null,
        code: 'INVALID_ARGUMENT',
      },
    });
    expect(
      googleErrorBody(503, [
        { error: { code: 503, message: 'Overloaded', status: 'UNAVAILABLE' } },
      ]),
    ).toEqual({
      error: { message: 'Overloaded', type: 'api_error', param: null, code: 'UNAVAILABLE' },
    });
  });

  it('gives a generic body when there is no Google error', () => {
    expect(googleErrorBody(502, '<html>Bad gateway</html>')).toEqual({
      error: {
        message: 'Provider google answered with status 502',
        type: 'api_error',
        param: null,
        code: 'ERR_UPSTREAM_ERROR',
      },
    });
  });
});

/** Frames as Google writes them: `data: {...}` separated by CRLF CRLF. */
function sse(frames: unknown[]): string {
  return frames.map((frame) => `data: ${JSON.stringify(frame)}\r\n\r\n`).join('');
}

/** Feeds the text through a translator in pieces of `size` bytes (splitting UTF-8 sequences too). */
async function translate(
  text: string,
  shape: StreamShape = { operation: 'chat', includeUsage: true },
  size = 7,
): Promise<{ chunks: (Json | '[DONE]')[]; translator: GeminiToOpenAIStream }> {
  const translator = new GeminiToOpenAIStream(shape, { model: 'gemini-2.0-flash', created: 1 });
  const output: string[] = [];
  translator.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const ended = new Promise((resolve) => translator.once('end', resolve));
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; at += size) translator.write(bytes.subarray(at, at + size));
  translator.end();
  await ended;
  return { chunks: chunksOf(dataOf(output.join(''))), translator };
}

type Chunk = {
  choices: { index: number; delta: Json; finish_reason: string | null }[];
  usage?: Json;
};

const textFrames = [
  {
    candidates: [{ content: { role: 'model', parts: [{ text: 'Héllo ' }] }, index: 0 }],
    usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
    modelVersion: 'gemini-2.0-flash',
    responseId: 'stream-1',
  },
  {
    candidates: [{ content: { role: 'model', parts: [{ text: 'wörld 🌍' }] }, index: 0 }],
    usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
    modelVersion: 'gemini-2.0-flash',
    responseId: 'stream-1',
  },
  {
    candidates: [
      { content: { role: 'model', parts: [{ text: '!' }] }, finishReason: 'STOP', index: 0 },
    ],
    usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 3, totalTokenCount: 15 },
    modelVersion: 'gemini-2.0-flash',
    responseId: 'stream-1',
  },
];

describe('GeminiToOpenAIStream', () => {
  it('streams text deltas, the finish reason, usage and [DONE], whatever the piece size', async () => {
    for (const size of [1, 3, 7, 64, 10_000]) {
      const { chunks, translator } = await translate(sse(textFrames), undefined, size);
      expect(translator.failure).toBeUndefined();
      expect(chunks.at(-1)).toBe('[DONE]');
      const body = chunks.slice(0, -1) as Chunk[];
      expect(body[0]).toMatchObject({
        id: 'stream-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gemini-2.0-flash',
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      });
      const text = body.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      expect(text).toBe('Héllo wörld 🌍!');
      expect(body.at(-2)?.choices[0]?.finish_reason).toBe('stop');
      expect(body.at(-1)).toMatchObject({
        choices: [],
        usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
      });
    }
  });

  it('leaves the usage chunk out unless asked for, and reads LF-separated frames too', async () => {
    const text = sse(textFrames).replace(/\r\n/g, '\n');
    const { chunks } = await translate(text, { operation: 'chat', includeUsage: false });
    expect(chunks.some((chunk) => chunk !== '[DONE]' && (chunk as Chunk).usage !== undefined)).toBe(
      false,
    );
    expect(chunks.at(-1)).toBe('[DONE]');
  });

  it('streams tool calls whole, with the ids of the non-streamed answer', async () => {
    const { chunks, translator } = await translate(
      sse([
        {
          candidates: [
            { content: { parts: [toolAnswer.candidates[0]?.content.parts[0]] }, index: 0 },
          ],
          responseId: 'resp-tools',
        },
        {
          candidates: [
            {
              content: { parts: [toolAnswer.candidates[0]?.content.parts[1]] },
              finishReason: 'STOP',
              index: 0,
            },
          ],
          usageMetadata: toolAnswer.usageMetadata,
          responseId: 'resp-tools',
        },
      ]),
    );
    expect(translator.failure).toBeUndefined();
    const deltas = (chunks.slice(0, -1) as Chunk[]).flatMap((chunk) =>
      chunk.choices.flatMap((choice) => (choice.delta.tool_calls as Json[] | undefined) ?? []),
    );
    const expected = messageOf(toChatCompletion(toolAnswer, context)).tool_calls as Json[];
    expect(deltas).toEqual(expected.map((call, index) => ({ index, ...call })));
    const finish = (chunks.slice(0, -1) as Chunk[]).find(
      (chunk) => chunk.choices[0]?.finish_reason,
    );
    expect(finish?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('turns an error frame into an error event and a failure', async () => {
    const { chunks, translator } = await translate(
      sse([
        textFrames[0],
        { error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } },
      ]),
    );
    expect(chunks.at(-1)).toEqual({
      error: {
        message: 'The model is overloaded.',
        type: 'api_error',
        param: null,
        code: 'UNAVAILABLE',
      },
    });
    expect(chunks).not.toContain('[DONE]');
    expect(translator.failure).toMatchObject({
      code: 'ERR_UPSTREAM_ERROR',
      message: 'The model is overloaded.',
    });
  });

  it('turns an end without a finishReason into ERR_UPSTREAM_STREAM_INTERRUPTED', async () => {
    for (const text of [sse(textFrames.slice(0, 2)), '', sse(textFrames).slice(0, -20)]) {
      const { chunks, translator } = await translate(text);
      expect(translator.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
      expect(chunks.at(-1)).toMatchObject({ error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' } });
      expect(chunks).not.toContain('[DONE]');
    }
  });

  it('finishes a blocked prompt with content_filter', async () => {
    const { chunks, translator } = await translate(
      sse([
        {
          promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
          usageMetadata: { promptTokenCount: 4 },
        },
      ]),
    );
    expect(translator.failure).toBeUndefined();
    const body = chunks.slice(0, -1) as Chunk[];
    expect(body.map((chunk) => chunk.choices[0]?.finish_reason ?? null)).toEqual([
      null,
      'content_filter',
      null,
    ]);
    expect(body.at(-1)?.usage).toMatchObject({ prompt_tokens: 4 });
  });

  it('streams several candidates by index, finished when all are', async () => {
    const frame = (finish: boolean) => ({
      candidates: [0, 1].map((index) => ({
        content: { parts: [{ text: `c${index}` }] },
        index,
        ...(finish ? { finishReason: 'STOP' } : {}),
      })),
      responseId: 'multi',
    });
    const done = await translate(sse([frame(false), frame(true)]));
    expect(done.translator.failure).toBeUndefined();
    const body = done.chunks.slice(0, -1) as Chunk[];
    for (const index of [0, 1]) {
      const mine = body.filter((chunk) => chunk.choices[0]?.index === index);
      expect(mine.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
        `c${index}c${index}`,
      );
      expect(mine.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    }
    const partial = await translate(
      sse([
        {
          ...frame(false),
          candidates: [{ ...frame(true).candidates[0] }, frame(false).candidates[1]],
        },
      ]),
    );
    expect(partial.translator.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
  });

  it('streams text_completion chunks for the complete operation', async () => {
    const { chunks } = await translate(sse(textFrames), {
      operation: 'complete',
      includeUsage: false,
    });
    const body = chunks.slice(0, -1) as { object: string; choices: { text: string }[] }[];
    expect(body.every((chunk) => chunk.object === 'text_completion')).toBe(true);
    expect(body.map((chunk) => chunk.choices[0]?.text).join('')).toBe('Héllo wörld 🌍!');
  });
});
