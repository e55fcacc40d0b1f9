import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import {
  type LoadBalancerOptions,
  MemoryStore,
  portkeyLoadBalancer,
  type StateStore,
} from '../../lib/index.js';
import { createApp, keys, listen, simulatorOptions, useProviders } from '../helpers/app.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { anthropicTarget, chat, openaiTarget, serverError } from '../helpers/fixtures.js';
import { sequenceRandom } from '../helpers/random.js';
import { chunksOf, dataOf } from '../helpers/sse.js';

const providers = useProviders();

const openai = openaiTarget;
const anthropic = anthropicTarget;

function appWith(options: LoadBalancerOptions = {}) {
  return createApp(
    '/llm',
    portkeyLoadBalancer(simulatorOptions(providers, { circuitBreaker: false, ...options })),
  );
}

function send(app: express.Express, config: unknown, body: object = chat) {
  return request(app)
    .post('/llm/v1/chat/completions')
    .set('x-portkey-config', JSON.stringify(config))
    .send(body);
}

describe('fallback', () => {
  it('moves to the next target on a provider error and names the one that answered', async () => {
    providers.openai.script(serverError);
    const res = await send(appWith(), {
      strategy: { mode: 'fallback' },
      targets: [openai, anthropic],
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1]');
    expect(res.headers['x-portkey-retry-attempt-count']).toBe('0');
    expect(providers.openai.requests).toHaveLength(1);
    expect(providers.anthropic.requests).toHaveLength(1);
  });

  it('works in Format 1 with mode fallback', async () => {
    providers.openai.script(serverError);
    const res = await request(appWith())
      .post('/llm/v1/chatComplete')
      .send({
        config: {
          mode: 'fallback',
          options: [
            { provider: 'openai', apiKey: keys.openai },
            { provider: 'anthropic', apiKey: keys.anthropic },
          ],
        },
        params: { ...chat, max_tokens: 20 },
      });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-last-used-option-index']).toBe('1');
  });

  it('only falls back on on_status_codes when they are given', async () => {
    providers.openai.script({
      status: 400,
      body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } },
    });
    const res = await send(appWith(), {
      strategy: { mode: 'fallback', on_status_codes: [429, 503] },
      targets: [openai, anthropic],
    });
    expect(res.status).toBe(400);
    expect(providers.anthropic.requests).toHaveLength(0);
  });

  it("answers with the last target's error when every target fails", async () => {
    providers.openai.script(serverError);
    providers.anthropic.script({
      status: 529,
      body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
    const res = await send(appWith(), {
      strategy: { mode: 'fallback' },
      targets: [openai, anthropic],
    });
    expect(res.status).toBe(529);
    expect(res.body.error.type).toBe('overloaded_error');
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });

  it('falls back on a refused connection', async () => {
    const closed = await listen(express());
    const port = new URL(closed.url).port;
    await closed.close();
    const app = createApp(
      '/llm',
      portkeyLoadBalancer({
        circuitBreaker: false,
        providers: {
          openai: { baseURL: `http://127.0.0.1:${port}/v1` },
          anthropic: { baseURL: providers.anthropic.url },
        },
      }),
    );
    const res = await send(app, { strategy: { mode: 'fallback' }, targets: [openai, anthropic] });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });

  it('falls back on a timeout', async () => {
    providers.openai.script({ hang: true });
    const res = await send(appWith(), {
      strategy: { mode: 'fallback' },
      targets: [{ ...openai, request_timeout: 100 }, anthropic],
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });

  it('falls back on a connection reset', async () => {
    providers.openai.script({ destroy: true });
    const res = await send(appWith(), {
      strategy: { mode: 'fallback' },
      targets: [openai, anthropic],
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });

  it('runs nested trees: a loadbalance whose branch is a fallback', async () => {
    providers.openai.script(serverError);
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { ...anthropic, weight: 1 },
        {
          strategy: { mode: 'fallback' },
          weight: 1,
          targets: [openai, { ...anthropic, override_params: { model: 'claude-backup' } }],
        },
      ],
    };
    const res = await send(appWith({ random: sequenceRandom(0.9) }), config);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1].targets[1]');
    expect(providers.anthropic.requests[0]?.body?.model).toBe('claude-backup');
  });

  it('re-picks among loadbalance siblings on on_status_codes', async () => {
    providers.openai.script({
      status: 429,
      body: { error: { message: 'slow down', type: 'requests', param: null, code: null } },
    });
    const config = {
      strategy: { mode: 'loadbalance', on_status_codes: [429] },
      targets: [openai, anthropic],
    };
    const res = await send(appWith({ random: sequenceRandom(0.1) }), config);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });
});

describe('retries', () => {
  it('retries a 503 once then answers, sending the identical body each time', async () => {
    const time = fakeClock();
    providers.openai.script({
      status: 503,
      body: { error: { message: 'busy', type: 'server_error', param: null, code: null } },
    });
    const res = await send(appWith({ clock: time.clock }), { ...openai, retry: { attempts: 2 } });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-retry-attempt-count']).toBe('1');
    expect(providers.openai.requests).toHaveLength(2);
    expect(providers.openai.requests[1]?.rawBody).toBe(providers.openai.requests[0]?.rawBody);
    expect(providers.openai.requests[1]?.headers['content-length']).toBe(
      providers.openai.requests[0]?.headers['content-length'],
    );
  });

  it('spaces retries with exponential backoff and jitter', async () => {
    const time = fakeClock();
    providers.openai.script(serverError, serverError, serverError);
    const app = appWith({
      clock: time.clock,
      random: () => 0.5,
      backoff: { initialDelayMs: 100, maxDelayMs: 300 },
    });
    const res = await send(app, { ...openai, retry: { attempts: 3 } });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-retry-attempt-count']).toBe('3');
    // step = min(300, 100 * 2^n), waiting half the step plus jitter * half: 75, 150, 225.
    expect(time.sleeps).toEqual([75, 150, 225]);
  });

  it('does not pile up listeners over many retries', async () => {
    const time = fakeClock();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      providers.openai.script(...Array.from({ length: 10 }, () => serverError));
      const res = await send(appWith({ clock: time.clock }), {
        ...openai,
        retry: { attempts: 10 },
      });
      expect(res.status).toBe(200);
      expect(res.headers['x-portkey-retry-attempt-count']).toBe('10');
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual(
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('retries refused connections', async () => {
    const time = fakeClock();
    providers.openai.script({ destroy: true });
    const res = await send(appWith({ clock: time.clock }), { ...openai, retry: { attempts: 1 } });
    expect(res.status).toBe(200);
    expect(providers.openai.requests).toHaveLength(2);
  });

  it('honours retry-after, retry-after-ms and x-ms-retry-after-ms when asked', async () => {
    const time = fakeClock();
    const limited = (headers: Record<string, string>) => ({
      status: 429,
      body: { error: { message: 'rate limited', type: 'requests', param: null, code: null } },
      headers,
    });
    providers.openai.script(
      limited({ 'retry-after': '2' }),
      limited({ 'retry-after-ms': '1500' }),
      limited({ 'x-ms-retry-after-ms': '700' }),
    );
    const res = await send(appWith({ clock: time.clock }), {
      ...openai,
      retry: { attempts: 3, use_retry_after_header: true },
    });
    expect(res.status).toBe(200);
    expect(time.sleeps).toEqual([2000, 1500, 700]);
  });

  it('does not wait longer than maxRetryAfterMs: it falls back instead', async () => {
    const time = fakeClock();
    providers.openai.script({
      status: 429,
      body: { error: { message: 'later', type: 'requests', param: null, code: null } },
      headers: { 'retry-after': '3600' },
    });
    const config = {
      strategy: { mode: 'fallback' },
      targets: [{ ...openai, retry: { attempts: 3, use_retry_after_header: true } }, anthropic],
    };
    const res = await send(appWith({ clock: time.clock }), config);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(time.sleeps).toEqual([]);
  });

  it('never retries once a stream has started', async () => {
    providers.openai.script({
      stream: ['data: {"id":"c1","object":"chat.completion.chunk","choices":[]}\n\n'],
      cutAfter: true,
    });
    const server = await listen(appWith({ clock: fakeClock().clock }));
    try {
      const res = await fetch(`${server.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-portkey-config': JSON.stringify({
            strategy: { mode: 'fallback' },
            targets: [{ ...openai, retry: { attempts: 3 } }, anthropic],
          }),
        },
        body: JSON.stringify({ ...chat, stream: true }),
      });
      const events = chunksOf(dataOf(await res.text()));
      expect(events.at(-1)).toMatchObject({ error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' } });
      expect(providers.openai.requests).toHaveLength(1);
      expect(providers.anthropic.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('fails over a stream before its first byte', async () => {
    providers.openai.script(serverError);
    const server = await listen(appWith());
    try {
      const res = await fetch(`${server.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-portkey-config': JSON.stringify({
            strategy: { mode: 'fallback' },
            targets: [openai, anthropic],
          }),
        },
        body: JSON.stringify({ ...chat, stream: true }),
      });
      expect(res.headers.get('x-portkey-provider')).toBe('anthropic');
      expect(dataOf(await res.text()).at(-1)).toBe('[DONE]');
    } finally {
      await server.close();
    }
  });
});

describe('timeouts and the deadline', () => {
  it('gives up at the overall deadline across retries', async () => {
    providers.openai.script({ hang: true }, { hang: true }, { hang: true });
    const res = await send(appWith({ deadline: 200 }), { ...openai, retry: { attempts: 3 } });
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('ERR_UPSTREAM_TIMEOUT');
    // The first attempt's timeout is cut to the deadline, leaving no time to retry.
    expect(providers.openai.requests.length).toBeLessThanOrEqual(2);
  });
});

describe('circuit breaking', () => {
  const breaker = { failureThreshold: 2, windowMs: 10_000, cooldownMs: 30_000 };

  it('ejects a failing target, answers 503 with retry-after without contacting it, then probes after the cooldown', async () => {
    const time = fakeClock();
    const app = appWith({ clock: time.clock, circuitBreaker: breaker });
    providers.openai.script(serverError, serverError);
    expect((await send(app, openai)).status).toBe(500);
    expect((await send(app, openai)).status).toBe(500);

    const ejected = await send(app, openai);
    expect(ejected.status).toBe(503);
    expect(ejected.body.error.code).toBe('ERR_NO_HEALTHY_TARGET');
    expect(ejected.headers['retry-after']).toBe('30');
    expect(providers.openai.requests).toHaveLength(2);

    time.advance(20_000);
    expect((await send(app, openai)).headers['retry-after']).toBe('10');

    time.advance(10_000);
    const probe = await send(app, openai);
    expect(probe.status).toBe(200);
    expect(providers.openai.requests).toHaveLength(3);
    expect((await send(app, openai)).status).toBe(200);
  });

  it('re-opens when the half-open probe fails', async () => {
    const time = fakeClock();
    const app = appWith({ clock: time.clock, circuitBreaker: breaker });
    providers.openai.script(serverError, serverError, serverError);
    await send(app, openai);
    await send(app, openai);
    time.advance(30_000);
    expect((await send(app, openai)).status).toBe(500);
    const again = await send(app, openai);
    expect(again.status).toBe(503);
    expect(again.headers['retry-after']).toBe('30');
  });

  it('renormalises loadbalance weights over healthy targets while a breaker is open', async () => {
    const time = fakeClock();
    const app = appWith({ clock: time.clock, circuitBreaker: breaker, random: () => 0.1 });
    const config = { strategy: { mode: 'loadbalance' }, targets: [openai, anthropic] };
    providers.openai.script(serverError, serverError);
    await send(app, config);
    await send(app, config);
    providers.reset();
    for (let index = 0; index < 20; index++) {
      const res = await send(app, config);
      expect(res.headers['x-portkey-provider']).toBe('anthropic');
    }
    expect(providers.openai.requests).toHaveLength(0);
  });

  it('ejects a target at once for a 429 with retry-after, answering 429 while it is out', async () => {
    const time = fakeClock();
    const app = appWith({ clock: time.clock, circuitBreaker: breaker });
    providers.openai.script({
      status: 429,
      body: { error: { message: 'slow', type: 'requests', param: null, code: null } },
      headers: { 'retry-after': '12' },
    });
    expect((await send(app, openai)).status).toBe(429);
    const ejected = await send(app, openai);
    expect(ejected.status).toBe(429);
    expect(ejected.body.error.code).toBe('ERR_RATE_LIMITED');
    expect(ejected.headers['retry-after']).toBe('12');
  });

  it('does not count client errors against a target', async () => {
    const time = fakeClock();
    const app = appWith({ clock: time.clock, circuitBreaker: breaker });
    const badRequest = {
      status: 400,
      body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } },
    };
    providers.openai.script(badRequest, badRequest, badRequest);
    for (let index = 0; index < 3; index++) expect((await send(app, openai)).status).toBe(400);
    expect((await send(app, openai)).status).toBe(200);
  });

  it('keeps health in a pluggable async store, keyed without the key', async () => {
    const time = fakeClock();
    const memory = new MemoryStore();
    const calls: string[] = [];
    // A MockStore: the memory store's operations, answered asynchronously and logged.
    const store = new Proxy(memory, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          calls.push(`${String(property)} ${JSON.stringify(args[0])}`);
          return value.apply(target, args);
        };
      },
    }) as StateStore;
    const app = appWith({ clock: time.clock, circuitBreaker: breaker, store });
    providers.openai.script(serverError, serverError);
    await send(app, openai);
    await send(app, openai);
    expect((await send(app, openai)).status).toBe(503);
    expect(calls.filter((call) => call.startsWith('recordFailure '))).toHaveLength(2);
    expect(calls.filter((call) => call.startsWith('snapshot '))).toHaveLength(3);
    expect(calls.join('\n')).not.toContain(keys.openai);
    const failure = calls.find((call) => call.startsWith('recordFailure ')) ?? '';
    expect(JSON.parse(failure.slice('recordFailure '.length))).toMatch(
      /^openai http:\/\/127\.0\.0\.1:\d+\/v1 - [0-9a-f]{16}$/,
    );
  });
});
