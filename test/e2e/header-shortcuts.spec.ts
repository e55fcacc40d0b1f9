import OpenAI from 'openai';
import { Portkey } from 'portkey-ai';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import type { LoadBalancerOptions, PortkeyConfig } from '../../lib/types.js';
import {
  createApp,
  keys,
  listen,
  type RunningServer,
  simulatorOptions,
  useProviders,
} from '../helpers/app.js';

const providers = useProviders();

const virtualKeys = {
  openai: { provider: 'openai', apiKey: keys.openai },
  anthropic: { provider: 'anthropic', apiKey: keys.anthropic },
  'team-claude': { provider: 'anthropic', apiKey: keys.anthropic },
} as const;

/** The default config the shortcuts must override: everything to OpenAI. */
const config: PortkeyConfig = {
  provider: 'openai',
  api_key: keys.openai,
  override_params: { model: 'gpt-4o' },
};

function appWith(extra: LoadBalancerOptions = {}) {
  return createApp(
    '/llm',
    portkeyLoadBalancer(simulatorOptions(providers, { virtualKeys, config, ...extra })),
  );
}

const chat = { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] };

describe('x-portkey-virtual-key', () => {
  it('routes to that server-held key instead of the default config', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-virtual-key', 'team-claude')
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(providers.anthropic.requests[0]?.headers['x-api-key']).toBe(keys.anthropic);
    expect(providers.openai.requests).toHaveLength(0);
  });

  it('is allowed under virtual-keys-only and refused under deny', async () => {
    const allowed = await request(appWith({ requestConfig: 'virtual-keys-only' }))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-virtual-key', 'anthropic')
      .send(chat);
    expect(allowed.status).toBe(200);
    const denied = await request(appWith({ requestConfig: 'deny' }))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-virtual-key', 'anthropic')
      .send(chat);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('ERR_CONFIG_FORBIDDEN');
    expect(providers.anthropic.requests).toHaveLength(1);
  });

  it('names an unknown key, with a suggestion', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-virtual-key', 'team-claud')
      .send(chat);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      param: 'x-portkey-virtual-key',
    });
    expect(res.body.error.message).toContain('did you mean "team-claude"');
    expect(providers.requestCount()).toBe(0);
  });

  it('cannot be combined with x-portkey-config', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-virtual-key', 'anthropic')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_CONFIG_INVALID', param: 'x-portkey-config' });
  });

  it("works from the portkey-ai SDK's virtualKey option", async () => {
    const server: RunningServer = await listen(appWith());
    try {
      const portkey = new Portkey({
        apiKey: 'portkey-account-key',
        baseURL: `${server.url}/llm/v1`,
        virtualKey: 'team-claude',
      });
      const completion = await portkey.chat.completions.create({
        model: 'claude-3-5-haiku-latest',
        messages: [{ role: 'user', content: 'Say hi' }],
        max_tokens: 20,
      });
      expect(completion.choices[0]?.message?.content).toBe(
        'Hello from anthropic (claude-3-5-haiku-latest)',
      );
      expect(providers.openai.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});

describe('x-portkey-provider', () => {
  it('selects the provider through the server-held key of that name', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-provider', 'anthropic')
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(providers.openai.requests).toHaveLength(0);
  });

  it('is a clear 400 when the server holds no key of that name', async () => {
    const res = await request(
      createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, { config }))),
    )
      .post('/llm/v1/chat/completions')
      .set('x-portkey-provider', 'anthropic')
      .send(chat);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('x-portkey-provider');
    expect(res.body.error.message).toContain('no virtual key named "anthropic"');
    expect(providers.requestCount()).toBe(0);
  });

  it('refuses an unknown provider and a key of another provider', async () => {
    const unknown = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-provider', 'antropic')
      .send(chat);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('did you mean "anthropic"');
    const mismatch = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-provider', 'openai')
      .set('x-portkey-virtual-key', 'team-claude')
      .send(chat);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.message).toContain('which is for provider anthropic');
    expect(providers.requestCount()).toBe(0);
  });

  it('matches a virtual key of the same provider sent beside it', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-provider', 'anthropic')
      .set('x-portkey-virtual-key', 'team-claude')
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });
});

describe('other x-portkey-* headers', () => {
  it('refuses one that would silently do nothing, before any provider is called', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-cache-force-refresh', 'true')
      .send(chat);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'ERR_HEADER_UNSUPPORTED',
      param: 'x-portkey-cache-force-refresh',
    });
    expect(providers.requestCount()).toBe(0);
  });

  it('suggests the supported header a misspelt one meant', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-virtualkey', 'anthropic')
      .send(chat);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('did you mean "x-portkey-virtual-key"');
  });

  it('keeps the supported ones working', async () => {
    const res = await request(appWith())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-trace-id', 'trace-1')
      .set('x-portkey-metadata', JSON.stringify({ team: 'a' }))
      .set('x-portkey-api-key', 'portkey-account-key')
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-trace-id']).toBe('trace-1');
  });
});

describe('GET /v1/models', () => {
  const listConfig: PortkeyConfig = {
    strategy: { mode: 'loadbalance' },
    targets: [
      { virtual_key: 'openai', override_params: { model: 'gpt-4o-mini' } },
      { virtual_key: 'anthropic', override_params: { model: 'claude-3-5-haiku-latest' } },
      { virtual_key: 'openai', override_params: { model: 'gpt-4o-mini' } },
      { virtual_key: 'openai' },
    ],
  };
  let server: RunningServer;
  beforeAll(async () => {
    server = await listen(appWith({ config: listConfig }));
  });
  afterAll(() => server.close());

  it("lists the config's models for the openai SDK's models.list()", async () => {
    const client = new OpenAI({ apiKey: 'host', baseURL: `${server.url}/llm/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(['gpt-4o-mini', 'claude-3-5-haiku-latest']);
    const res = await request(server.server).get('/llm/v1/models');
    expect(res.body).toEqual({
      object: 'list',
      data: [
        { id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'openai' },
        { id: 'claude-3-5-haiku-latest', object: 'model', created: 0, owned_by: 'anthropic' },
      ],
    });
    expect(providers.requestCount()).toBe(0);
  });

  it("lists the request config's models, and follows the shortcuts", async () => {
    const res = await request(server.server)
      .get('/llm/v1/models')
      .set('x-portkey-config', JSON.stringify({ ...config, override_params: { model: 'o3' } }));
    expect(res.body.data.map((model: { id: string }) => model.id)).toEqual(['o3']);
    const none = await request(server.server)
      .get('/llm/v1/models')
      .set('x-portkey-virtual-key', 'anthropic');
    expect(none.body).toEqual({ object: 'list', data: [] });
  });

  it('answers errors in the OpenAI shape, and leaves other methods to the host', async () => {
    const res = await request(server.server).get('/llm/v1/models').set('x-portkey-config', '{');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_CONFIG_INVALID_JSON');
    const post = await request(server.server).post('/llm/v1/models').send({});
    expect(post.status).toBe(404);
    expect(post.body).toEqual({ host: 'not found' });
  });
});
