import * as promClient from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type LoadBalancerEventMap,
  type LoadBalancerOptions,
  portkeyLoadBalancer,
  prometheusMetrics,
  redisStore,
} from '../../lib/index.js';
import { createApp, keys, listen, type RunningServer } from '../helpers/app.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { chat, openaiTarget } from '../helpers/fixtures.js';
import { type GatedUpstream, startGatedUpstream, until } from '../helpers/gated-upstream.js';

let upstream: GatedUpstream;
const servers: RunningServer[] = [];

beforeAll(async () => {
  upstream = await startGatedUpstream();
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(async () => {
  upstream.open();
  upstream.answer(200);
  for (const server of servers.splice(0)) await server.close();
});

async function serve(options: LoadBalancerOptions): Promise<string> {
  const server = await listen(
    createApp(
      '/llm',
      portkeyLoadBalancer({ ...options, providers: { openai: { baseURL: upstream.url } } }),
    ),
  );
  servers.push(server);
  return server.url;
}

function send(url: string, config: unknown = openaiTarget) {
  return request(url)
    .post('/llm/v1/chat/completions')
    .set('x-portkey-config', JSON.stringify(config))
    .send(chat);
}

describe('the breaker under concurrency', () => {
  it('opens on a burst of overlapping failures: every failure counts', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock, circuitBreaker: { failureThreshold: 5 } });
    upstream.answer(500);
    upstream.barrier(20);
    const burst = await Promise.all(Array.from({ length: 20 }, () => send(url)));
    expect(burst.map((res) => res.status)).toEqual(Array.from({ length: 20 }, () => 500));
    const next = await send(url);
    expect(next.status).toBe(503);
    expect(next.body.error.code).toBe('ERR_NO_HEALTHY_TARGET');
    expect(upstream.count()).toBe(20);
  });

  it('counts concurrent hangs that time out', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock, circuitBreaker: { failureThreshold: 5 } });
    upstream.hold();
    const before = upstream.count();
    const hangs = await Promise.all(
      Array.from({ length: 5 }, () => send(url, { ...openaiTarget, request_timeout: 200 })),
    );
    expect(hangs.map((res) => res.body.error.code)).toEqual(
      Array.from({ length: 5 }, () => 'ERR_UPSTREAM_TIMEOUT'),
    );
    expect((await send(url)).status).toBe(503);
    expect(upstream.count() - before).toBe(5);
  });

  it('lets exactly one probe through after the cooldown; its success closes the breaker', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock, circuitBreaker: { failureThreshold: 1 } });
    upstream.answer(500);
    await send(url);
    time.advance(30_000);
    upstream.answer(200);
    upstream.hold();
    const before = upstream.count();
    const probe = send(url).then((res) => res);
    await until(() => upstream.waiting() === 1);
    const others = await Promise.all(Array.from({ length: 10 }, () => send(url)));
    expect(others.map((res) => res.status)).toEqual(Array.from({ length: 10 }, () => 503));
    expect(others[0]?.headers['retry-after']).toBe('1');
    upstream.open();
    expect((await probe).status).toBe(200);
    expect(upstream.count() - before).toBe(1);
    expect((await send(url)).status).toBe(200);
  });

  it('releases the probe at once when its client leaves', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock, circuitBreaker: { failureThreshold: 1 } });
    upstream.answer(500);
    await send(url);
    time.advance(30_000);
    upstream.answer(200);
    upstream.hold();
    const controller = new AbortController();
    const probe = fetch(`${url}/llm/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-portkey-config': JSON.stringify(openaiTarget),
      },
      body: JSON.stringify(chat),
      signal: controller.signal,
    }).catch(() => undefined);
    await until(() => upstream.waiting() === 1);
    controller.abort();
    await probe;
    upstream.open();
    // The next request is the probe now (not a 503 for the whole timeout), and closes the breaker.
    await until(() => upstream.waiting() === 0);
    let next = await send(url);
    for (let tries = 0; next.status === 503 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      next = await send(url);
    }
    expect(next.status).toBe(200);
  });
});

describe('rate limits and retries, as SDK clients see them', () => {
  it('ejects for what a 429 asked, also after a failed probe, and answers 429 meanwhile', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock });
    upstream.answer(429, { 'retry-after': '1' });
    expect((await send(url)).status).toBe(429);
    const limited = await send(url);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('ERR_RATE_LIMITED');
    expect(limited.headers['retry-after']).toBe('1');
    time.advance(1000);
    // The probe meets another 429: out for one more second, not for the 30 s cooldown.
    expect((await send(url)).status).toBe(429);
    const again = await send(url);
    expect(again.body.error.code).toBe('ERR_RATE_LIMITED');
    expect(again.headers['retry-after']).toBe('1');
    time.advance(1000);
    upstream.answer(200);
    expect((await send(url)).status).toBe(200);
  });

  it('answers 503 when only some targets are out for rate limits', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock, circuitBreaker: { failureThreshold: 1 } });
    const other = { ...openaiTarget, api_key: 'sk-test-other-0123456789abcdef' };
    const config = { strategy: { mode: 'fallback' }, targets: [openaiTarget, other] };
    upstream.answer(500);
    await send(url, other);
    upstream.answer(429, { 'retry-after': '5' });
    await send(url, openaiTarget);
    const res = await send(url, config);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
  });

  it('never waits for a breaker between retries: ends with the provider answer in hand', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock, circuitBreaker: { failureThreshold: 2 } });
    upstream.answer(500);
    const before = upstream.count();
    const res = await send(url, { ...openaiTarget, retry: { attempts: 5 } });
    expect(res.status).toBe(500);
    expect(res.body.error.message).toBe('upstream says no');
    expect(res.headers['x-portkey-retry-attempt-count']).toBe('1');
    expect(upstream.count() - before).toBe(2);
    expect(time.sleeps).toHaveLength(1);
  });
});

describe('Portkey cb_config', () => {
  it('overrides the server policy, inherited down the tree', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock });
    const config = {
      strategy: {
        mode: 'fallback',
        cb_config: { failure_threshold: 1, cooldown_interval: 5000, failure_status_codes: [418] },
      },
      targets: [{ strategy: { mode: 'single' }, targets: [openaiTarget] }],
    };
    upstream.answer(500);
    expect((await send(url, config)).status).toBe(500);
    // 500 is not among failure_status_codes: not counted.
    expect((await send(url, config)).status).toBe(500);
    upstream.answer(418);
    expect((await send(url, config)).status).toBe(418);
    const ejected = await send(url, config);
    expect(ejected.status).toBe(503);
    expect(ejected.headers['retry-after']).toBe('5');
  });

  it('opens on a failure percentage once minimum_requests is reached', async () => {
    const time = fakeClock();
    const url = await serve({ clock: time.clock });
    const config = {
      strategy: {
        mode: 'single',
        cb_config: { failure_threshold_percentage: 50, minimum_requests: 4 },
      },
      targets: [openaiTarget],
    };
    for (const status of [200, 500, 200, 500]) {
      upstream.answer(status);
      expect((await send(url, config)).status).toBe(status);
    }
    expect((await send(url, config)).status).toBe(503);
  });

  it('is validated by the schema', async () => {
    const url = await serve({});
    const res = await send(url, {
      strategy: { mode: 'single', cb_config: { failure_treshold: 3 } },
      targets: [openaiTarget],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_CONFIG_INVALID');
  });
});

describe('a failing store', () => {
  const broken = {
    rejects: () =>
      Promise.reject(Object.assign(new Error(`down ${keys.openai}`), { code: 'ECONNREFUSED' })),
    hangs: () => new Promise<unknown>(() => undefined),
  };

  for (const [name, sendCommand] of Object.entries(broken)) {
    it(`serves every request when its commands ${name}, and keeps a local breaker`, async () => {
      const time = fakeClock();
      const events: LoadBalancerEventMap['store-error'][] = [];
      const registry = new promClient.Registry();
      const metrics = prometheusMetrics(promClient, { registry });
      const url = await serve({
        clock: time.clock,
        store: redisStore({ sendCommand }),
        storeTimeout: 20,
        circuitBreaker: { failureThreshold: 2 },
        on: [metrics.listeners, { 'store-error': (event) => events.push(event) }],
      });
      const served = await Promise.all(Array.from({ length: 10 }, () => send(url)));
      expect(served.map((res) => res.status)).toEqual(Array.from({ length: 10 }, () => 200));
      upstream.answer(500);
      await send(url);
      await send(url);
      expect((await send(url)).status).toBe(503);
      // Rate-limited: one event while the clock stands still, never with a key or a message.
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        reason: name === 'rejects' ? 'error' : 'timeout',
        count: 1,
      });
      expect(JSON.stringify(events)).not.toContain(keys.openai);
      expect(JSON.stringify(events)).not.toContain('openai http');
      time.advance(10_000);
      upstream.answer(200);
      await send(url);
      expect(events).toHaveLength(2);
      const scrape = await registry.metrics();
      const total = scrape
        .split('\n')
        .filter((line) => line.startsWith('llm_lb_store_errors_total{'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
      expect(total).toBe(1 + (events[1]?.count ?? 0));
    });
  }

  it('refuses circuitBreaker.store, which moved to the top-level store option', () => {
    expect(() => portkeyLoadBalancer({ circuitBreaker: { store: {} } as never })).toThrow(
      /top-level option/,
    );
    expect(() => portkeyLoadBalancer({ store: {} as never })).toThrow(/StateStore/);
  });
});
