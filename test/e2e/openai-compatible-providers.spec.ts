import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadBalancerOptions, portkeyLoadBalancer, validateConfig } from '../../lib/index.js';
import { openaiCompatibleCatalog } from '../../lib/providers/openai-compatible/catalog.js';
import {
  type CompatibleProfileName,
  compatibleProfiles,
  type Simulator,
  startOpenAICompatibleSimulator,
} from '../../simulators/index.js';
import { createApp, listen, type RunningServer } from '../helpers/app.js';
import { recorder } from '../helpers/event-recorder.js';
import { registerSecret, scanningListeners } from '../helpers/leak-detector.js';
import { chunksOf, dataOf, reassemble } from '../helpers/sse.js';

/**
 * The OpenAI-compatible providers through the middleware, each against a strict simulator of
 * its host (its base path, its bearer key, what it refuses with a 400, its error shape), plus a
 * server-defined `local-vllm` provider. The leak detector scans every answer for the keys.
 */

const names = openaiCompatibleCatalog.map((entry) => entry.name);
type Name = (typeof names)[number];

const keyOf = (name: string) => `sk-test-${name}-0123456789abcdef`;
for (const name of [...names, 'vllm']) registerSecret(keyOf(name));

const sims = {} as Record<Name | 'vllm', Simulator>;
let server: RunningServer;
let app: ReturnType<typeof createApp>;
const events = recorder();

/** The server's providers option: every built-in at its simulator, and local-vllm. */
function providersOption(): LoadBalancerOptions['providers'] {
  const providers: NonNullable<LoadBalancerOptions['providers']> = {};
  for (const name of names) providers[name] = { baseURL: sims[name].url };
  providers['local-vllm'] = {
    type: 'openai-compatible',
    baseURL: sims.vllm.url,
    headers: { 'x-cluster': 'a' },
  };
  return providers;
}

beforeAll(async () => {
  const started = await Promise.all(
    [...names, 'vllm' as const].map(async (name) => {
      const keyed = compatibleProfiles[name as CompatibleProfileName].keyRequired;
      const sim = await startOpenAICompatibleSimulator({
        profile: name as CompatibleProfileName,
        ...(keyed ? { apiKeys: [keyOf(name)] } : {}),
      });
      return [name, sim] as const;
    }),
  );
  for (const [name, sim] of started) sims[name] = sim;
  app = createApp(
    '/llm',
    portkeyLoadBalancer({
      providers: providersOption(),
      on: [events.listeners, scanningListeners],
      // The failures these tests provoke must not eject a provider for the next tests.
      circuitBreaker: false,
    }),
  );
  server = await listen(app);
});
afterAll(async () => {
  await server.close();
  await Promise.all(Object.values(sims).map((sim) => sim.close()));
});

function reset(): void {
  for (const sim of Object.values(sims)) sim.reset();
  events.seen.length = 0;
}

function targetOf(name: string): Record<string, unknown> {
  return name === 'ollama' || name === 'local-vllm'
    ? { provider: name }
    : { provider: name, api_key: keyOf(name) };
}

function client(config: unknown, url = server.url): OpenAI {
  return new OpenAI({
    apiKey: 'host-token',
    baseURL: `${url}/llm/v1`,
    defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
    maxRetries: 0,
  });
}

const model = 'model-1';
const ask: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Say hi' }];
const weatherTool: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
};
const basePathOf = (name: Name) => compatibleProfiles[name].basePath;

