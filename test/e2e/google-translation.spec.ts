import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { describe, expect, it } from 'vitest';
import { googleErrorBody } from '../../lib/providers/google/gemini-errors.js';
import {
  toBatchEmbedContentsRequest,
  toGenerateContentRequest,
} from '../../lib/providers/google/gemini-request.js';
import { toChatCompletion, toEmbeddingList } from '../../lib/providers/google/gemini-response.js';
import { GeminiToOpenAIStream } from '../../lib/providers/google/gemini-stream.js';
import { samplePngBase64 } from '../../simulators/index.js';
import { nativeKeys, useNativeProviders } from '../helpers/native-providers.js';
import { chunksOf, dataOf } from '../helpers/sse.js';

/**
 * The Gemini translation against the strict Gemini simulator: requests built from OpenAI params
 * are sent as they are, and the simulator's real answers and streams translated back. Proves
 * the translation and the simulator agree before the adapter is wired into the middleware.
 */

type Json = Record<string, unknown>;

const providers = useNativeProviders();
const model = 'gemini-2.0-flash';
const context = { created: 1, model };

async function call(
  method: string,
  body: unknown,
  options: { model?: string; key?: string; query?: string } = {},
): Promise<Response> {
  const path = `/models/${options.model ?? model}:${method}${options.query ?? ''}`;
  return fetch(`${providers.google.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-goog-api-key': options.key ?? nativeKeys.google,
    },
    body: JSON.stringify(body),
  });
}

async function chat(params: Json): Promise<Json> {
  // The model is in the path, as the adapter will send it.
  const target = String(params.model);
  const response = await call('generateContent', toGenerateContentRequest(params), {
    model: target,
  });
  const body = (await response.json()) as unknown;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return toChatCompletion(body, { ...context, model: target });
}

async function stream(
  params: Json,
  includeUsage = true,
): Promise<{ chunks: (Json | '[DONE]')[]; translator: GeminiToOpenAIStream }> {
  const response = await call('streamGenerateContent', toGenerateContentRequest(params), {
    query: '?alt=sse',
  });
  expect(response.status).toBe(200);
  const translator = new GeminiToOpenAIStream({ operation: 'chat', includeUsage }, { model });
  const output: string[] = [];
  translator.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const ended = new Promise((resolve) => translator.once('end', resolve));
  Readable.fromWeb(response.body as WebReadableStream<Uint8Array>).pipe(translator);
  await ended;
  return { chunks: chunksOf(dataOf(output.join(''))), translator };
}

type Chunk = {
  choices: { index: number; delta: Json; finish_reason: string | null }[];
  usage?: Json;
};

function firstChoice(completion: Json): { message: Json; finish_reason: string } {
  return (completion.choices as { message: Json; finish_reason: string }[])[0] as {
    message: Json;
    finish_reason: string;
  };
}

const ask = { model, messages: [{ role: 'user', content: 'Hello?' }] };

describe('Gemini translation against the Gemini simulator', () => {
  it('translates an answer and its stream to the same text and usage', async () => {
    const params = {
      ...ask,
      messages: [{ role: 'system', content: 'Be brief.' }, ...ask.messages],
      temperature: 0.3,
      top_p: 0.9,
      seed: 7,
      max_tokens: 100,
    };
    const completion = await chat(params);
    expect(firstChoice(completion)).toMatchObject({
      message: { role: 'assistant', content: `Hello from google (${model})` },
      finish_reason: 'stop',
    });
    expect(completion.model).toBe(model);
    const { chunks, translator } = await stream(params);
    expect(translator.failure).toBeUndefined();
    expect(chunks.at(-1)).toBe('[DONE]');
    const body = chunks.slice(0, -1) as Chunk[];
    expect(body.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      `Hello from google (${model})`,
    );
    expect(body.at(-1)?.usage).toEqual(completion.usage);
  });

  it('maps max_tokens truncation to length and reports thinking tokens of 2.5 models', async () => {
    const completion = await chat({ ...ask, model: 'gemini-2.5-flash', max_tokens: 2 });
    expect(firstChoice(completion).finish_reason).toBe('length');
    expect(completion.usage).toMatchObject({ completion_tokens_details: { reasoning_tokens: 5 } });
  });

  it('runs a tool conversation: the call, then its result matched back by name', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
            additionalProperties: false,
          },
        },
      },
      {
        type: 'function',
        function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
      },
    ];
    const messages: Json[] = [{ role: 'user', content: 'What is the get_weather in Paris?' }];
    const first = await chat({ model, messages, tools, tool_choice: 'required' });
    const choice = firstChoice(first);
    expect(choice.finish_reason).toBe('tool_calls');
    const toolCalls = choice.message.tool_calls as { id: string; function: Json }[];
    expect(toolCalls).toHaveLength(1);
    expect(toolCalls[0]?.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    messages.push(choice.message);
    messages.push({ role: 'tool', tool_call_id: toolCalls[0]?.id, content: '{"celsius":21}' });
    const second = await chat({ model, messages, tools });
    expect(firstChoice(second)).toMatchObject({
      message: { content: `Hello from google (${model})` },
      finish_reason: 'stop',
    });
    const named = await chat({
      model,
      messages: [{ role: 'user', content: 'Hi' }],
      tools,
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });
    const forced = (firstChoice(named).message.tool_calls as { function: Json }[])[0]?.function;
    expect(forced?.name).toBe('get_time');
    expect(JSON.parse(String(forced?.arguments))).toBeTypeOf('object');
    const { chunks } = await stream({ model, messages: messages.slice(0, 1), tools });
    const deltas = (chunks.slice(0, -1) as Chunk[]).flatMap(
      (chunk) => (chunk.choices[0]?.delta.tool_calls as Json[] | undefined) ?? [],
    );
    expect(deltas).toEqual([
      {
        index: 0,
        id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
    ]);
  });

  it('returns structured output that matches the schema, streamed or not', async () => {
    const params = {
      ...ask,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          schema: {
            type: 'object',
            $defs: { Pet: { type: 'object', properties: { kind: { enum: ['cat', 'dog'] } } } },
            properties: {
              name: { type: 'string' },
              age: { type: ['integer', 'null'] },
              pet: { $ref: '#/$defs/Pet' },
            },
            required: ['name', 'age', 'pet'],
            additionalProperties: false,
          },
        },
      },
    };
    const content = firstChoice(await chat(params)).message.content as string;
    const person = JSON.parse(content) as Json;
    expect(typeof person.name).toBe('string');
    expect(person.pet).toEqual({ kind: 'cat' });
    const { chunks } = await stream(params);
    const streamed = (chunks.slice(0, -1) as Chunk[])
      .map((chunk) => chunk.choices[0]?.delta.content ?? '')
      .join('');
    expect(JSON.parse(streamed)).toEqual(person);
    const json = await chat({ ...ask, response_format: { type: 'json_object' } });
    expect(JSON.parse(firstChoice(json).message.content as string)).toBeTypeOf('object');
  });

  it('sends images inline and gives n candidates as n choices', async () => {
    const completion = await chat({
      model,
      n: 2,
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
    expect((completion.choices as Json[]).map((choice) => choice.index)).toEqual([0, 1]);
  });

  it('translates safety blocks and mid-stream errors', async () => {
    providers.google.script({ answer: { finishReason: 'SAFETY' } });
    expect(firstChoice(await chat(ask))).toMatchObject({
      message: { content: null },
      finish_reason: 'content_filter',
    });
    providers.google.script({ answer: { streamError: { type: 'UNAVAILABLE', afterEvents: 1 } } });
    const { chunks, translator } = await stream(ask);
    expect(translator.failure?.code).toBe('ERR_UPSTREAM_ERROR');
    expect(chunks.at(-1)).toMatchObject({ error: { code: 'UNAVAILABLE', type: 'api_error' } });
    expect(chunks).not.toContain('[DONE]');
  });

  it('translates embeddings, as floats and as base64', async () => {
    const params = { model: 'text-embedding-004', input: ['one', 'two'], dimensions: 4 };
    const response = await call('batchEmbedContents', toBatchEmbedContentsRequest(params), {
      model: 'text-embedding-004',
    });
    const body = (await response.json()) as unknown;
    expect(response.status, JSON.stringify(body)).toBe(200);
    const list = toEmbeddingList(body, { model: 'text-embedding-004' });
    expect((list.data as Json[]).map((item) => item.embedding)).toEqual([
      [0.1, 0.2, 0.3, 0.4],
      [0.1, 0.2, 0.3, 0.4],
    ]);
    const encoded = toEmbeddingList(body, { model: 'e', encodingFormat: 'base64' });
    expect(typeof (encoded.data as Json[])[0]?.embedding).toBe('string');
  });

  it("translates Google's error answers to the OpenAI shape", async () => {
    const wrongKey = await call('generateContent', toGenerateContentRequest(ask), {
      key: 'AIzaSy-wrong',
    });
    expect(googleErrorBody(wrongKey.status, await wrongKey.json())).toEqual({
      error: {
        message: 'API key not valid. Please pass a valid API key.',
        type: 'invalid_request_error',
        param: null,
        code: 'INVALID_ARGUMENT',
      },
    });
    const unknown = await call('generateContent', toGenerateContentRequest(ask), {
      model: 'gemini-9-ultra',
    });
    expect(googleErrorBody(unknown.status, await unknown.json()).error).toMatchObject({
      code: 'NOT_FOUND',
      type: 'invalid_request_error',
    });
  });
});
