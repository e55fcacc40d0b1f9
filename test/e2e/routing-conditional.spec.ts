import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LoadBalancerOptions, portkeyLoadBalancer } from '../../lib/index.js';
import { createApp, listen, type RunningServer } from '../helpers/app.js';
import { recorder } from '../helpers/event-recorder.js';
import { chat } from '../helpers/fixtures.js';
import { type KeyedUpstream, startKeyedUpstream } from '../helpers/keyed-upstream.js';

/** Request metadata (`x-portkey-metadata`, `getMetadata`) and conditional routing, end to end. */

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
      portkeyLoadBalancer({ providers: { openai: { baseURL: upstream.url } }, ...options }),
    ),
  );
  servers.push(server);
  return server.url;
}

const target = (name: string) => ({ name, provider: 'openai', api_key: `sk-${name}` });

/** Routes by tier, by model, by path; `fast` by default. */
const conditional = {
  strategy: {
    mode: 'conditional',
    conditions: [
      { query: { 'metadata.tier': { $eq: 'pro' } }, then: 'pro' },
      {
        query: {
          $or: [
            { 'params.model': { $in: ['gpt-4o', 'o1'] } },
            { $and: [{ 'metadata.score': { $gte: '10' } }, { 'metadata.score': { $lt: 20 } }] },
          ],
        },
        then: 'big',
      },
      {
        query: { 'metadata.region': { $regex: '^eu-' }, 'metadata.tier': { $ne: 'free' } },
        then: 'eu',
      },
      { query: { 'url.pathname': '/v1/completions' }, then: 'big' },
    ],
    default: 'fast',
  },
  targets: [target('pro'), target('big'), target('eu'), target('fast')],
};

function send(url: string, config: unknown, metadata?: unknown, body: object = chat) {
  const call = request(url)
    .post('/llm/v1/chat/completions')
    .set('x-portkey-config', JSON.stringify(config));
  if (metadata !== undefined) {
    call.set(
      'x-portkey-metadata',
      typeof metadata === 'string' ? metadata : JSON.stringify(metadata),
    );
  }
  return call.send(body);
}

describe('x-portkey-metadata', () => {
  it('refuses a header that is not a JSON object of strings within bounds, naming the header', async () => {
    const url = await start();
    const bad = [
      'not json',
      '[1]',
      '{"n": 1}',
      JSON.stringify({ big: 'x'.repeat(2000) }),
      JSON.stringify(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))),
    ];
    const answers = await Promise.all(bad.map((value) => send(url, target('fast'), value)));
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({
        code: 'ERR_METADATA_INVALID',
        param: 'x-portkey-metadata',
      });
    }
    expect(upstream.count('sk-fast')).toBe(0);
  });

  it('is never forwarded upstream, and reaches events and the dry run', async () => {
    const events = recorder();
    const url = await start({ on: events.listeners, allowDryRun: true });
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => send(url, target('fast'), { session_id: `s${i}` })),
    );
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(upstream.headers).toHaveLength(6);
    for (const headers of upstream.headers) expect(headers['x-portkey-metadata']).toBeUndefined();
    const sessions = events.of('response').map((event) => event.metadata?.session_id);
    expect(sessions.sort()).toEqual(['s0', 's1', 's2', 's3', 's4', 's5']);

    const plan = await send(url, target('fast'), { user: 'u1' }).set('x-portkey-dry-run', 'true');
    expect(plan.body.metadata).toEqual({ user: 'u1' });
  });

  it('merges getMetadata over the header (host keys win), and acceptMetadataHeader: false ignores the header', async () => {
    const events = recorder();
    const merged = await start({
      on: events.listeners,
      getMetadata: async (req) => ({ tier: String(req.headers['x-host-tier'] ?? 'free') }),
    });
    await send(merged, target('fast'), { tier: 'pro', session_id: 'a' }).set('x-host-tier', 'team');
    expect(events.of('response')[0]?.metadata).toEqual({ tier: 'team', session_id: 'a' });

    const strict = await start({
      acceptMetadataHeader: false,
      getMetadata: () => ({ tier: 'free' }),
      allowDryRun: true,
    });
    // The caller claims pro; the host says free, and only the host is heard.
    const answer = await send(strict, conditional, { tier: 'pro' });
    expect(answer.status).toBe(200);
    expect(upstream.count('sk-pro')).toBe(0);
    const plan = await send(strict, target('fast'), 'not even json').set(
      'x-portkey-dry-run',
      'true',
    );
    expect(plan.status).toBe(200);
    expect(plan.body.metadata).toEqual({ tier: 'free' });
  });

  it('a getMetadata that returns something other than strings is a 500 of the host, not a silent miss', async () => {
    const url = await start({ getMetadata: () => ({ n: 1 }) as unknown as Record<string, string> });
    const answer = await send(url, target('fast'));
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('ERR_OPTIONS_INVALID');
  });
});

