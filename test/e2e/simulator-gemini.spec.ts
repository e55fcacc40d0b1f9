import { describe, expect, it } from 'vitest';
import { samplePngBase64 } from '../../simulators/index.js';
import { nativeKeys, useNativeProviders } from '../helpers/native-providers.js';

const providers = useNativeProviders();

const contents = [{ role: 'user', parts: [{ text: 'Hello?' }] }];

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = { 'x-goog-api-key': nativeKeys.google },
): Promise<{ status: number; headers: Headers; text: string; json: Record<string, unknown> }> {
  const response = await fetch(`${providers.google.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: response.status, headers: response.headers, text, json };
}

const generate = (body: unknown, model = 'gemini-2.0-flash') =>
  post(`/models/${model}:generateContent`, body);

interface Candidate {
  content?: { role: string; parts: Record<string, unknown>[] };
  finishReason?: string;
}
const candidatesOf = (json: Record<string, unknown>) => json.candidates as Candidate[];

function expectGoogleError(
  result: { status: number; json: Record<string, unknown> },
  code: number,
  status: string,
  message: RegExp,
): void {
  expect(result.status).toBe(code);
  expect(result.json.error).toMatchObject({
    code,
    status,
    message: expect.stringMatching(message),
  });
}

describe('the Gemini simulator: generateContent', () => {
  it('answers text with finishReason and usageMetadata, and records the request', async () => {
    const result = await generate({
      contents,
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { temperature: 0.2, topP: 0.9, seed: 7, maxOutputTokens: 100 },
    });
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({
      candidates: [
        {
          content: { role: 'model', parts: [{ text: 'Hello from google (gemini-2.0-flash)' }] },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 4, totalTokenCount: 16 },
      modelVersion: 'gemini-2.0-flash',
    });
    const recorded = providers.google.requests[0];
    expect(recorded?.url).toBe('/v1beta/models/gemini-2.0-flash:generateContent');
    expect(recorded?.headers['x-goog-api-key']).toBe(nativeKeys.google);
    expect(recorded?.body?.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }] });
  });

  it('truncates at maxOutputTokens with MAX_TOKENS and cuts at a stop sequence', async () => {
    const short = await generate({ contents, generationConfig: { maxOutputTokens: 2 } });
    expect(candidatesOf(short.json)[0]).toMatchObject({
      content: { parts: [{ text: 'Hello from' }] },
      finishReason: 'MAX_TOKENS',
    });
    const stopped = await generate({ contents, generationConfig: { stopSequences: [' google'] } });
    expect(candidatesOf(stopped.json)[0]).toMatchObject({
      content: { parts: [{ text: 'Hello from' }] },
      finishReason: 'STOP',
    });
  });

  it('answers JSON matching responseSchema', async () => {
    const result = await generate({
      contents,
      generationConfig: {
        responseMimeType: 'application/json',
        responseSchema: {
          type: 'OBJECT',
          properties: {
            city: { type: 'STRING' },
            days: { type: 'INTEGER' },
            tags: { type: 'ARRAY', items: { type: 'STRING', enum: ['sunny', 'rainy'] } },
            exact: { type: 'BOOLEAN', nullable: true },
          },
          required: ['city', 'days'],
        },
      },
    });
    const text = candidatesOf(result.json)[0]?.content?.parts[0]?.text;
    expect(JSON.parse(String(text))).toEqual({
      city: 'Paris',
      days: 1,
      tags: ['sunny'],
      exact: true,
    });
  });

  it('calls a declared function, then accepts its functionResponse and answers in text', async () => {
    const tools = [
      {
        functionDeclarations: [
          { name: 'get_time', parameters: { type: 'object', properties: {} } },
          {
            name: 'get_weather',
            description: 'Weather for a city',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' } },
              required: ['city'],
            },
          },
        ],
      },
    ];
    const ask = [{ role: 'user', parts: [{ text: 'Use get_weather for Paris' }] }];
    const first = await generate({ contents: ask, tools });
    const call = candidatesOf(first.json)[0]?.content?.parts[0];
    expect(call).toEqual({ functionCall: { name: 'get_weather', args: { city: 'Paris' } } });
    const second = await generate({
      contents: [
        ...ask,
        { role: 'model', parts: [call] },
        {
          role: 'user',
          parts: [{ functionResponse: { name: 'get_weather', response: { temp: 21 } } }],
        },
      ],
      tools,
    });
    expect(second.status).toBe(200);
    expect(candidatesOf(second.json)[0]?.content?.parts[0]?.text).toContain('Hello from google');
  });

  it('does not call a function under functionCallingConfig mode NONE', async () => {
    const result = await generate({
      contents,
      tools: [{ functionDeclarations: [{ name: 'get_weather' }] }],
      toolConfig: { functionCallingConfig: { mode: 'NONE' } },
    });
    expect(candidatesOf(result.json)[0]?.content?.parts[0]).toHaveProperty('text');
  });

  it('accepts an inline PNG and refuses bad base64, a wrong type and bytes that are not the image', async () => {
    const image = (mimeType: string, data: string) => ({
      contents: [
        { role: 'user', parts: [{ text: 'What is it?' }, { inlineData: { mimeType, data } }] },
      ],
    });
    expect((await generate(image('image/png', samplePngBase64))).status).toBe(200);
    expectGoogleError(
      await generate(image('image/png', 'not base64!')),
      400,
      'INVALID_ARGUMENT',
      /Base64 decoding failed/,
    );
    expectGoogleError(
      await generate(image('image/bmp', samplePngBase64)),
      400,
      'INVALID_ARGUMENT',
      /Unsupported MIME type/,
    );
    expectGoogleError(
      await generate(image('image/jpeg', samplePngBase64)),
      400,
      'INVALID_ARGUMENT',
      /Unable to process input image/,
    );
  });
});

describe('the Gemini simulator: streamGenerateContent', () => {
  it('streams SSE frames without [DONE], with finishReason and full usage in the last', async () => {
    const result = await post('/models/gemini-2.5-flash:streamGenerateContent?alt=sse', {
      contents,
    });
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('text/event-stream');
    expect(result.text).not.toContain('[DONE]');
    const frames = result.text
      .split('\r\n\r\n')
      .filter((block) => block !== '')
      .map((block) => {
        expect(block.startsWith('data: ')).toBe(true);
        return JSON.parse(block.slice(6)) as Record<string, unknown>;
      });
    expect(frames.length).toBeGreaterThan(1);
    const text = frames.map((frame) => candidatesOf(frame)[0]?.content?.parts[0]?.text).join('');
    expect(text).toBe('Hello from google (gemini-2.5-flash)');
    const early = frames.slice(0, -1).map((frame) => candidatesOf(frame)[0]?.finishReason);
    expect(early.every((reason) => reason === undefined)).toBe(true);
    const last = frames.at(-1) as Record<string, unknown>;
    expect(candidatesOf(last)[0]?.finishReason).toBe('STOP');
    expect(last.usageMetadata).toEqual({
      promptTokenCount: 12,
      candidatesTokenCount: 4,
      thoughtsTokenCount: 5,
      totalTokenCount: 21,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12 }],
    });
  });

  it('streams one JSON array without alt=sse', async () => {
    const result = await post('/models/gemini-2.0-flash:streamGenerateContent', { contents });
    const frames = JSON.parse(result.text) as Record<string, unknown>[];
    expect(frames.map((frame) => candidatesOf(frame)[0]?.content?.parts[0]?.text).join('')).toBe(
      'Hello from google (gemini-2.0-flash)',
    );
  });

  it('sends a scripted error frame mid-stream', async () => {
    providers.google.script({ answer: { streamError: { type: 'UNAVAILABLE', afterEvents: 2 } } });
    const result = await post('/models/gemini-2.0-flash:streamGenerateContent?alt=sse', {
      contents,
    });
    const frames = result.text.split('\r\n\r\n').filter((block) => block !== '');
    expect(frames).toHaveLength(3);
    expect(JSON.parse(String(frames[2]).slice(6))).toEqual({
      error: { code: 503, message: expect.any(String), status: 'UNAVAILABLE' },
    });
  });
});

describe('the Gemini simulator: scripted answers', () => {
  it('answers a SAFETY finish without content', async () => {
    providers.google.script({ answer: { finishReason: 'SAFETY' } });
    const candidate = candidatesOf((await generate({ contents })).json)[0];
    expect(candidate?.finishReason).toBe('SAFETY');
    expect(candidate?.content).toBeUndefined();
  });

  it('answers a scripted HTTP error as given, then normally again', async () => {
    providers.google.script({
      status: 429,
      body: { error: { code: 429, message: 'Resource exhausted', status: 'RESOURCE_EXHAUSTED' } },
    });
    expectGoogleError(await generate({ contents }), 429, 'RESOURCE_EXHAUSTED', /exhausted/);
    expect((await generate({ contents })).status).toBe(200);
  });
});

describe('the Gemini simulator: embeddings', () => {
  it('answers batchEmbedContents with one vector per request', async () => {
    const request = (text: string) => ({
      model: 'models/text-embedding-004',
      content: { parts: [{ text }] },
      outputDimensionality: 4,
    });
    const result = await post('/models/text-embedding-004:batchEmbedContents', {
      requests: [request('a'), request('b')],
    });
    expect(result.status).toBe(200);
    expect(result.json.embeddings).toEqual([
      { values: [0.1, 0.2, 0.3, 0.4] },
      { values: [0.1, 0.2, 0.3, 0.4] },
    ]);
  });

  it('refuses a request whose model is not the URL model', async () => {
    const result = await post('/models/text-embedding-004:batchEmbedContents', {
      requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] } }],
    });
    expectGoogleError(result, 400, 'INVALID_ARGUMENT', /model of the URL/);
  });
});

describe('the Gemini simulator refuses what Google refuses', () => {
  it('a missing key (403), a wrong key (400 API_KEY_INVALID)', async () => {
    expectGoogleError(
      await post('/models/gemini-2.0-flash:generateContent', { contents }, {}),
      403,
      'PERMISSION_DENIED',
      /unregistered callers/,
    );
    const wrong = await post(
      '/models/gemini-2.0-flash:generateContent',
      { contents },
      { 'x-goog-api-key': 'AIza-wrong' },
    );
    expectGoogleError(wrong, 400, 'INVALID_ARGUMENT', /API key not valid/);
    expect(JSON.stringify(wrong.json)).toContain('API_KEY_INVALID');
  });

  it('a key in the query string, even a valid one alongside the header', async () => {
    const result = await post(`/models/gemini-2.0-flash:generateContent?key=${nativeKeys.google}`, {
      contents,
    });
    expectGoogleError(result, 400, 'INVALID_ARGUMENT', /query string/);
  });

  it('a role other than user or model', async () => {
    const result = await generate({ contents: [{ role: 'assistant', parts: [{ text: 'Hi' }] }] });
    expectGoogleError(result, 400, 'INVALID_ARGUMENT', /valid role: user, model/);
  });

  it('missing or empty contents, and empty parts', async () => {
    expectGoogleError(await generate({}), 400, 'INVALID_ARGUMENT', /contents is not specified/);
    expectGoogleError(
      await generate({ contents: [] }),
      400,
      'INVALID_ARGUMENT',
      /contents is not specified/,
    );
    expectGoogleError(
      await generate({ contents: [{ role: 'user', parts: [] }] }),
      400,
      'INVALID_ARGUMENT',
      /parts must not be empty/,
    );
  });

  it('unknown top-level, generationConfig and part fields', async () => {
    expectGoogleError(
      await generate({ contents, messages: [] }),
      400,
      'INVALID_ARGUMENT',
      /Unknown name "messages": Cannot find field/,
    );
    expectGoogleError(
      await generate({ contents, generationConfig: { max_tokens: 5 } }),
      400,
      'INVALID_ARGUMENT',
      /Unknown name "max_tokens" at 'generation_config'/,
    );
    expectGoogleError(
      await generate({ contents: [{ role: 'user', parts: [{ type: 'text', text: 'x' }] }] }),
      400,
      'INVALID_ARGUMENT',
      /Unknown name "type" at 'contents\[0\].parts\[0\]'/,
    );
  });

  it('JSON Schema keywords outside Gemini schema subset, and responseSchema without JSON', async () => {
    expectGoogleError(
      await generate({
        contents,
        tools: [
          {
            functionDeclarations: [
              { name: 'f', parameters: { type: 'object', additionalProperties: false } },
            ],
          },
        ],
      }),
      400,
      'INVALID_ARGUMENT',
      /Unknown name "additionalProperties" at 'tools\[0\].function_declarations\[0\].parameters'/,
    );
    expectGoogleError(
      await generate({ contents, generationConfig: { responseSchema: { type: 'OBJECT' } } }),
      400,
      'INVALID_ARGUMENT',
      /response_mime_type/,
    );
    expectGoogleError(
      await generate({
        contents,
        generationConfig: {
          responseMimeType: 'application/json',
          responseSchema: { type: ['string', 'null'] },
        },
      }),
      400,
      'INVALID_ARGUMENT',
      /Type/,
    );
  });

  it('out-of-range generationConfig values and a bad function name', async () => {
    expectGoogleError(
      await generate({ contents, generationConfig: { temperature: 3 } }),
      400,
      'INVALID_ARGUMENT',
      /temperature/,
    );
    expectGoogleError(
      await generate({ contents, tools: [{ functionDeclarations: [{ name: '1 bad name' }] }] }),
      400,
      'INVALID_ARGUMENT',
      /Invalid function name/,
    );
  });

  it('function responses that answer no call, or not every call', async () => {
    const response = { functionResponse: { name: 'get_weather', response: { temp: 21 } } };
    expectGoogleError(
      await generate({ contents: [...contents, { role: 'user', parts: [response] }] }),
      400,
      'INVALID_ARGUMENT',
      /function response turn comes immediately after a function call turn/,
    );
    const call = { functionCall: { name: 'get_weather', args: { city: 'Paris' } } };
    expectGoogleError(
      await generate({
        contents: [
          ...contents,
          { role: 'model', parts: [call, call] },
          { role: 'user', parts: [response] },
        ],
      }),
      400,
      'INVALID_ARGUMENT',
      /number of function response parts is equal/,
    );
  });

  it('a model it does not serve, and a chat model asked for embeddings', async () => {
    expectGoogleError(
      await generate({ contents }, 'gemini-9-ultra'),
      404,
      'NOT_FOUND',
      /models\/gemini-9-ultra is not found/,
    );
    expectGoogleError(
      await post('/models/gemini-2.0-flash:batchEmbedContents', { requests: [] }),
      404,
      'NOT_FOUND',
      /not supported for batchEmbedContents/,
    );
  });

  it('an unknown route or method', async () => {
    const response = await fetch(`${providers.google.url}/models/gemini-2.0-flash:countTokens`, {
      method: 'POST',
      headers: { 'x-goog-api-key': nativeKeys.google },
      body: '{}',
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { status: string } }).error.status).toBe(
      'NOT_FOUND',
    );
    expect((await post('/models/gemini%ZZ:generateContent', { contents })).status).toBe(404);
  });
});
