import OpenAI from 'openai';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import { samplePngBase64 } from '../../simulators/index.js';
import { createApp, keys, simulatorOptions } from '../helpers/app.js';
import { useNativeApp } from '../helpers/native-app.js';
import { nativeKeys, useNativeProviders } from '../helpers/native-providers.js';
import { chunksOf, readEvents, reassemble } from '../helpers/sse.js';

/**
 * `provider: "google"` through the middleware, against the strict Gemini simulator (which
 * refuses a key in the query string, unknown fields and any role but `user`/`model`) and the
 * OpenAI simulator for mixed configs. The leak detector scans every answer and event for the key.
 */

const native = useNativeProviders();
const harness = useNativeApp(native, () => ({
  providers: { google: { baseURL: native.google.url } },
}));
const { events, client, reset } = harness;

const google = { provider: 'google', api_key: nativeKeys.google };
const model = 'gemini-2.0-flash';
const ask: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Say hi' }];

describe('provider google: chat and text completions', () => {
  it('answers a chat completion, the key in x-goog-api-key and the model in the path', async () => {
    reset();
    const completion = await client(google).chat.completions.create({
      model,
      messages: [{ role: 'system', content: 'Be brief.' }, ...ask],
      max_tokens: 50,
      temperature: 0.2,
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe(`Hello from google (${model})`);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    const sent = native.google.requests[0];
    expect(sent?.url).toBe(`/v1beta/models/${model}:generateContent`);
    expect(sent?.headers['x-goog-api-key']).toBe(nativeKeys.google);
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body?.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }] });
  });

  it('accepts the models/ prefix Google SDKs use and sends the bare name in the path', async () => {
    reset();
    const completion = await client(google).chat.completions.create({
      model: `models/${model}`,
      messages: ask,
    });
    expect(completion.choices[0]?.message.content).toContain('Hello from google');
    expect(native.google.requests[0]?.url).toBe(`/v1beta/models/${model}:generateContent`);
  });

  it('answers a text completion', async () => {
    reset();
    const completion = await client(google).completions.create({ model, prompt: 'Say hi' });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text).toBe(`Hello from google (${model})`);
  });

  it('works with the config in the body (/v1/chatComplete)', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chatComplete')
      .send({ config: google, params: { model, messages: ask } });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('google');
    expect(res.body.choices[0].message.content).toContain('Hello from google');
  });
});

describe('provider google: streaming', () => {
  it('streams chunks the openai SDK reassembles into the same text, with usage', async () => {
    reset();
    const stream = await client(google).chat.completions.create({
      model,
      messages: ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { content, finish, usage } = await reassemble(stream);
    expect(content).toBe(`Hello from google (${model})`);
    expect(finish).toBe('stop');
    expect(usage?.total_tokens).toBeGreaterThan(0);
    expect(native.google.requests[0]?.url).toBe(
      `/v1beta/models/${model}:streamGenerateContent?alt=sse`,
    );
  });

  it('turns an error frame mid-stream into an error event, never a clean end, and reports it', async () => {
    reset();
    native.google.script({ answer: { streamError: { type: 'UNAVAILABLE', afterEvents: 1 } } });
    const res = await fetch(`${harness.server.url}/llm/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-portkey-config': JSON.stringify(google) },
      body: JSON.stringify({ model, messages: ask, stream: true }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const chunks = chunksOf(await readEvents(res));
    expect(chunks).not.toContain('[DONE]');
    const last = chunks.at(-1) as { error?: { message: string } };
    expect(last.error?.message).toEqual(expect.any(String));
    await expect.poll(() => events.of('error').length).toBe(1);
    expect(events.of('error')[0]?.provider).toBe('google');
  });

  it('ends with an error event when Gemini stops before a finishReason or drops the connection', async () => {
    const frame = `data: ${JSON.stringify({
      candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] }, index: 0 }],
    })}\r\n\r\n`;
    for (const cutAfter of [false, true]) {
      reset();
      native.google.script({ stream: [frame], cutAfter });
      const res = await fetch(`${harness.server.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-portkey-config': JSON.stringify(google) },
        body: JSON.stringify({ model, messages: ask, stream: true }),
      });
      const chunks = chunksOf(await readEvents(res));
      expect(chunks).not.toContain('[DONE]');
      expect(chunks[0]).toMatchObject({ object: 'chat.completion.chunk' });
      expect(chunks.at(-1)).toMatchObject({
        error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' },
      });
      await expect.poll(() => events.of('error').length).toBe(1);
    }
  });

  it('makes the openai SDK throw on the error frame', async () => {
    reset();
    native.google.script({ answer: { streamError: { type: 'INTERNAL', afterEvents: 1 } } });
    const stream = await client(google).chat.completions.create({
      model,
      messages: ask,
      stream: true,
    });
    await expect(
      (async () => {
        for await (const _chunk of stream) {
          // Reading until the error.
        }
      })(),
    ).rejects.toThrow();
  });
});

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

