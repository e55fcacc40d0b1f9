import express from 'express';
import * as promClient from 'prom-client';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import {
  type LoadBalancerEventMap,
  type LoadBalancerListeners,
  type LoadBalancerOptions,
  portkeyLoadBalancer,
  prometheusMetrics,
} from '../../lib/index.js';
import { createApp, keys, listen, simulatorOptions, useProviders } from '../helpers/app.js';
import { recorder } from '../helpers/event-recorder.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { anthropicTarget, chat, openaiTarget, serverError } from '../helpers/fixtures.js';
import { sequenceRandom } from '../helpers/random.js';
import { virtualKeySecrets } from '../helpers/secrets.js';
import { dataOf } from '../helpers/sse.js';

const providers = useProviders();

const openai = openaiTarget;
const anthropic = anthropicTarget;

function app(options: LoadBalancerOptions) {
  return createApp(
    '/llm',
    portkeyLoadBalancer(simulatorOptions(providers, { circuitBreaker: false, ...options })),
  );
}

function expectNoKeys(value: unknown) {
  const text = JSON.stringify(value);
  for (const key of [...Object.values(keys), ...Object.values(virtualKeySecrets)])
    expect(text).not.toContain(key);
}

describe('events', () => {
  it('tells the story of a request: select, attempts, retry, fallback, response', async () => {
    const events = recorder();
    const time = fakeClock();
    providers.openai.script(serverError, serverError);
    const config = {
      strategy: { mode: 'loadbalance', on_status_codes: [500] },
      targets: [
        { ...openai, weight: 3, retry: { attempts: 1 } },
        { ...anthropic, weight: 1 },
        { ...openai, weight: 0 },
      ],
    };
    const res = await request(
      app({ on: events.listeners, clock: time.clock, random: sequenceRandom(0, 0.5) }),
    )
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .set('x-portkey-trace-id', 'trace-1')
      .send(chat);
    expect(res.status).toBe(200);
    expect(events.names()).toEqual([
      'request',
      'select',
      'attempt',
      'retry',
      'attempt',
      'fallback',
      'select',
      'attempt',
      'response',
    ]);
    for (const { event } of events.seen) {
      expect((event as { requestId?: string }).requestId).toBe('trace-1');
    }
    const [first, second] = events.seen
      .filter((entry) => entry.name === 'select')
      .map((entry) => entry.event as LoadBalancerEventMap['select']);
    expect(first?.candidates).toEqual([
      {
        target: 'config.targets[0]',
        provider: 'openai',
        weight: 3,
        normalizedWeight: 0.75,
        available: true,
      },
      {
        target: 'config.targets[1]',
        provider: 'anthropic',
        weight: 1,
        normalizedWeight: 0.25,
        available: true,
      },
      {
        target: 'config.targets[2]',
        provider: 'openai',
        weight: 0,
        normalizedWeight: 0,
        available: false,
        excludedBecause: 'weight-zero',
      },
    ]);
    expect(first?.picked).toBe('config.targets[0]');
    expect(second?.candidates[0]).toMatchObject({
      available: false,
      excludedBecause: 'already-failed',
    });
    expect(second?.candidates[1]).toMatchObject({ normalizedWeight: 1 });
    const attempt = events.seen.find((entry) => entry.name === 'attempt')
      ?.event as LoadBalancerEventMap['attempt'];
    expect(attempt).toEqual({
      requestId: 'trace-1',
      target: 'config.targets[0]',
      provider: 'openai',
      retry: 0,
      url: `${providers.openai.url}/chat/completions`,
    });
    const retry = events.seen.find((entry) => entry.name === 'retry')
      ?.event as LoadBalancerEventMap['retry'];
    expect(retry).toMatchObject({ target: 'config.targets[0]', retry: 1, reason: { status: 500 } });
    expect(retry.delayMs).toBe(time.sleeps[0]);
    expect(events.seen.find((entry) => entry.name === 'fallback')?.event).toMatchObject({
      from: 'config.targets[0]',
      reason: { status: 500 },
    });
    const response = events.seen.at(-1)?.event as LoadBalancerEventMap['response'];
    expect(response).toMatchObject({
      provider: 'anthropic',
      target: 'config.targets[1]',
      status: 200,
      stream: false,
      retries: 1,
      usage: { promptTokens: 17, completionTokens: 6, totalTokens: 23 },
    });
    expect(response.latencyMs).toBeGreaterThanOrEqual(response.timeToFirstByteMs);
    expectNoKeys(events.seen);
  });

  it('reports usage of a passed-through OpenAI answer and of a stream', async () => {
    const events = recorder();
    const server = await listen(app({ on: events.listeners }));
    try {
      await request(server.url)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(openai))
        .send(chat);
      const streamed = await fetch(`${server.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-portkey-config': JSON.stringify(openai) },
        body: JSON.stringify({ ...chat, stream: true, stream_options: { include_usage: true } }),
      });
      expect(dataOf(await streamed.text()).at(-1)).toBe('[DONE]');
      await new Promise((resolve) => setTimeout(resolve, 20));
      const responses = events.seen
        .filter((entry) => entry.name === 'response')
        .map((entry) => entry.event as LoadBalancerEventMap['response']);
      expect(responses.map((event) => [event.stream, event.usage?.totalTokens])).toEqual([
        [false, 18],
        [true, 18],
      ]);
    } finally {
      await server.close();
    }
  });

  it('reports refused requests and provider failures as errors, and opened breakers', async () => {
    const events = recorder();
    const time = fakeClock();
    const instance = app({
      on: events.listeners,
      clock: time.clock,
      circuitBreaker: { failureThreshold: 1 },
    });
    await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', '{"provider":"nope"}')
      .send(chat);
    // Twice: a request that meets a dropped pooled connection is sent once more on a new one.
    providers.openai.script({ destroy: true }, { destroy: true });
    await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(openai))
      .send(chat);
    const errors = events.seen
      .filter((entry) => entry.name === 'error')
      .map((entry) => entry.event as LoadBalancerEventMap['error']);
    expect(errors.map((event) => [event.code, event.status])).toEqual([
      ['ERR_CONFIG_INVALID', 400],
      ['ERR_UPSTREAM_UNREACHABLE', 502],
    ]);
    const opened = events.seen.find((entry) => entry.name === 'circuit-open')
      ?.event as LoadBalancerEventMap['circuit-open'];
    expect(opened).toMatchObject({
      provider: 'openai',
      target: 'config',
      until: time.clock.now() + 30_000,
    });
    expect(opened.targetKey).toMatch(/^openai http:\/\/127\.0\.0\.1:\d+\/v1 - [0-9a-f]{16}$/);
    expectNoKeys(events.seen);
  });

  it('survives listeners that throw or reject', async () => {
    const angry: LoadBalancerListeners = {
      request: () => {
        throw new Error('listener bug');
      },
      attempt: async () => {
        throw new Error('async listener bug');
      },
      response: () => {
        throw new Error('listener bug');
      },
    };
    const res = await request(app({ on: [angry, recorder().listeners] }))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(openai))
      .send(chat);
    expect(res.status).toBe(200);
  });
});

describe('Prometheus metrics', () => {
  it('counts requests, statuses, tokens, latency and breaker state, scraped from /metrics', async () => {
    const registry = new promClient.Registry();
    const metrics = prometheusMetrics(promClient, { registry });
    const time = fakeClock();
    const host = express();
    host.get('/metrics', metrics.handler);
    host.use(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, {
          on: metrics.listeners,
          clock: time.clock,
          circuitBreaker: { failureThreshold: 2 },
        }),
      ),
    );
    const send = (config: unknown) =>
      request(host)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .send(chat);

    for (let index = 0; index < 3; index++) expect((await send(openai)).status).toBe(200);
    providers.anthropic.script(
      {
        status: 529,
        body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      },
      serverError,
    );
    expect((await send(anthropic)).status).toBe(529);
    expect((await send(anthropic)).status).toBe(500);
    expect((await send({ provider: 'nope' })).status).toBe(400);

    const scrape = await request(host).get('/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toContain('text/plain');
    const text = scrape.text;
    const value = (series: string) => {
      const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    expect(value('llm_lb_requests_total{provider="openai",target="config",status="200"}')).toBe(3);
    expect(value('llm_lb_requests_total{provider="anthropic",target="config",status="529"}')).toBe(
      1,
    );
    expect(value('llm_lb_requests_total{provider="none",target="none",status="400"}')).toBe(1);
    expect(value('llm_lb_tokens_total{provider="openai",target="config",type="prompt"}')).toBe(36);
    expect(value('llm_lb_tokens_total{provider="openai",target="config",type="completion"}')).toBe(
      18,
    );
    expect(value('llm_lb_request_duration_seconds_count{provider="openai",target="config"}')).toBe(
      3,
    );
    expect(value('llm_lb_in_flight_requests')).toBe(0);
    expect(text).toMatch(
      /llm_lb_circuit_open\{provider="anthropic",target_key="anthropic http:\/\/127\.0\.0\.1:\d+\/v1 - [0-9a-f]{16}"\} 1/,
    );
    expectNoKeys(text);
  });

  it('can be created twice on one registry', () => {
    const registry = new promClient.Registry();
    prometheusMetrics(promClient, { registry });
    expect(() => prometheusMetrics(promClient, { registry })).not.toThrow();
  });
});

describe('dry run (explain)', () => {
  const config = {
    strategy: { mode: 'loadbalance' },
    targets: [
      { ...openai, weight: 1 },
      { ...anthropic, weight: 3 },
      { ...openai, weight: 0 },
    ],
  };

  it('is refused unless allowDryRun is on, without contacting anyone', async () => {
    const res = await request(app({}))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .set('x-portkey-dry-run', 'true')
      .send(chat);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('ERR_DRY_RUN_FORBIDDEN');
    expect(providers.requestCount()).toBe(0);
  });

  it('answers the plan: tree, weights, exclusions, pick, upstream request with keys masked', async () => {
    const explain = (instance: ReturnType<typeof app>) =>
      request(instance)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .set('x-portkey-dry-run', 'true')
        .send({ ...chat, temperature: 1.4, stop: 'END' });
    const res = await explain(app({ allowDryRun: true, random: sequenceRandom(0.5) }));
    expect(res.status).toBe(200);
    expect(providers.requestCount()).toBe(0);
    expect(res.body).toMatchObject({
      dry_run: true,
      outcome: 'would-send',
      selections: [
        {
          node: 'config',
          picked: 'config.targets[1]',
          candidates: [
            { target: 'config.targets[0]', normalizedWeight: 0.25, available: true },
            { target: 'config.targets[1]', normalizedWeight: 0.75, available: true },
            { target: 'config.targets[2]', available: false, excludedBecause: 'weight-zero' },
          ],
        },
      ],
      target: { path: 'config.targets[1]', provider: 'anthropic' },
      upstream: {
        method: 'POST',
        url: `${providers.anthropic.url}/messages`,
        headers: {
          'x-api-key': `***${keys.anthropic.slice(-4)}`,
          'anthropic-version': '2023-06-01',
        },
        body: {
          model: 'claude-3-5-haiku-latest',
          max_tokens: 4096,
          temperature: 1,
          stop_sequences: ['END'],
          messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        },
      },
    });
    expect(res.body.config.tree.targets[0].api_key).toBe(`***${keys.openai.slice(-4)}`);
    expectNoKeys(res.body);
    // Deterministic: a fresh middleware with the same random gives the same plan.
    const again = await explain(app({ allowDryRun: true, random: sequenceRandom(0.5) }));
    expect(again.body.selections).toEqual(res.body.selections);
  });

  it('shows targets ejected by their breaker and why', async () => {
    const time = fakeClock();
    const instance = app({
      allowDryRun: true,
      clock: time.clock,
      circuitBreaker: { failureThreshold: 1 },
      random: () => 0,
    });
    providers.openai.script(serverError);
    await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(openai))
      .send(chat);
    providers.reset();
    const res = await request(instance)
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({ strategy: { mode: 'loadbalance' }, targets: [openai, anthropic] }),
      )
      .set('x-portkey-dry-run', 'true')
      .send(chat);
    expect(res.body.selections[0].candidates[0]).toMatchObject({
      available: false,
      excludedBecause: 'circuit-open',
      retryAt: time.clock.now() + 30_000,
    });
    expect(res.body.target.provider).toBe('anthropic');
    expect(providers.requestCount()).toBe(0);
  });
});
