import compression from 'compression';
import express from 'express';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  azureDeployment,
  createApp,
  keys,
  listen,
  type Providers,
  type RunningServer,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';
import { anthropicEvent, chunksOf, dataOf, readEvents } from '../helpers/sse.js';

let providers: Providers;
let server: RunningServer;

beforeAll(async () => {
  providers = await startProviders(60);
  server = await listen(createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers))));
});
afterAll(async () => {
  await server.close();
  await providers.close();
});
beforeEach(() => providers.reset());

const configs = {
  openai: { provider: 'openai', api_key: keys.openai },
  anthropic: { provider: 'anthropic', api_key: keys.anthropic },
  azure: {
    provider: 'azure-openai',
    api_key: keys.azure,
    resource_name: azureDeployment.resourceName,
    deployment_id: azureDeployment.deploymentId,
    api_version: azureDeployment.apiVersion,
  },
};

function stream(
  config: unknown,
  body: Record<string, unknown>,
  path = '/llm/v1/chat/completions',
  signal?: AbortSignal,
) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-portkey-config': JSON.stringify(config) },
    body: JSON.stringify({ stream: true, ...body }),
    signal,
  });
}

const ask = { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'Say hi' }] };

/** Whether the simulator's latest request has finished answering, right now. */
function finishedFlag(sim: Providers['openai']) {
  const record = sim.requests[sim.requests.length - 1];
  return { finished: record?.done ?? true };
}