describe.each(names)('provider %s', (name) => {
  it('answers a chat completion at its base path, with its bearer key', async () => {
    reset();
    const { data, response } = await client(targetOf(name))
      .chat.completions.create({ model, messages: ask, max_tokens: 20 })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe(`Hello from ${name} (${model})`);
    expect(response.headers.get('x-portkey-provider')).toBe(name);
    const sent = sims[name].requests[0];
    expect(sent?.url).toBe(`${basePathOf(name)}/chat/completions`);
    expect(sent?.headers.authorization).toBe(
      name === 'ollama' ? undefined : `Bearer ${keyOf(name)}`,
    );
    expect(sent?.headers['x-portkey-config']).toBeUndefined();
    expect(sent?.body).toEqual({ model, messages: ask, max_tokens: 20 });
  });

  it('streams chunks the openai SDK reassembles into the same text', async () => {
    reset();
    const stream = await client(targetOf(name)).chat.completions.create({
      model,
      messages: ask,
      stream: true,
    });
    const { content: text, finish } = await reassemble(stream);
    expect(text).toBe(`Hello from ${name} (${model})`);
    expect(finish).toBe('stop');
    expect(events.of('error')).toEqual([]);
  });

  it('calls tools, streamed as delta.tool_calls the SDK reassembles', async () => {
    reset();
    const sdk = client(targetOf(name));
    const whole = await sdk.chat.completions.create({ model, messages: ask, tools: [weatherTool] });
    const call = whole.choices[0]?.message.tool_calls?.[0];
    expect(whole.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' && call.function.name).toBe('get_weather');
    const streamed = await sdk.chat.completions
      .stream({ model, messages: ask, tools: [weatherTool] })
      .finalChatCompletion();
    const streamedCall = streamed.choices[0]?.message.tool_calls?.[0];
    expect(streamed.choices[0]?.finish_reason).toBe('tool_calls');
    expect(
      streamedCall?.type === 'function' && JSON.parse(streamedCall.function.arguments),
    ).toEqual({ city: 'Paris' });
  });

  it("maps the host's error to OpenAI's JSON error shape, keeping its message", async () => {
    reset();
    // Ollama checks no key: its error here is the strict request check (no messages).
    const keyed = name !== 'ollama';
    const target = keyed
      ? { provider: name, api_key: 'sk-wrong-key-000000000000' }
      : targetOf(name);
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(target))
      .send({ model, messages: keyed ? ask : [] });
    expect(res.status).toBe(keyed ? 401 : 400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      error: {
        message: expect.stringContaining(keyed ? 'Invalid API key provided' : 'messages'),
        type: expect.any(String),
        param: keyed ? null : 'messages',
        code: keyed ? 'invalid_api_key' : null,
      },
    });
  });
});

