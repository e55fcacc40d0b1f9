import * as promClient from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type LoadBalancerOptions,
  portkeyLoadBalancer,
  prometheusMetrics,
} from '../../lib/index.js';
import { createApp, listen, type RunningServer } from '../helpers/app.js';
import { recorder } from '../helpers/event-recorder.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { chat } from '../helpers/fixtures.js';
import { until } from '../helpers/gated-upstream.js';
import { type KeyedUpstream, startKeyedUpstream } from '../helpers/keyed-upstream.js';
import { seededRandom } from '../helpers/random.js';

/** Sticky sessions, least-busy and least-latency picks and usage budgets on one replica. */

let upstream: KeyedUpstream;
const servers: RunningServer[] = [];

beforeAll(async () => {
  upstream = await startKeyedUpstream();
});
afterAll(async () => {
  for (const server of servers.splice(0)) await server.close();
  await upstream.close();
});
beforeEach(() => upstream.reset());

async function start(options: LoadBalancerOptions = {}): Promise<string> {
  const server = await listen(
    createApp(
      '/llm',
      portkeyLoadBalancer({
        providers: { openai: { baseURL: upstream.url } },
        allowDryRun: true,
        ...options,
      }),
    ),
  );
  servers.push(server);
  return server.url;
}

const target = (name: string, extra: object = {}) => ({
  name,
  provider: 'openai',
  api_key: `sk-${name}`,
  ...extra,
});

function send(url: string, config: unknown, metadata?: object, body: object = chat) {
  const call = request(url)
    .post('/llm/v1/chat/completions')
    .set('x-portkey-config', JSON.stringify(config));
  if (metadata !== undefined) call.set('x-portkey-metadata', JSON.stringify(metadata));
  return call.send(body);
}

const answeredBy = (answer: request.Response): string | undefined =>
  answer.body.choices?.[0]?.message?.content;

const sticky = (weights: [number, number] = [1, 1], ttl = 3600) => ({
  strategy: { mode: 'loadbalance', sticky: { hash_fields: ['metadata.session_id'], ttl } },
  targets: [target('a', { weight: weights[0] }), target('b', { weight: weights[1] })],
});

describe('sticky sessions', () => {
  it('sends every request of a session to the same target, on two replicas without shared state', async () => {
    const replicas = [await start(), await start()];
    const sessions = Array.from({ length: 12 }, (_, i) => `session-${i}`);
    const answers = await Promise.all(
      sessions.flatMap((session) =>
        Array.from({ length: 4 }, (_, i) =>
          send(replicas[i % 2] as string, sticky(), { session_id: session }).then((answer) => ({
            session,
            by: answeredBy(answer),
          })),
        ),
      ),
    );
    const homes = new Map<string, Set<string | undefined>>();
    for (const { session, by } of answers) {
      homes.set(session, (homes.get(session) ?? new Set()).add(by));
    }
    for (const [, seen] of homes) expect(seen.size).toBe(1);
    // Both targets hold sessions: the choice depends on the session.
    const used = new Set([...homes.values()].map((seen) => [...seen][0]));
    expect(used).toEqual(new Set(['a', 'b']));
  });

  it('spreads sessions by weight (dry runs: nothing is sent)', async () => {
    const url = await start();
    const plans = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        send(url, sticky([3, 1]), { session_id: `user-${i}` }).set('x-portkey-dry-run', 'true'),
      ),
    );
    const onA = plans.filter((plan) => plan.body.target.path === 'config.targets[0]').length;
    expect(plans.every((plan) => plan.body.selections[0].rule === 'sticky-hit')).toBe(true);
    // 300 expected; 4 standard deviations is about 35.
    expect(onA).toBeGreaterThan(265);
    expect(onA).toBeLessThan(335);
    expect(upstream.count('sk-a') + upstream.count('sk-b')).toBe(0);
  });

  it('moves the sessions of a target whose breaker opens, and only those; holds the move for ttl', async () => {
    const time = fakeClock();
    const events = recorder();
    const url = await start({
      clock: time.clock,
      circuitBreaker: { failureThreshold: 1, cooldownMs: 10_000 },
      on: events.listeners,
    });
    const sessions = Array.from({ length: 16 }, (_, i) => `s-${i}`);
    const homeOf = async (session: string) => {
      const plan = await send(url, sticky(), { session_id: session }).set(
        'x-portkey-dry-run',
        'true',
      );
      return plan.body.target.path === 'config.targets[0]' ? 'a' : 'b';
    };
    const homes = new Map<string, string>();
    for (const session of sessions) homes.set(session, await homeOf(session));
    const onB = sessions.filter((session) => homes.get(session) === 'b');
    expect(onB.length).toBeGreaterThan(0);
    expect(onB.length).toBeLessThan(sessions.length);

    upstream.set('sk-b', { status: 500 });
    const failed = await send(url, sticky(), { session_id: onB[0] });
    expect(failed.status).toBe(500);
    upstream.set('sk-b', { status: 200 });

    const round = () =>
      Promise.all(
        sessions.map((session) =>
          send(url, sticky(), { session_id: session }).then((answer) => [
            session,
            answeredBy(answer),
          ]),
        ),
      );
    // B is ejected: its sessions move to A, A's stay.
    for (const [, by] of await round()) expect(by).toBe('a');
    const moves = events.of('select').filter((event) => event.rule === 'sticky-move');
    expect(moves).toHaveLength(onB.length);

    // B is back (cooldown over, healthy), but a moved session stays where it moved for ttl.
    time.advance(10_001);
    for (const [, by] of await round()) expect(by).toBe('a');
    time.advance(3600 * 1000);
    for (const [session, by] of await round()) expect(by).toBe(homes.get(session as string));
  });

  it('gives a request without the session fields an ordinary weighted pick', async () => {
    const url = await start({ random: () => 0.99 });
    const plan = await send(url, sticky()).set('x-portkey-dry-run', 'true');
    expect(plan.body.selections[0]).toMatchObject({
      rule: 'weighted',
      picked: 'config.targets[1]',
    });
  });
});

