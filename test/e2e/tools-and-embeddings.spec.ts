import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  azureDeployment,
  createApp,
  keys,
  listen,
  type Providers,
  type RunningServer,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';

let providers: Providers;
let server: RunningServer;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  providers = await startProviders();
  app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
  server = await listen(app);
});
afterAll(async () => {
  await server.close();
  await providers.close();
});
beforeEach(() => providers.reset());

const azureTarget = {
  provider: 'azure-openai',
  api_key: keys.azure,
  resource_name: azureDeployment.resourceName,
  deployment_id: azureDeployment.deploymentId,
  api_version: azureDeployment.apiVersion,
};

describe('a tool-calling conversation through Anthropic with the openai SDK', () => {
  it('round-trips tool calls and results, validated strictly by the simulator', async () => {
    const client = new OpenAI({
      apiKey: 'host-token',
      baseURL: `${server.url}/llm/v1`,
      defaultHeaders: {
        'x-portkey-config': JSON.stringify({ provider: 'anthropic', api_key: keys.anthropic }),
      },
      maxRetries: 0,
    });
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
          },
        },
      },
    ];
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a weather bot.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is the weather where this photo was taken?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
    ];
    const first = await client.chat.completions.create({
      model: 'claude-3-5-sonnet-latest',
      messages,
      tools,
      tool_choice: 'auto',
    });
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });

    messages.push(choice?.message as OpenAI.ChatCompletionMessageParam, {
      role: 'tool',
      tool_call_id: call.id,
      content: '18C and sunny',
    });
    const second = await client.chat.completions.create({
      model: 'claude-3-5-sonnet-latest',
      messages,
      tools,
    });
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content).toContain('Hello from anthropic');

    const sent = providers.anthropic.requests[1]?.body;
    expect(sent?.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is the weather where this photo was taken?' },
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
          },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: call.id, name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: call.id, content: '18C and sunny' }],
      },
    ]);
    expect(sent?.system).toEqual([{ type: 'text', text: 'You are a weather bot.' }]);
    expect(sent?.tool_choice).toBeUndefined();
  });

  it('answers a bad tool_calls argument string with ERR_PARAMS_INVALID before sending', async () => {
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'anthropic', api_key: keys.anthropic }))
      .send({
        model: 'claude',
        messages: [
          { role: 'user', content: 'hi' },
          {
            role: 'assistant',
            tool_calls: [
              { id: 'c1', type: 'function', function: { name: 'f', arguments: '{oops' } },
            ],
          },
        ],
      });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'ERR_PARAMS_INVALID',
      param: 'params.messages[1].tool_calls[0].function.arguments',
    });
    expect(providers.requestCount()).toBe(0);
  });
});

describe('embeddings', () => {
  const input = { model: 'text-embedding-3-small', input: ['a', 'b'] };

  it('sends POST /v1/embeddings to OpenAI', async () => {
    const res = await request(app)
      .post('/llm/v1/embeddings')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .send(input);
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(2);
    expect(providers.openai.requests[0]?.url).toBe('/v1/embeddings');
    expect(providers.openai.requests[0]?.body).toEqual(input);
  });

  it('sends POST /v1/embed (Format 1) to an Azure deployment', async () => {
    const res = await request(app)
      .post('/llm/v1/embed')
      .send({ config: { mode: 'single', options: [{ ...azureTarget }] }, params: input });
    expect(res.status).toBe(200);
    expect(providers.azure.requests[0]?.url).toBe(
      `/openai/deployments/${azureDeployment.deploymentId}/embeddings?api-version=${azureDeployment.apiVersion}`,
    );
  });

  it('works with the openai SDK', async () => {
    const client = new OpenAI({
      apiKey: 'host-token',
      baseURL: `${server.url}/llm/v1`,
      defaultHeaders: {
        'x-portkey-config': JSON.stringify({ provider: 'openai', api_key: keys.openai }),
      },
      maxRetries: 0,
    });
    const result = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'hello',
    });
    expect(result.data[0]?.embedding.length).toBeGreaterThan(0);
  });

  it('leaves Anthropic out of the choice for embeddings, whatever its weight', async () => {
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { provider: 'openai', api_key: keys.openai, weight: 1 },
        { provider: 'anthropic', api_key: keys.anthropic, weight: 1000 },
      ],
    };
    for (let i = 0; i < 5; i++) {
      const res = await request(app)
        .post('/llm/v1/embeddings')
        .set('x-portkey-config', JSON.stringify(config))
        .send(input);
      expect(res.status).toBe(200);
      expect(res.headers['x-portkey-provider']).toBe('openai');
      expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[0]');
    }
    expect(providers.anthropic.requests).toHaveLength(0);
  });

  it('skips Anthropic in a fallback for embeddings', async () => {
    const config = {
      strategy: { mode: 'fallback' },
      targets: [
        { provider: 'anthropic', api_key: keys.anthropic },
        { provider: 'openai', api_key: keys.openai },
      ],
    };
    const res = await request(app)
      .post('/llm/v1/embeddings')
      .set('x-portkey-config', JSON.stringify(config))
      .send(input);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1]');
    expect(providers.anthropic.requests).toHaveLength(0);
  });

  it('refuses embeddings when no target can serve them, naming each target', async () => {
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { provider: 'anthropic', api_key: keys.anthropic },
        { provider: 'anthropic', api_key: keys.anthropic, weight: 2 },
      ],
    };
    const res = await request(app)
      .post('/llm/v1/embeddings')
      .set('x-portkey-config', JSON.stringify(config))
      .send(input);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      message:
        'config.targets[0] routes to provider anthropic, which has no embeddings API; config.targets[1] routes to provider anthropic, which has no embeddings API',
      type: 'invalid_request_error',
      param: 'config.targets[0]',
      code: 'ERR_OPERATION_UNSUPPORTED',
    });
    expect(providers.requestCount()).toBe(0);
  });
});
