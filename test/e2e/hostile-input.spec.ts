import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configLimits } from '../../lib/config/limits.js';
import { type LoadBalancerOptions, portkeyLoadBalancer } from '../../lib/index.js';
import {
  createApp,
  keys,
  type Providers,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';

/**
 * Input built to cost the server: huge or deep configs and params, header values that would
 * break the upstream request, empty bodies. Each is refused with a small 400 (or 403) naming
 * the field, and no provider is contacted.
 */

let providers: Providers;
beforeAll(async () => {
  providers = await startProviders();
});
afterAll(async () => {
  await providers.close();
});
beforeEach(() => providers.reset());

function app(extra: LoadBalancerOptions = {}) {
  return createApp(
    '/llm',
    portkeyLoadBalancer(simulatorOptions(providers, { circuitBreaker: false, ...extra })),
  );
}

const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

function refused(res: request.Response, status: number, code: string, param?: string) {
  expect(res.status, res.text.slice(0, 500)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (param !== undefined) {
    expect(res.body.error.param).toBe(param);
    expect(res.body.error.message).toContain(param);
  }
  expect(providers.requestCount()).toBe(0);
}

/** `count` targets, each with an unknown field: every one is a schema error. */
function invalidTargets(count: number) {
  return {
    strategy: { mode: 'loadbalance' },
    targets: Array.from({ length: count }, (_, index) => ({ provider: 'openai', bogus: index })),
  };
}

/** JSON with every character outside printable ASCII escaped, so it can travel in a header. */
function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `depth` nested arrays around `leaf`, as JSON text: building the value would overflow. */
function nested(depth: number, leaf = '1'): string {
  return `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
}

describe('validation cost is bounded by the input (finding 1)', () => {
  it('refuses 20,000 invalid targets with one small error, before the schema walks them', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .send({ config: invalidTargets(20_000), params: chat });
    refused(res, 400, 'ERR_CONFIG_INVALID', 'config.targets');
    // One problem: the schema (which would report all 20,000) never ran.
    expect(res.body.error.message).toBe(
      `Invalid config: config.targets has 20000 entries; at most ${configLimits.maxTargets} are allowed`,
    );
  });

  it('lists at most 10 problems and counts the rest', async () => {
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: Array.from({ length: 30 }, (_, index) => ({
        provider: 'openai',
        [`bad${index}`]: 1,
      })),
    };
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);
    refused(res, 400, 'ERR_CONFIG_INVALID');
    const listed = res.body.error.message.match(/is not a known field/g) ?? [];
    expect(listed).toHaveLength(configLimits.maxReportedProblems);
    expect(res.body.error.message).toContain('and 20 more problems');
    expect(res.text.length).toBeLessThan(4096);
  });

  it("refuses an inline config under 'deny' before validating it (403, not a schema 400)", async () => {
    const denying = app({ requestConfig: 'deny', config: { provider: 'openai', api_key: 'k' } });
    const body = await request(denying)
      .post('/llm/v1/chatComplete')
      .send({ config: invalidTargets(20_000), params: chat });
    refused(body, 403, 'ERR_CONFIG_FORBIDDEN', 'config');
    const header = await request(denying)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', '{ "this is": not even JSON')
      .send(chat);
    refused(header, 403, 'ERR_CONFIG_FORBIDDEN', 'config');
  });
});

describe('config values that become upstream headers (finding 2)', () => {
  const bad = [
    'sk-a\r\nx-injected: 1',
    'sk-a\nb',
    'sk-\u0000',
    'sk-\u0100',
    'sk-\u{1f600}',
    '\u007f',
  ];
  for (const value of bad) {
    it(`refuses api_key ${JSON.stringify(value)} with a 400 naming the field`, async () => {
      const config = {
        strategy: { mode: 'fallback' },
        targets: [{ provider: 'openai', api_key: value }],
      };
      const res = await request(app())
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', headerJson(config))
        .send(chat);
      refused(res, 400, 'ERR_CONFIG_INVALID', 'config.targets[0].api_key');
      expect(res.text).not.toContain(value);
    });
  }

  it('refuses OpenAI organization and project values, in either format', async () => {
    const header = await request(app())
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        headerJson({ provider: 'openai', api_key: keys.openai, openai_project: 'p\r\nx: y' }),
      )
      .send(chat);
    refused(header, 400, 'ERR_CONFIG_INVALID', 'config.openai_project');
    const body = await request(app())
      .post('/llm/v1/chatComplete')
      .send({
        config: {
          mode: 'single',
          options: [{ provider: 'openai', apiKey: keys.openai, openaiOrganization: 'o\u0000' }],
        },
        params: chat,
      });
    refused(body, 400, 'ERR_CONFIG_INVALID', 'config.options[0].openaiOrganization');
  });

  it('accepts tab and Latin-1 characters, which Node sends', async () => {
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        headerJson({ provider: 'openai', api_key: keys.openai, openai_project: 'caf\u00e9\tx' }),
      )
      .send(chat);
    expect(res.status).toBe(200);
    // Node sends it as Latin-1 and the simulator decodes it its own way: presence is the point.
    expect(providers.openai.requests[0]?.headers['openai-project']).toMatch(/^caf.+\tx$/);
  });
});

describe('pathologically deep or wide input (finding 7)', () => {
  it('refuses 100,000-deep params in the body', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/json')
      .send(
        `{"config":{"provider":"openai","api_key":"k"},"params":{"model":"m","x":${nested(100_000)}}}`,
      );
    refused(res, 400, 'ERR_PARAMS_INVALID');
    expect(res.body.error.param).toMatch(/^params\.x\[0\]\[0\]/);
  });

  it('refuses 100,000-deep arrays in an OpenAI-format body', async () => {
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .set('content-type', 'application/json')
      .send(`{"model":"m","messages":${nested(100_000)}}`);
    refused(res, 400, 'ERR_PARAMS_INVALID');
    expect(res.body.error.param).toMatch(/^body\.messages\[0\]/);
  });

  it('refuses a 100,000-deep config.mode', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/json')
      .send(`{"config":{"mode":${nested(100_000, '"single"')},"options":[]},"params":{}}`);
    refused(res, 400, 'ERR_CONFIG_INVALID');
    expect(res.body.error.param).toMatch(/^config\.mode\[0\]/);
  });

  it('refuses a 7,000-deep override_params in the header', async () => {
    const config = `{"provider":"openai","api_key":"${keys.openai}","override_params":{"x":${nested(7000)}}}`;
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', config)
      .send(chat);
    refused(res, 400, 'ERR_CONFIG_INVALID');
    expect(res.body.error.param).toMatch(/^config\.override_params\.x\[0\]/);
  });

  it('accepts params nested as deep as the limit allows', async () => {
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .set('content-type', 'application/json')
      .send(
        `{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"x":${nested(configLimits.maxNesting - 2)}}}`,
      );
    expect(res.status, res.text).toBe(200);
  });

  it('refuses 300,000 content parts in one message for Anthropic', async () => {
    const parts = Array.from({ length: 300_000 }, () => ({ type: 'text', text: 'a' }));
    const res = await request(app({ bodyLimit: '20mb' }))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'anthropic', api_key: keys.anthropic }))
      .send({ model: 'claude', messages: [{ role: 'user', content: parts }] });
    refused(res, 400, 'ERR_PARAMS_INVALID', 'body.messages[0].content');
  });
});

describe('empty and null bodies (finding 10)', () => {
  const header = JSON.stringify({ provider: 'openai', api_key: keys.openai });
  for (const [name, body] of [
    ['an empty body', ''],
    ['a null body', 'null'],
  ] as const) {
    it(`refuses ${name} with 400 ERR_BODY_INVALID on every route`, async () => {
      for (const path of [
        '/llm/v1/chat/completions',
        '/llm/v1/embeddings',
        '/llm/v1/chatComplete',
      ]) {
        const res = await request(app())
          .post(path)
          .set('x-portkey-config', header)
          .set('content-type', 'application/json')
          .send(body);
        refused(res, 400, 'ERR_BODY_INVALID', 'body');
      }
    });
  }
});