describe('least-busy', () => {
  it('sends most of a concurrent burst away from a slow target', async () => {
    upstream.set('sk-slow', { hold: true });
    const url = await start({ random: seededRandom(7) });
    const config = {
      strategy: { mode: 'loadbalance', algorithm: 'least-busy' },
      targets: [target('slow'), target('fast')],
    };
    const pending: Promise<request.Response>[] = [];
    for (let wave = 0; wave < 5; wave++) {
      const before = upstream.count('sk-fast') + upstream.waiting('sk-slow');
      const burst = Array.from({ length: 8 }, () => send(url, config).then((answer) => answer));
      pending.push(...burst);
      // The next wave comes once this one has reached the upstream (slow ones are held).
      await until(() => upstream.count('sk-fast') + upstream.waiting('sk-slow') >= before + 8);
    }
    const slow = upstream.count('sk-slow');
    // A weighted pick would send about 20 of 40 to the slow target.
    expect(slow).toBeLessThan(12);
    upstream.release('sk-slow');
    const answers = await Promise.all(pending);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
  });
});

describe('least-latency', () => {
  it('moves traffic to the faster target after a warm-up, and measures a recovered one again', async () => {
    upstream.set('sk-slow', { delayMs: 80 });
    const url = await start({ random: seededRandom(11) });
    const config = {
      strategy: { mode: 'loadbalance', algorithm: 'least-latency' },
      targets: [target('slow'), target('fast')],
    };
    const burst = (n: number) => Promise.all(Array.from({ length: n }, () => send(url, config)));
    for (let i = 0; i < 3; i++) await burst(4);
    const warm = upstream.counts();
    for (let i = 0; i < 10; i++) await burst(4);
    const slow = upstream.count('sk-slow') - (warm['sk-slow'] ?? 0);
    const fast = upstream.count('sk-fast') - (warm['sk-fast'] ?? 0);
    expect(slow + fast).toBe(40);
    expect(fast).toBeGreaterThanOrEqual(34);

    upstream.set('sk-slow', {});
    const before = upstream.count('sk-slow');
    for (let i = 0; i < 30; i++) await burst(10);
    // Exploration keeps sending it a few requests: it is measured again.
    expect(upstream.count('sk-slow')).toBeGreaterThan(before);
  });
});

describe('least-latency and fast failures', () => {
  it('does not take a target that fails at once for a fast one', async () => {
    upstream.set('sk-bad', { status: 500 });
    upstream.set('sk-good', { delayMs: 20 });
    const url = await start({ random: seededRandom(3), circuitBreaker: false });
    const config = {
      strategy: { mode: 'loadbalance', algorithm: 'least-latency' },
      targets: [target('bad'), target('good')],
    };
    for (let i = 0; i < 3; i++) await Promise.all([1, 2].map(() => send(url, config)));
    const warm = upstream.count('sk-bad');
    for (let i = 0; i < 10; i++) await Promise.all([1, 2, 3, 4].map(() => send(url, config)));
    // A failure counts as slow as the timeout: the 20 ms target wins nearly every pick.
    expect(upstream.count('sk-bad') - warm).toBeLessThan(6);
  });
});