describe('request quirks, as the strict simulators see them', () => {
  /** The simulator itself refuses the OpenAI spelling: the quirk is what makes the call pass. */
  async function refusedDirectly(name: Name, body: Record<string, unknown>): Promise<number> {
    const res = await fetch(`${sims[name].url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyOf(name)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  }

  it('mistral-ai: max_completion_tokens, seed and tool_choice "required" are renamed', async () => {
    reset();
    const body = {
      model: 'mistral-large-latest',
      messages: ask,
      tools: [weatherTool],
      tool_choice: 'required' as const,
      max_completion_tokens: 64,
      seed: 42,
    };
    expect(await refusedDirectly('mistral-ai', body)).toBe(400);
    const completion = await client(targetOf('mistral-ai')).chat.completions.create(body);
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    const sent = sims['mistral-ai'].requests.at(-1)?.body;
    expect(sent).toMatchObject({ max_tokens: 64, random_seed: 42, tool_choice: 'any' });
    expect(sent).not.toHaveProperty('max_completion_tokens');
    expect(sent).not.toHaveProperty('seed');
  });

  it('deepseek: a reasoner answer sent back in messages loses its reasoning_content', async () => {
    reset();
    const history = [
      ...ask,
      { role: 'assistant', content: 'Hi.', reasoning_content: 'The user greets me.' },
      { role: 'user', content: 'Again' },
    ];
    const body = { model: 'deepseek-reasoner', messages: history };
    expect(await refusedDirectly('deepseek', body)).toBe(400);
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(targetOf('deepseek')))
      .send(body);
    expect(res.status).toBe(200);
    const sent = sims.deepseek.requests.at(-1)?.body?.messages as Record<string, unknown>[];
    expect(sent[1]).toEqual({ role: 'assistant', content: 'Hi.' });
    expect(sent).toHaveLength(3);
  });

  it('groq: logprobs, top_logprobs and logit_bias are dropped, the rest is sent', async () => {
    reset();
    const body = {
      model: 'llama-3.3-70b-versatile',
      messages: ask,
      logprobs: true,
      top_logprobs: 3,
      logit_bias: { '1234': 5 },
      temperature: 0.3,
    };
    expect(await refusedDirectly('groq', body)).toBe(400);
    const completion = await client(targetOf('groq')).chat.completions.create(body);
    expect(completion.choices[0]?.message.content).toContain('Hello from groq');
    expect(sims.groq.requests.at(-1)?.body).toEqual({
      model: 'llama-3.3-70b-versatile',
      messages: ask,
      temperature: 0.3,
    });
  });

  it('other providers get the body unchanged', async () => {
    reset();
    const body = { model, messages: ask, seed: 1, logprobs: true, max_completion_tokens: 9 };
    await client(targetOf('together-ai')).chat.completions.create(body);
    expect(sims['together-ai'].requests[0]?.body).toEqual(body);
  });
});

describe('openrouter streams', () => {
  async function rawStream(config: unknown): Promise<string> {
    const res = await fetch(`${server.url}/llm/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-portkey-config': JSON.stringify(config) },
      body: JSON.stringify({ model, messages: ask, stream: true }),
    });
    expect(res.status).toBe(200);
    return res.text();
  }

  it('relays its comment lines, which SSE clients skip', async () => {
    reset();
    const text = await rawStream(targetOf('openrouter'));
    expect(text.startsWith(': OPENROUTER PROCESSING\n\n')).toBe(true);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const chunks = chunksOf(dataOf(text)).filter((chunk) => chunk !== '[DONE]');
    const content = chunks
      .map((chunk) => {
        const choices = chunk.choices as { delta: { content?: string } }[];
        return choices[0]?.delta.content ?? '';
      })
      .join('');
    expect(content).toBe(`Hello from openrouter (${model})`);
    expect(events.of('error')).toEqual([]);
  });

  it('surfaces an error frame sent mid-stream as an OpenAI error event and a failed call', async () => {
    reset();
    sims.openrouter.script({
      answer: {
        streamError: { type: 'server_error', message: 'Upstream overloaded', afterEvents: 2 },
      },
    });
    const text = await rawStream(targetOf('openrouter'));
    const last = chunksOf(dataOf(text)).at(-1);
    expect(last).toEqual({
      error: { message: 'Upstream overloaded', type: 'server_error', param: null, code: '502' },
    });
    // The host sent [DONE] after its error frame: the relay stops at the frame.
    expect(text).not.toContain('[DONE]');
    expect(events.of('error')).toMatchObject([
      { code: 'ERR_UPSTREAM_ERROR', provider: 'openrouter' },
    ]);
  });

  it('makes the openai SDK throw, and counts for the circuit breaker', async () => {
    reset();
    const strict = createApp(
      '/llm',
      portkeyLoadBalancer({
        providers: providersOption(),
        on: scanningListeners,
        circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 },
      }),
    );
    const running = await listen(strict);
    try {
      sims.openrouter.script({ answer: { streamError: { type: 'server_error' } } });
      const sdk = client(targetOf('openrouter'), running.url);
      const stream = await sdk.chat.completions.create({ model, messages: ask, stream: true });
      await expect(async () => {
        for await (const _chunk of stream) {
          // Reading until the error event.
        }
      }).rejects.toThrow(/Provider returned error/);
      // One failure opened the breaker: the only target is now ejected.
      const next = await request(strict)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(targetOf('openrouter')))
        .send({ model, messages: ask });
      expect(next.status).toBe(503);
      expect(next.body.error.code).toBe('ERR_NO_HEALTHY_TARGET');
      expect(sims.openrouter.requests).toHaveLength(1);
    } finally {
      await running.close();
    }
  });
});

describe('a server-defined provider (local-vllm)', () => {
  it('is routable by its name, with its base URL and headers, and streams', async () => {
    reset();
    const sdk = client(targetOf('local-vllm'));
    const completion = await sdk.chat.completions.create({ model, messages: ask });
    expect(completion.choices[0]?.message.content).toBe(`Hello from vllm (${model})`);
    const sent = sims.vllm.requests[0];
    expect(sent?.url).toBe('/v1/chat/completions');
    expect(sent?.headers['x-cluster']).toBe('a');
    expect(sent?.headers.authorization).toBeUndefined();
    const stream = await sdk.chat.completions.create({ model, messages: ask, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(`Hello from vllm (${model})`);
  });

  it("reports vLLM's error bodies and object: error stream frames", async () => {
    reset();
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(targetOf('local-vllm')))
      .send({ model, messages: [] });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ message: expect.stringContaining('messages') });
    expect(res.body.error).not.toHaveProperty('object');
    sims.vllm.script({ answer: { streamError: { type: 'InternalServerError', message: 'OOM' } } });
    const streamed = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(targetOf('local-vllm')))
      .send({ model, messages: ask, stream: true });
    expect(chunksOf(dataOf(streamed.text)).at(-1)).toMatchObject({ error: { message: 'OOM' } });
    expect(events.of('error').at(-1)).toMatchObject({ code: 'ERR_UPSTREAM_ERROR' });
  });

  it('is trusted like a server option, and unknown to servers that do not define it', async () => {
    const res = await request(createApp('/llm', portkeyLoadBalancer({})))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'local-vlm' }))
      .send({ model, messages: ask });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_CONFIG_INVALID');
    expect(res.body.error.param).toBe('config.provider');
    const defined = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'local-vlm' }))
      .send({ model, messages: ask });
    expect(defined.body.error.message).toContain('did you mean "local-vllm"');
    expect(validateConfig({ provider: 'local-vllm' }, { providers: providersOption() }).valid).toBe(
      true,
    );
  });

  it('may not take a built-in name', () => {
    expect(() =>
      portkeyLoadBalancer({
        // The types refuse it too; a JavaScript caller could still write it.
        providers: {
          groq: { type: 'openai-compatible', baseURL: sims.vllm.url },
        } as unknown as LoadBalancerOptions['providers'],
      }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_OPTIONS_INVALID', param: 'providers.groq.type' }),
    );
  });
});

