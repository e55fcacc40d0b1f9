import OpenAI from 'openai';
import { Portkey } from 'portkey-ai';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  azureDeployment,
  createApp,
  keys,
  listen,
  type RunningServer,
  simulatorOptions,
  useProviders,
} from '../helpers/app.js';
import { sequenceRandom } from '../helpers/random.js';

const providers = useProviders();

const nestedConfig = {
  strategy: { mode: 'loadbalance' },
  targets: [
    {
      provider: 'anthropic',
      api_key: keys.anthropic,
      weight: 0.7,
      override_params: { model: 'claude-3-5-sonnet-latest' },
    },
    {
      strategy: { mode: 'loadbalance' },
      weight: 0.3,
      override_params: { temperature: 0.2 },
      targets: [
        { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o-mini' } },
        {
          provider: 'azure-openai',
          api_key: keys.azure,
          resource_name: azureDeployment.resourceName,
          deployment_id: azureDeployment.deploymentId,
          api_version: azureDeployment.apiVersion,
        },
      ],
    },
  ],
};

const chat = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hi' }] };

describe('POST /v1/chat/completions with x-portkey-config', () => {
  it('routes a nested config and names the target by its JSON path', async () => {
    // 0.8 * 1.0 = 0.8 >= 0.7 -> second branch; then 0.75 * 2 = 1.5 -> azure.
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(simulatorOptions(providers, { random: sequenceRandom(0.8, 0.75) })),
    );
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(nestedConfig))
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('azure-openai');
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1].targets[1]');
    // Parent override_params reach the child; the header never travels upstream.
    const sent = providers.azure.requests[0];
    expect(sent?.body).toEqual({ ...chat, temperature: 0.2 });
    expect(sent?.headers['x-portkey-config']).toBeUndefined();
  });

  it('merges override_params child-first down the tree', async () => {
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(simulatorOptions(providers, { random: sequenceRandom(0.8, 0.1) })),
    );
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(nestedConfig))
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1].targets[0]');
    expect(providers.openai.requests[0]?.body).toEqual({
      ...chat,
      model: 'gpt-4o-mini',
      temperature: 0.2,
    });
  });

  it('lets a target without provider inherit provider and key from its parent', async () => {
    const config = {
      provider: 'openai',
      api_key: keys.openai,
      strategy: { mode: 'loadbalance' },
      targets: [
        { override_params: { model: 'gpt-4o' } },
        { override_params: { model: 'gpt-4o-mini' }, weight: 0 },
      ],
    };
    const app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.headers.authorization).toBe(`Bearer ${keys.openai}`);
    expect(providers.openai.requests[0]?.body?.model).toBe('gpt-4o');
  });

  it('never hands a parent key to a child naming another provider', async () => {
    const config = {
      provider: 'openai',
      api_key: keys.openai,
      strategy: { mode: 'single' },
      targets: [{ provider: 'anthropic', override_params: { model: 'claude-3-5-haiku-latest' } }],
    };
    const app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);
    expect(res.status).toBe(401);
    const sent = providers.anthropic.requests[0];
    expect(sent?.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(sent?.headers)).not.toContain(keys.openai);
  });

  it('accepts a single-target config', async () => {
    const app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config');
  });

  it('sends text completions to /completions', async () => {
    const app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .send({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('text_completion');
    expect(providers.openai.requests[0]?.url).toBe('/v1/completions');
  });

  it('uses the server default config when the request has none', async () => {
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, {
          config: {
            provider: 'anthropic',
            api_key: keys.anthropic,
            override_params: { model: 'claude-3-5-haiku-latest' },
          },
        }),
      ),
    );
    const res = await request(app).post('/llm/v1/chat/completions').send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(res.body.model).toBe('claude-3-5-haiku-latest');
  });
});

describe('the official openai SDK as a client', () => {
  let server: RunningServer;

  beforeAll(async () => {
    const app = createApp(
      '/internal/llm',
      portkeyLoadBalancer(simulatorOptions(providers, { random: sequenceRandom(0.1) })),
    );
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
  });

  function client(config: unknown) {
    return new OpenAI({
      apiKey: 'host-app-token',
      baseURL: `${server.url}/internal/llm/v1`,
      defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
      maxRetries: 0,
    });
  }

  it('gets a chat completion from Anthropic through the OpenAI route', async () => {
    const openai = client({ provider: 'anthropic', api_key: keys.anthropic });
    const completion = await openai.chat.completions.create({
      model: 'claude-3-5-sonnet-latest',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hi' },
      ],
      stop: 'END',
      temperature: 1.5,
    });
    expect(completion.choices[0]?.message.content).toBe(
      'Hello from anthropic (claude-3-5-sonnet-latest)',
    );
    expect(completion.usage?.total_tokens).toBe(23);
    const sent = providers.anthropic.requests[0];
    expect(sent?.body).toMatchObject({
      system: [{ type: 'text', text: 'Be brief.' }],
      stop_sequences: ['END'],
      temperature: 1,
      max_tokens: 4096,
    });
    // The SDK's own bearer token is the host app's credential: never forwarded.
    expect(sent?.headers.authorization).toBeUndefined();
    expect(JSON.stringify(sent?.headers)).not.toContain('host-app-token');
  });

  it('gets a chat completion from OpenAI and a typed error from a failing provider', async () => {
    const openai = client({ provider: 'openai', api_key: keys.openai });
    const completion = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(completion.model).toBe('gpt-4o-mini');

    const wrongKey = client({ provider: 'anthropic', api_key: 'sk-ant-wrong-key-00000000' });
    const error = await wrongKey.chat.completions
      .create({ model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
    expect((error as InstanceType<typeof OpenAI.APIError>).type).toBe('authentication_error');
  });

  it('gets a typed 400 for an invalid config', async () => {
    const openai = client({ provider: 'openia', api_key: keys.openai });
    const error = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('ERR_CONFIG_INVALID');
    expect((error as InstanceType<typeof OpenAI.APIError>).param).toBe('config.provider');
    expect(providers.requestCount()).toBe(0);
  });
});

describe('the portkey-ai SDK as a client, with only baseURL changed', () => {
  let server: RunningServer;

  beforeAll(async () => {
    const app = createApp(
      '/internal/llm',
      portkeyLoadBalancer(simulatorOptions(providers, { random: sequenceRandom(0.9) })),
    );
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
  });

  it('sends its config in x-portkey-config and gets the chosen provider answer', async () => {
    const portkey = new Portkey({
      apiKey: 'portkey-account-key',
      baseURL: `${server.url}/internal/llm/v1`,
      config: {
        strategy: { mode: 'loadbalance' },
        targets: [
          { provider: 'openai', api_key: keys.openai, weight: 0.5 },
          {
            provider: 'anthropic',
            api_key: keys.anthropic,
            weight: 0.5,
            override_params: { model: 'claude-3-5-haiku-latest' },
          },
        ],
      },
    });
    const completion = await portkey.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hi' }],
      max_tokens: 20,
    });
    expect(completion.choices[0]?.message?.content).toBe(
      'Hello from anthropic (claude-3-5-haiku-latest)',
    );
    const sent = providers.anthropic.requests[0];
    expect(sent?.headers['x-api-key']).toBe(keys.anthropic);
    expect(Object.keys(sent?.headers ?? {}).filter((name) => name.startsWith('x-portkey'))).toEqual(
      [],
    );
    expect(JSON.stringify(sent?.headers)).not.toContain('portkey-account-key');
  });
});