describe('pass-through streams (OpenAI, Azure)', () => {
  for (const [name, config, sim] of [
    ['openai', configs.openai, () => providers.openai],
    ['azure-openai', configs.azure, () => providers.azure],
  ] as const) {
    it(`delivers ${name}'s first chunk while the provider is still generating`, async () => {
      const res = await stream(config, { ...ask, model: 'gpt-4o-mini' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-accel-buffering')).toBe('no');
      expect(res.headers.get('x-portkey-provider')).toBe(name);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      const state = finishedFlag(sim());
      expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"');
      expect(state.finished).toBe(false);
      let rest = '';
      for (let next = await reader.read(); !next.done; next = await reader.read())
        rest += new TextDecoder().decode(next.value);
      expect(dataOf(rest).at(-1)).toBe('[DONE]');
    });
  }
});

describe('behind a global compression()', () => {
  it('still delivers each event as it comes', async () => {
    const app = express();
    app.use(compression());
    app.use('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const compressed = await listen(app);
    try {
      const res = await fetch(`${compressed.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-portkey-config': JSON.stringify(configs.openai),
          'accept-encoding': 'gzip',
        },
        body: JSON.stringify({ ...ask, model: 'gpt-4o-mini', stream: true }),
      });
      expect(res.headers.get('content-encoding')).toBe('gzip');
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      const state = finishedFlag(providers.openai);
      expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"');
      expect(state.finished).toBe(false);
      await reader.cancel();
    } finally {
      await compressed.close();
    }
  });
});

describe('Anthropic stream translation', () => {
  it('turns Messages events into chat.completion.chunk events', async () => {
    const res = await stream(configs.anthropic, {
      ...ask,
      stream_options: { include_usage: true },
    });
    expect(res.status).toBe(200);
    const chunks = chunksOf(await readEvents(res));
    expect(chunks.at(-1)).toBe('[DONE]');
    const json = chunks.slice(0, -1) as Record<string, unknown>[];
    const id = json[0]?.id;
    expect(id).toMatch(/^msg_sim_/);
    for (const chunk of json) {
      expect(chunk).toMatchObject({
        id,
        object: 'chat.completion.chunk',
        model: 'claude-3-5-haiku-latest',
      });
    }
    const choices = json.map((chunk) => (chunk.choices as Record<string, unknown>[])[0]);
    expect(choices[0]).toEqual({
      index: 0,
      delta: { role: 'assistant', content: '' },
      finish_reason: null,
      logprobs: null,
    });
    const text = choices
      .map((choice) => (choice?.delta as { content?: string } | undefined)?.content ?? '')
      .join('');
    expect(text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
    expect(
      choices
        .filter((choice) => choice?.finish_reason !== null && choice !== undefined)
        .map((c) => c?.finish_reason),
    ).toEqual(['stop']);
    // The usage chunk: no choices, OpenAI's usage.
    expect(json.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 17, completion_tokens: 6, total_tokens: 23 },
    });
    // stream_options is OpenAI's: not sent to Anthropic.
    expect(providers.anthropic.requests[0]?.body?.stream_options).toBeUndefined();
  });

  it('omits the usage chunk unless asked', async () => {
    const chunks = chunksOf(await readEvents(await stream(configs.anthropic, ask)));
    expect(chunks.some((chunk) => chunk !== '[DONE]' && 'usage' in chunk)).toBe(false);
  });

  it('streams tool calls as delta.tool_calls', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const chunks = chunksOf(
      await readEvents(await stream(configs.anthropic, { ...ask, tools })),
    ).slice(0, -1) as Record<string, unknown>[];
    const deltas = chunks.map(
      (chunk) =>
        (chunk.choices as { delta: Record<string, unknown>; finish_reason: string | null }[])[0],
    );
    const toolDeltas = deltas.flatMap(
      (delta) => (delta?.delta.tool_calls as Record<string, unknown>[] | undefined) ?? [],
    );
    expect(toolDeltas[0]).toEqual({
      index: 0,
      id: expect.stringMatching(/^toolu_sim_/),
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    const args = toolDeltas
      .map((delta) => (delta.function as { arguments: string }).arguments)
      .join('');
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
    expect(deltas.at(-1)?.finish_reason).toBe('tool_calls');
  });

  it('streams text completions as text_completion chunks', async () => {
    const res = await stream(
      configs.anthropic,
      { model: 'claude-3-5-haiku-latest', prompt: 'Say hi' },
      '/llm/v1/completions',
    );
    const chunks = chunksOf(await readEvents(res)).slice(0, -1) as Record<string, unknown>[];
    expect(chunks.every((chunk) => chunk.object === 'text_completion')).toBe(true);
    const text = chunks
      .map((chunk) => (chunk.choices as { text: string }[])[0]?.text ?? '')
      .join('');
    expect(text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
  });

  it('handles events split across TCP chunks and CRLF line endings', async () => {
    const start = anthropicEvent(
      'message_start',
      {
        message: {
          id: 'msg_split',
          model: 'claude-x',
          usage: { input_tokens: 3, output_tokens: 1 },
        },
      },
      '\r\n',
    );
    const delta = Buffer.from(
      anthropicEvent(
        'content_block_delta',
        { index: 0, delta: { type: 'text_delta', text: 'Grüße 👋' } },
        '\r\n',
      ),
    );
    // One cut inside the JSON, one inside the four bytes of the emoji.
    const emojiCut = delta.indexOf(Buffer.from('👋')) + 2;
    providers.anthropic.script({
      stream: [
        start.slice(0, 20),
        start.slice(20),
        anthropicEvent('ping', {}),
        delta.subarray(0, 30),
        delta.subarray(30, emojiCut),
        delta.subarray(emojiCut),
        anthropicEvent(
          'message_delta',
          { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } },
          '\r\n',
        ),
        anthropicEvent('message_stop', {}, '\r\n'),
      ],
    });
    const chunks = chunksOf(await readEvents(await stream(configs.anthropic, ask)));
    expect(chunks.at(-1)).toBe('[DONE]');
    const json = chunks.slice(0, -1) as Record<string, unknown>[];
    const text = json
      .map((chunk) => (chunk.choices as { delta: { content?: string } }[])[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe('Grüße 👋');
    expect(json.every((chunk) => chunk.id === 'msg_split')).toBe(true);
    expect(json).toHaveLength(3);
  });

  it('answers a provider error before the stream as a JSON error with its status', async () => {
    providers.anthropic.script({
      status: 529,
      body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
    const res = await stream(configs.anthropic, ask);
    expect(res.status).toBe(529);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      error: {
        message: 'Overloaded',
        type: 'overloaded_error',
        param: null,
        code: 'overloaded_error',
      },
    });
  });

  it('turns a mid-stream error event into an OpenAI error event and ends the stream', async () => {
    providers.anthropic.script({
      stream: [
        anthropicEvent('message_start', {
          message: { id: 'msg_err', model: 'claude-x', usage: {} },
        }),
        anthropicEvent('content_block_delta', {
          index: 0,
          delta: { type: 'text_delta', text: 'Hel' },
        }),
        anthropicEvent('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      ],
    });
    const events = chunksOf(await readEvents(await stream(configs.anthropic, ask)));
    expect(events.at(-1)).toEqual({
      error: {
        message: 'Overloaded',
        type: 'overloaded_error',
        param: null,
        code: 'overloaded_error',
      },
    });
    expect(events).not.toContain('[DONE]');
  });

  it('ends with an error event when the provider dies mid-stream', async () => {
    providers.anthropic.script({
      stream: [
        anthropicEvent('message_start', {
          message: { id: 'msg_cut', model: 'claude-x', usage: {} },
        }),
        anthropicEvent('content_block_delta', {
          index: 0,
          delta: { type: 'text_delta', text: 'Hel' },
        }),
      ],
      cutAfter: true,
    });
    const events = chunksOf(await readEvents(await stream(configs.anthropic, ask)));
    expect(events.at(-1)).toMatchObject({
      error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED', type: 'api_error' },
    });
  });
});

describe('pass-through streams that break', () => {
  it('ends an OpenAI stream that dies mid-way with an error event', async () => {
    providers.openai.script({
      stream: ['data: {"id":"c1","object":"chat.completion.chunk","choices":[]}\n\n'],
      cutAfter: true,
    });
    const events = chunksOf(
      await readEvents(await stream(configs.openai, { ...ask, model: 'gpt-4o' })),
    );
    expect(events[0]).toMatchObject({ id: 'c1' });
    expect(events.at(-1)).toEqual({
      error: {
        message: 'Provider openai broke off the stream',
        type: 'api_error',
        param: null,
        code: 'ERR_UPSTREAM_STREAM_INTERRUPTED',
      },
    });
  });
});

describe('the openai SDK streaming API', () => {
  function client(config: unknown) {
    return new OpenAI({
      apiKey: 'host-token',
      baseURL: `${server.url}/llm/v1`,
      defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
      maxRetries: 0,
    });
  }

  for (const provider of ['openai', 'anthropic'] as const) {
    it(`iterates a ${provider} stream`, async () => {
      const chunks = await client(configs[provider]).chat.completions.create({
        model: 'model-x',
        messages: [{ role: 'user', content: 'Say hi' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: unknown;
      for await (const chunk of chunks) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe(`Hello from ${provider} (model-x)`);
      expect(usage).toMatchObject({ total_tokens: expect.any(Number) });
    });
  }

  it('throws an APIError for a mid-stream provider error', async () => {
    providers.anthropic.script({
      stream: [
        anthropicEvent('message_start', { message: { id: 'msg_e', model: 'm', usage: {} } }),
        anthropicEvent('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      ],
    });
    const run = async () => {
      const chunks = await client(configs.anthropic).chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      for await (const _chunk of chunks) {
        // drain
      }
    };
    await expect(run()).rejects.toThrow(/Overloaded/);
  });
});
