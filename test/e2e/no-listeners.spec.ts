import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LoadBalancerOptions, portkeyLoadBalancer } from '../../lib/index.js';
import { EventSink } from '../../lib/telemetry/events.js';
import { createApp, keys, listen, type RunningServer, useProviders } from '../helpers/app.js';
import { chat, serverError } from '../helpers/fixtures.js';
import { chunksOf, readEvents } from '../helpers/sse.js';

// The production path: a middleware built with no `on` at all. Options are written by hand
// (not through simulatorOptions, which adds the leak detector's listeners).

const providers = useProviders();

function options(extra: LoadBalancerOptions = {}): LoadBalancerOptions {
  return {
    circuitBreaker: false,
    providers: {
      openai: { baseURL: providers.openai.url },
      anthropic: { baseURL: providers.anthropic.url },
      'azure-openai': { baseURL: providers.azure.url },
    },
    ...extra,
  };
}

const openai = { provider: 'openai', api_key: keys.openai };
const anthropic = { provider: 'anthropic', api_key: keys.anthropic };

const has = vi.spyOn(EventSink.prototype, 'has');
afterEach(() => {
  // Every question the middleware asked its sink was answered "nobody listens".
  expect(has).toHaveBeenCalled();
  expect(has.mock.results.map((result) => result.value)).not.toContain(true);
  has.mockClear();
});

function send(
  config: unknown,
  body: object = chat,
  app = createApp('/llm', portkeyLoadBalancer(options())),
) {
  return request(app)
    .post('/llm/v1/chat/completions')
    .set('x-portkey-config', JSON.stringify(config))
    .send(body);
}

describe('a middleware without listeners', () => {
  it('passes an OpenAI chat through', async () => {
    const res = await send(openai, { ...chat, model: 'gpt-4o-mini' });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('openai');
    expect(res.body).toMatchObject({
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: 'Hello from openai (gpt-4o-mini)' } }],
    });
    expect(providers.openai.requests).toHaveLength(1);
  });

  it('translates an Anthropic chat to the OpenAI shape', async () => {
    const res = await send(anthropic, { ...chat, model: 'claude-3-5-haiku-latest' });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(res.body).toMatchObject({
      object: 'chat.completion',
      choices: [
        {
          message: { role: 'assistant', content: 'Hello from anthropic (claude-3-5-haiku-latest)' },
          finish_reason: 'stop',
        },
      ],
    });
    expect(providers.anthropic.requests[0]?.url).toMatch(/\/messages$/);
  });

  describe('streams', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await listen(createApp('/llm', portkeyLoadBalancer(options())));
    });
    afterAll(async () => {
      await server.close();
    });

    for (const [name, config, model] of [
      ['openai', openai, 'gpt-4o-mini'],
      ['anthropic', anthropic, 'claude-3-5-haiku-latest'],
    ] as const) {
      it(`streams ${name}'s answer as chat.completion.chunk events`, async () => {
        const res = await fetch(`${server.url}/llm/v1/chat/completions`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-portkey-config': JSON.stringify(config),
          },
          body: JSON.stringify({ ...chat, model, stream: true }),
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const chunks = chunksOf(await readEvents(res));
        expect(chunks.at(-1)).toBe('[DONE]');
        const text = chunks
          .filter((chunk) => chunk !== '[DONE]')
          .map((chunk) => {
            expect(chunk.object).toBe('chat.completion.chunk');
            const choices = chunk.choices as { delta: { content?: string } }[];
            return choices[0]?.delta.content ?? '';
          })
          .join('');
        expect(text).toBe(`Hello from ${name} (${model})`);
      });
    }
  });

  it("returns a provider's own error", async () => {
    providers.openai.script(serverError);
    const res = await send(openai);
    expect(res.status).toBe(500);
    expect(res.body.error).toMatchObject({ message: 'boom', type: 'server_error' });
  });

  it('falls back past a provider error', async () => {
    providers.openai.script(serverError);
    const res = await send({ strategy: { mode: 'fallback' }, targets: [openai, anthropic] });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1]');
  });

  it('refuses an invalid config without calling a provider', async () => {
    const res = await send({ provider: 'opnai', api_key: keys.openai });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_CONFIG_INVALID', param: 'config.provider' });
    expect(providers.requestCount()).toBe(0);
  });

  it('refuses a config the request policy forbids', async () => {
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(options({ requestConfig: 'virtual-keys-only' })),
    );
    const res = await send(openai, chat, app);
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({
      code: 'ERR_CONFIG_FORBIDDEN',
      param: 'config.api_key',
    });
    expect(providers.requestCount()).toBe(0);
  });
});