describe('conditional routing', () => {
  it('routes a concurrent burst by metadata, params and path; nesting, $regex and default included', async () => {
    const events = recorder();
    const url = await start({ on: events.listeners });
    const cases: { metadata?: object; body?: object; path?: string; expected: string }[] = [
      { metadata: { tier: 'pro' }, expected: 'pro' },
      { body: { ...chat, model: 'o1' }, expected: 'big' },
      { metadata: { score: '12' }, expected: 'big' },
      { metadata: { score: '20' }, expected: 'fast' },
      { metadata: { region: 'eu-west', tier: 'team' }, expected: 'eu' },
      { metadata: { region: 'eu-west', tier: 'free' }, expected: 'fast' },
      { metadata: { region: 'us-east' }, expected: 'fast' },
      { expected: 'fast' },
    ];
    const answers = await Promise.all(
      cases.flatMap((test) =>
        Array.from({ length: 3 }, () =>
          send(url, conditional, test.metadata, test.body ?? chat).then((answer) => ({
            answer,
            expected: test.expected,
          })),
        ),
      ),
    );
    for (const { answer, expected } of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.choices[0].message.content).toBe(expected);
    }
    const rules = events.of('select').map((event) => event.rule);
    expect(rules.filter((rule) => rule === 'condition')).toHaveLength(12);
    expect(rules.filter((rule) => rule === 'default')).toHaveLength(12);
    const pro = events.of('select').find((event) => event.picked === 'config.targets[0]');
    expect(pro).toMatchObject({ rule: 'condition', condition: 0 });
  });

  it('reads url.pathname on the path the middleware serves', async () => {
    const url = await start();
    const answer = await request(url)
      .post('/llm/v1/completions')
      .set('x-portkey-config', JSON.stringify(conditional))
      .send({ model: 'x', prompt: 'hi' });
    // The upstream only serves chat: what matters is which key was sent.
    expect(upstream.count('sk-big')).toBe(1);
    expect(answer.status).not.toBe(400);
  });

  it('answers 400 when no condition matches and there is no default', async () => {
    const url = await start();
    const config = { ...conditional, strategy: { ...conditional.strategy, default: undefined } };
    const answer = await send(url, config, { region: 'us' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'ERR_NO_MATCHING_CONDITION',
      param: 'config.strategy.conditions',
    });
  });

  it('refuses invalid configs with a 400 naming the path', async () => {
    const url = await start();
    const invalid: [unknown, string][] = [
      [
        { ...conditional, strategy: { ...conditional.strategy, default: 'nobody' } },
        'config.strategy.default',
      ],
      [
        {
          strategy: { mode: 'conditional', conditions: [{ query: {}, then: 'pr0' }] },
          targets: [target('pro')],
        },
        'config.strategy.conditions[0].then',
      ],
      [
        {
          strategy: {
            mode: 'conditional',
            conditions: [{ query: { 'metadata.a': { $gte: 'x' } }, then: 'pro' }],
          },
          targets: [target('pro')],
        },
        'config.strategy.conditions[0].query["metadata.a"].$gte',
      ],
      [
        {
          strategy: {
            mode: 'conditional',
            conditions: [{ query: { 'metadata.a': { $regex: '(?=a)a' } }, then: 'pro' }],
          },
          targets: [target('pro')],
        },
        'config.strategy.conditions[0].query["metadata.a"].$regex',
      ],
      [
        { strategy: { mode: 'conditional' }, targets: [target('pro')] },
        'config.strategy.conditions',
      ],
      [
        {
          strategy: { mode: 'conditional', conditions: [{ query: {}, then: 'pro' }] },
          targets: [target('pro'), target('pro')],
        },
        'config.targets[1].name',
      ],
      [
        { strategy: { mode: 'fallback', default: 'pro' }, targets: [target('pro')] },
        'config.strategy.mode',
      ],
    ];
    for (const [config, param] of invalid) {
      const answer = await send(url, config);
      expect(answer.status, param).toBe(400);
      expect(answer.body.error.code, param).toBe('ERR_CONFIG_INVALID');
      expect(answer.body.error.param).toBe(param);
    }
    expect(upstream.count('sk-pro')).toBe(0);
  });

  it('a catastrophic $regex from a request config cannot stall the event loop', async () => {
    const url = await start();
    // ^(a+)+$ on "aaaa...a!" takes exponential time on a backtracking engine (RegExp): with
    // 30,000 characters it would never end. RE2 runs it in linear time.
    const config = {
      strategy: {
        mode: 'conditional',
        conditions: [{ query: { 'params.user': { $regex: '^(a+)+$' } }, then: 'pro' }],
        default: 'fast',
      },
      targets: [target('pro'), target('fast')],
    };
    const evil = `${'a'.repeat(30_000)}!`;
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        send(url, config, undefined, { ...chat, user: i % 2 === 0 ? evil : 'aaaa' }),
      ),
    );
    const contents = answers.map((answer) => answer.body.choices?.[0]?.message.content);
    expect(contents).toEqual(['fast', 'pro', 'fast', 'pro', 'fast', 'pro', 'fast', 'pro']);
  });
});