describe('usage budgets', () => {
  /** Milliseconds from `now` to the end of its minute window, as whole seconds rounded up. */
  const secondsLeft = (now: number) => Math.ceil((60_000 - (now % 60_000)) / 1000);

  it('admits exactly rpm requests of a concurrent burst, then 429 with the window in retry-after', async () => {
    const time = fakeClock();
    const events = recorder();
    const url = await start({ clock: time.clock, on: events.listeners });
    const config = target('a', { rpm: 5 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => send(url, config)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(7);
    expect(upstream.count('sk-a')).toBe(5);
    const refused = answers.find((answer) => answer.status === 429) as request.Response;
    expect(refused.body.error).toMatchObject({
      code: 'ERR_BUDGET_EXCEEDED',
      type: 'rate_limit_error',
    });
    expect(refused.headers['retry-after']).toBe(String(secondsLeft(time.clock.now())));
    expect(events.of('budget-skip')[0]).toMatchObject({
      target: 'config',
      scope: 'target',
      limit: 'rpm',
    });

    // The next window has room again.
    time.advance(60_000);
    expect((await send(url, config)).status).toBe(200);
  });

  it('skips a target at its budget like an ejected one, and 429s once every target is', async () => {
    const time = fakeClock();
    const events = recorder();
    const url = await start({ clock: time.clock, on: events.listeners });
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [target('a', { rpm: 3 }), target('b', { rpm: 3 })],
    };
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(url, config)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(6);
    expect(upstream.counts()).toEqual({ 'sk-a': 3, 'sk-b': 3 });
    const last = await send(url, config);
    expect(last.status).toBe(429);
    const plan = await send(url, config).set('x-portkey-dry-run', 'true');
    expect(plan.body.outcome).toBe('over-budget');
    const excluded = events
      .of('select')
      .flatMap((event) => event.candidates)
      .filter((candidate) => candidate.excludedBecause === 'over-budget');
    expect(excluded.length).toBeGreaterThan(0);
  });

  it('stops a target once its counted tokens reach tpm, streams included', async () => {
    const time = fakeClock();
    const events = recorder();
    const url = await start({ clock: time.clock, on: events.listeners });
    upstream.set('sk-a', { tokens: 40 });
    const config = target('a', { tpm: 100 });
    const bodies = [{ ...chat, stream: true }, chat, { ...chat, stream: true }];
    for (const [index, body] of bodies.entries()) {
      const answer = await send(url, config, undefined, body);
      expect(answer.status).toBe(200);
      await until(() => events.of('response').length === index + 1);
    }
    // 120 tokens counted: the next request is refused until the window ends.
    const refused = await send(url, config);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('ERR_BUDGET_EXCEEDED');
    expect(refused.headers['retry-after']).toBe(String(secondsLeft(time.clock.now())));
    expect(events.of('budget-skip')[0]).toMatchObject({ limit: 'tpm' });
    expect(upstream.count('sk-a')).toBe(3);
  });

  it("counts a virtual key's rpm across every target using it", async () => {
    const time = fakeClock();
    const url = await start({
      clock: time.clock,
      virtualKeys: { shared: { provider: 'openai', apiKey: 'sk-shared', rpm: 4 } },
    });
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { virtual_key: 'shared', override_params: { model: 'one' } },
        { virtual_key: 'shared', override_params: { model: 'two' } },
      ],
    };
    const answers = await Promise.all(Array.from({ length: 9 }, () => send(url, config)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(4);
    expect(upstream.count('sk-shared')).toBe(4);
  });

  it('refuses an invalid virtual key budget at construction', () => {
    expect(() =>
      portkeyLoadBalancer({
        virtualKeys: { k: { provider: 'openai', apiKey: 'sk', rpm: -1 } },
      }),
    ).toThrow(/virtualKeys\.k\.rpm/);
  });
});

describe('slow start', () => {
  it("ramps a recovered target's share back over slowStartMs (fake clock, many dry runs)", async () => {
    const time = fakeClock();
    let random = () => 0.99;
    const url = await start({
      clock: time.clock,
      random: () => random(),
      circuitBreaker: { failureThreshold: 1, cooldownMs: 1000, slowStartMs: 10_000 },
    });
    const config = { strategy: { mode: 'loadbalance' }, targets: [target('a'), target('b')] };
    upstream.set('sk-b', { status: 500 });
    expect((await send(url, config)).status).toBe(500);
    upstream.set('sk-b', {});
    time.advance(1000);
    // The probe closes b's breaker.
    expect(answeredBy(await send(url, config))).toBe('b');
    random = seededRandom(5);
    const plans = () =>
      Promise.all(
        Array.from({ length: 400 }, () => send(url, config).set('x-portkey-dry-run', 'true')),
      );
    const shareOfB = (answers: request.Response[]) =>
      answers.filter((plan) => plan.body.target.path === 'config.targets[1]').length;

    const atClose = await plans();
    // 10% of its weight: 0.1 / 1.1 of the picks, about 36 of 400.
    expect(shareOfB(atClose)).toBeLessThan(70);
    expect(atClose[0]?.body.selections[0].slowStart).toEqual(['config.targets[1]']);
    // Real calls ramp the same way: about 18 of 200 go to b.
    const before = upstream.count('sk-b');
    for (let i = 0; i < 10; i++)
      await Promise.all(Array.from({ length: 20 }, () => send(url, config)));
    expect(upstream.count('sk-b') - before).toBeLessThan(40);
    time.advance(5000);
    // Half its weight: 0.5 / 1.5, about 133.
    const half = shareOfB(await plans());
    expect(half).toBeGreaterThan(90);
    expect(half).toBeLessThan(180);
    time.advance(5000);
    const after = await plans();
    // Full weight again: about 200.
    expect(shareOfB(after)).toBeGreaterThan(160);
    expect(after[0]?.body.selections[0].slowStart).toBeUndefined();
  });

  it('is off with slowStartMs: 0', async () => {
    const time = fakeClock();
    let random = () => 0.99;
    const url = await start({
      clock: time.clock,
      random: () => random(),
      circuitBreaker: { failureThreshold: 1, cooldownMs: 1000, slowStartMs: 0 },
    });
    const config = { strategy: { mode: 'loadbalance' }, targets: [target('a'), target('b')] };
    upstream.set('sk-b', { status: 500 });
    await send(url, config);
    upstream.set('sk-b', {});
    time.advance(1000);
    await send(url, config);
    random = seededRandom(5);
    const answers = await Promise.all(
      Array.from({ length: 400 }, () => send(url, config).set('x-portkey-dry-run', 'true')),
    );
    const onB = answers.filter((plan) => plan.body.target.path === 'config.targets[1]').length;
    expect(onB).toBeGreaterThan(160);
  });
});

describe('metrics', () => {
  it('count budget skips and sticky moves', async () => {
    const registry = new promClient.Registry();
    const metrics = prometheusMetrics(promClient, { registry });
    const time = fakeClock();
    const events = recorder();
    const url = await start({
      clock: time.clock,
      on: [metrics.listeners, events.listeners],
      circuitBreaker: { failureThreshold: 1 },
    });
    // Sticky: find a session on b, eject b, send the session again: one move.
    let session = '';
    for (let i = 0; session === ''; i++) {
      const plan = await send(url, sticky(), { session_id: `m-${i}` }).set(
        'x-portkey-dry-run',
        'true',
      );
      if (plan.body.target.path === 'config.targets[1]') session = `m-${i}`;
    }
    upstream.set('sk-b', { status: 500 });
    await send(url, sticky(), { session_id: session });
    upstream.set('sk-b', {});
    await Promise.all([1, 2, 3].map(() => send(url, sticky(), { session_id: session })));
    // Budgets: rpm 1, three requests: two skips.
    await Promise.all([1, 2, 3].map(() => send(url, target('a', { rpm: 1, weight: 1 }))));

    const text = await registry.metrics();
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(series))
          ?.split(' ')
          .pop(),
      );
    expect(value('llm_lb_sticky_moves_total{node="config"}')).toBe(events.of('sticky-move').length);
    expect(events.of('sticky-move').length).toBeGreaterThanOrEqual(1);
    expect(
      value(
        'llm_lb_budget_skips_total{provider="openai",target="config",limit="rpm",scope="target"}',
      ),
    ).toBe(2);
  });
});