describe('ollama without a server base URL', () => {
  it('refuses a server config at construction and a request config with a 400, naming the field', async () => {
    expect(() => portkeyLoadBalancer({ config: { provider: 'ollama' } })).toThrow(
      expect.objectContaining({ code: 'ERR_OPTIONS_INVALID', param: 'options.config.custom_host' }),
    );
    const bare = createApp('/llm', portkeyLoadBalancer({}));
    const res = await request(bare)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'ollama' }))
      .send({ model, messages: ask });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('config.custom_host');
    expect(res.body.error.message).toContain('providers.ollama.baseURL');
  });

  it('runs with a custom_host the server allows', async () => {
    reset();
    const origin = new URL(sims.ollama.url).origin;
    const allowed = createApp('/llm', portkeyLoadBalancer({ allowedHosts: [origin] }));
    const res = await request(allowed)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'ollama', custom_host: sims.ollama.url }))
      .send({ model: 'llama3.2', messages: ask });
    expect(res.status).toBe(200);
    expect(res.body.choices[0].message.content).toBe('Hello from ollama (llama3.2)');
  });
});

/** The answer's text, from a JSON completion or reassembled from a stream's chunks. */
function contentOf(res: request.Response): string {
  if (!String(res.headers['content-type']).startsWith('text/event-stream')) {
    return res.body.choices[0].message.content;
  }
  return chunksOf(dataOf(res.text))
    .map((chunk) => {
      if (chunk === '[DONE]') return '';
      const choices = chunk.choices as { delta: { content?: string } }[];
      return choices[0]?.delta.content ?? '';
    })
    .join('');
}

describe('a loadbalance across OpenAI-compatible providers', () => {
  it('serves a burst of concurrent requests, each answered by the provider it names', async () => {
    reset();
    const members = ['groq', 'mistral-ai', 'deepseek', 'openrouter', 'local-vllm'];
    const config = { strategy: { mode: 'loadbalance' }, targets: members.map(targetOf) };
    const burst = 60;
    const answers = await Promise.all(
      Array.from({ length: burst }, (_, index) =>
        request(app)
          .post('/llm/v1/chat/completions')
          .set('x-portkey-config', JSON.stringify(config))
          .send({
            model,
            messages: [{ role: 'user', content: `request ${index}` }],
            seed: index,
            max_completion_tokens: 10,
            stream: index % 2 === 0,
          }),
      ),
    );
    const counts = new Map<string, number>();
    for (const res of answers) {
      expect(res.status).toBe(200);
      const provider = String(res.headers['x-portkey-provider']);
      const expected = `Hello from ${provider === 'local-vllm' ? 'vllm' : provider} (${model})`;
      expect(contentOf(res)).toBe(expected);
      counts.set(provider, (counts.get(provider) ?? 0) + 1);
    }
    // 60 picks among 5 equal weights: each provider is picked (p of a miss is about 1e-5).
    expect([...counts.keys()].sort()).toEqual([...members].sort());
    const received = ['groq', 'mistral-ai', 'deepseek', 'openrouter', 'vllm'].reduce(
      (sum, name) => sum + sims[name as Name | 'vllm'].requests.length,
      0,
    );
    expect(received).toBe(burst);
    // Mistral got its own spelling on every request it served (else the simulator would 400).
    for (const sent of sims['mistral-ai'].requests) {
      expect(sent.body).toHaveProperty('random_seed');
    }
  });
});