describe('provider google: tools and images', () => {
  it('calls a tool, then answers from the tool result (matched back by name)', async () => {
    reset();
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What is the weather in Paris? Use get_weather.' },
    ];
    const first = await client(google).chat.completions.create({ model, messages, tools });
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: expect.any(String) });
    const second = await client(google).chat.completions.create({
      model,
      tools,
      messages: [
        ...messages,
        choice?.message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: call.id, content: '{"celsius": 21}' },
      ],
    });
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content).toContain('Hello from google');
    const sent = native.google.requests[1]?.body as {
      contents: { role: string; parts: unknown[] }[];
    };
    expect(sent.contents.map((content) => content.role)).toEqual(['user', 'model', 'user']);
    expect(sent.contents[2]?.parts[0]).toEqual({
      functionResponse: { name: 'get_weather', response: { celsius: 21 } },
    });
  });

  it('streams a tool call the SDK reassembles', async () => {
    reset();
    const stream = await client(google).chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Weather in Oslo? get_weather' }],
      tools,
      stream: true,
    });
    let name = '';
    let args = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.tool_calls?.[0];
      name += delta?.function?.name ?? '';
      args += delta?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ city: expect.any(String) });
    expect(finish).toBe('tool_calls');
  });

  it('sends a data URL image as inlineData', async () => {
    reset();
    const completion = await client(google).chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${samplePngBase64}` } },
          ],
        },
      ],
    });
    expect(completion.choices[0]?.message.content).toContain('Hello from google');
    const sent = native.google.requests[0]?.body as { contents: { parts: unknown[] }[] };
    expect(sent.contents[0]?.parts[1]).toEqual({
      inlineData: { mimeType: 'image/png', data: samplePngBase64 },
    });
  });
});

describe('provider google: structured output and embeddings', () => {
  it("answers JSON matching the schema, parsed by the openai SDK's .parse()", async () => {
    reset();
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string' },
        celsius: { type: 'number' },
        conditions: { type: 'string', enum: ['sunny', 'rain', 'snow'] },
      },
      required: ['city', 'celsius', 'conditions'],
      additionalProperties: false,
    };
    const completion = await client(google).chat.completions.parse({
      model,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'weather', schema, strict: true },
      },
    });
    expect(completion.choices[0]?.message.parsed).toEqual({
      city: expect.any(String),
      celsius: expect.any(Number),
      conditions: expect.stringMatching(/^(sunny|rain|snow)$/),
    });
    const sent = native.google.requests[0]?.body as { generationConfig: Record<string, unknown> };
    expect(sent.generationConfig.responseMimeType).toBe('application/json');
  });

  it('embeds through the SDK (base64 by default) and as floats', async () => {
    reset();
    const sdk = await client(google).embeddings.create({
      model: 'text-embedding-004',
      input: ['first', 'second'],
    });
    expect(sdk.data).toHaveLength(2);
    expect(sdk.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(sdk.model).toBe('text-embedding-004');
    expect(native.google.requests[0]?.url).toBe(
      '/v1beta/models/text-embedding-004:batchEmbedContents',
    );
    const floats = await client(google).embeddings.create({
      model: 'text-embedding-004',
      input: 'one',
      encoding_format: 'float',
      dimensions: 8,
    });
    expect(floats.data[0]?.embedding).toHaveLength(8);
    expect(floats.data[0]?.embedding.every((value) => typeof value === 'number')).toBe(true);
  });
});

describe('provider google: errors and hostile models', () => {
  it('answers a wrong key with the OpenAI error shape and the provider status', async () => {
    reset();
    const error = await client({ provider: 'google', api_key: 'AIzaSy-wrong-key-0000' })
      .chat.completions.create({ model, messages: ask })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(400);
    expect(apiError.error).toEqual({
      message: 'API key not valid. Please pass a valid API key.',
      type: 'invalid_request_error',
      param: null,
      code: 'INVALID_ARGUMENT',
    });
  });

  it('masks the key when Gemini echoes it in an error', async () => {
    reset();
    native.google.script({
      status: 400,
      body: {
        error: { code: 400, message: `bad key ${nativeKeys.google}`, status: 'INVALID_ARGUMENT' },
      },
    });
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(google))
      .send({ model, messages: ask });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(`bad key ***${nativeKeys.google.slice(-4)}`);
    expect(JSON.stringify(events.seen)).not.toContain(nativeKeys.google);
  });

  it('answers an unknown model with 404 in the OpenAI shape', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(google))
      .send({ model: 'gemini-0-none', messages: ask });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  const hostile = [
    '../../etc/passwd',
    'gemini-2.0-flash:generateContent?key=x',
    'gemini?alt=json',
    'gemini#x',
    'gemini%2f..',
    'models/../x',
    'tunedModels/mine',
    'gemini 2',
    'gémini',
    'gemini\u202e',
    'gemini-2.0-flash/../../x',
    ':streamGenerateContent',
    '.hidden',
    'a'.repeat(129),
  ];
  for (const value of hostile) {
    it(`refuses model ${JSON.stringify(value.slice(0, 40))} with nothing sent`, async () => {
      reset();
      for (const path of ['/llm/v1/chat/completions', '/llm/v1/embeddings']) {
        const res = await request(harness.app)
          .post(path)
          .set('x-portkey-config', JSON.stringify(google))
          .send({ model: value, messages: ask, input: 'x' });
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('ERR_PARAMS_INVALID');
        expect(res.body.error.param).toBe('params.model');
      }
      expect(native.google.requests).toHaveLength(0);
    });
  }

  it('refuses a missing model with nothing sent, also when override_params removes none', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(google))
      .send({ messages: ask });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('params.model');
    const overridden = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ ...google, override_params: { model } }))
      .send({ messages: ask });
    expect(overridden.status).toBe(200);
    expect(native.google.requests).toHaveLength(1);
  });

  it('describes a google target in a dry run, the key masked, nothing sent', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(google))
      .set('x-portkey-dry-run', 'true')
      .send({ model, messages: ask, stream: true });
    expect(res.status).toBe(200);
    expect(res.body.upstream.url).toBe(
      `${native.google.url}/models/${model}:streamGenerateContent?alt=sse`,
    );
    expect(res.body.upstream.headers['x-goog-api-key']).not.toBe(nativeKeys.google);
    expect(JSON.stringify(res.body)).not.toContain(nativeKeys.google);
    expect(native.google.requests).toHaveLength(0);
  });
});

describe('provider google: load balancing and fallback across providers', () => {
  const openai = { provider: 'openai', api_key: keys.openai };

  it('falls back from a failing Gemini to OpenAI', async () => {
    reset();
    native.google.script({ status: 503 });
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({
          strategy: { mode: 'fallback' },
          targets: [
            { ...google, override_params: { model } },
            { ...openai, override_params: { model: 'gpt-4o-mini' } },
          ],
        }),
      )
      .send({ messages: ask });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('openai');
    expect(native.google.requests).toHaveLength(1);
    expect(harness.providers.openai.requests).toHaveLength(1);
  });

  it('falls back from a failing OpenAI to Gemini', async () => {
    reset();
    harness.providers.openai.script({ status: 500 });
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({
          strategy: { mode: 'fallback' },
          targets: [
            { ...openai, override_params: { model: 'gpt-4o-mini' } },
            { ...google, override_params: { model } },
          ],
        }),
      )
      .send({ messages: ask });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('google');
    expect(res.body.choices[0].message.content).toContain('Hello from google');
  });

  it('load-balances between Gemini and OpenAI, each answering in the OpenAI shape', async () => {
    reset();
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { ...google, weight: 1, override_params: { model } },
        { ...openai, weight: 1, override_params: { model: 'gpt-4o-mini' } },
      ],
    };
    const seen = new Set<string>();
    for (let index = 0; index < 24; index++) {
      const res = await request(harness.app)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .send({ messages: ask });
      expect(res.status).toBe(200);
      expect(res.body.object).toBe('chat.completion');
      seen.add(String(res.headers['x-portkey-provider']));
    }
    expect(seen).toEqual(new Set(['google', 'openai']));
  });
});

describe('provider google: circuit breaking', () => {
  it('ejects a failing Gemini target by its identity and routes to OpenAI without trying it', async () => {
    reset();
    const guarded = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(harness.providers, {
          circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 },
          providers: { google: { baseURL: native.google.url } },
        }),
      ),
    );
    const config = JSON.stringify({
      strategy: { mode: 'fallback' },
      targets: [
        { ...google, override_params: { model } },
        { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o-mini' } },
      ],
    });
    native.google.script({ status: 503 });
    for (let index = 0; index < 2; index++) {
      const res = await request(guarded)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', config)
        .send({ messages: ask });
      expect(res.status).toBe(200);
      expect(res.headers['x-portkey-provider']).toBe('openai');
    }
    expect(native.google.requests).toHaveLength(1);
  });
});
