import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoadBalancerOptions } from '../../lib/index.js';
import type { RunningServer } from '../helpers/app.js';
import { chat } from '../helpers/fixtures.js';
import { until } from '../helpers/gated-upstream.js';
import { type KeyedUpstream, startKeyedUpstream } from '../helpers/keyed-upstream.js';
import {
  cleanUpAfterAll,
  type RedisClient,
  redis,
  sendCommandOf,
  uniquePrefix,
} from '../helpers/redis.js';
import { startReplicas } from '../helpers/replicas.js';

/** Routing state shared by two replicas through a real Redis: sessions, budgets, busy counts. */

const prefixes: string[] = [];
cleanUpAfterAll(() => prefixes);

const target = (name: string, extra: object = {}) => ({
  name,
  provider: 'openai',
  api_key: `sk-${name}`,
  ...extra,
});

function send(url: string, config: unknown, metadata?: object) {
  const call = request(url)
    .post('/llm/v1/chat/completions')
    .set('x-portkey-config', JSON.stringify(config));
  if (metadata !== undefined) call.set('x-portkey-metadata', JSON.stringify(metadata));
  return call.send(chat);
}

const answeredBy = (answer: request.Response): string | undefined =>
  answer.body.choices?.[0]?.message?.content;

describe.skipIf(redis === undefined)('routing across two replicas sharing Redis', () => {
  const client = redis as RedisClient;
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

  function replicas(extra: LoadBalancerOptions = {}) {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const sendCommand = sendCommandOf(client);
    return startReplicas({ upstreamUrl: upstream.url, prefix, sendCommand, servers }, extra);
  }

  it('gives a session the same target on both, and both follow a move held in Redis', async () => {
    const { time, a, b } = await replicas({
      circuitBreaker: { failureThreshold: 1, cooldownMs: 5000 },
    });
    const config = {
      strategy: { mode: 'loadbalance', sticky: { hash_fields: ['metadata.session_id'], ttl: 600 } },
      targets: [target('x'), target('y'), target('z')],
    };
    const sessions = Array.from({ length: 10 }, (_, i) => `session-${i}`);
    const answers = await Promise.all(
      sessions.flatMap((session) =>
        [a, b, a, b].map((url) =>
          send(url, config, { session_id: session }).then((answer) => ({
            session,
            by: answeredBy(answer),
          })),
        ),
      ),
    );
    const home = new Map<string, string>();
    for (const { session, by } of answers) {
      expect(by).toBeDefined();
      if (!home.has(session)) home.set(session, by as string);
      expect(by).toBe(home.get(session));
    }

    // Eject the first session's target (shared breaker), move the session on replica a...
    const session = sessions[0] as string;
    const own = home.get(session) as string;
    upstream.set(`sk-${own}`, { status: 500 });
    expect((await send(a, config, { session_id: session })).status).toBe(500);
    upstream.set(`sk-${own}`, {});
    const moved = answeredBy(await send(a, config, { session_id: session }));
    expect(moved).not.toBe(own);
    // ...and once its own target is back, replica b still follows the move held in Redis.
    time.advance(5001);
    const onB = await Promise.all([1, 2, 3].map(() => send(b, config, { session_id: session })));
    expect(onB.map(answeredBy)).toEqual([moved, moved, moved]);
  });

  it('an rpm budget of 5 admits exactly 5 requests per window across both replicas', async () => {
    const { time, a, b } = await replicas();
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [target('limited', { rpm: 5 })],
    };
    const answers = await Promise.all(
      Array.from({ length: 14 }, (_, i) => send(i % 2 === 0 ? a : b, config)),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(5);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(9);
    expect(upstream.count('sk-limited')).toBe(5);
    time.advance(60_000);
    const next = await Promise.all([send(a, config), send(b, config)]);
    expect(next.map((answer) => answer.status)).toEqual([200, 200]);
  });

  it('least-busy on one replica sees the requests the other holds in flight', async () => {
    const { a, b } = await replicas({ random: () => 0 });
    upstream.set('sk-slow', { hold: true });
    const only = (...targets: object[]) => ({
      strategy: { mode: 'loadbalance', algorithm: 'least-busy' },
      targets,
    });
    // Replica a keeps 12 requests in flight on the slow target (counted: least-busy routes them).
    // supertest sends on then(): start them now.
    const held = Array.from({ length: 12 }, () =>
      send(a, only(target('slow'))).then((answer) => answer),
    );
    await until(() => upstream.waiting('sk-slow') === 12);
    const config = only(target('slow'), target('fast'));
    // random 0 samples the slow target first: only the shared count sends b elsewhere.
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(b, config)));
    expect(answers.map(answeredBy)).toEqual(Array(8).fill('fast'));
    expect(upstream.count('sk-slow')).toBe(12);
    upstream.release('sk-slow');
    await Promise.all(held);
  });
});
