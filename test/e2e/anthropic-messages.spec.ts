import Anthropic from '@anthropic-ai/sdk';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import type { PortkeyConfig } from '../../lib/types.js';
import {
  azureDeployment,
  createApp,
  keys,
  listen,
  type RunningServer,
  simulatorOptions,
  useProviders,
} from '../helpers/app.js';
import { seededRandom } from '../helpers/random.js';

const providers = useProviders();

const anthropicConfig: PortkeyConfig = { provider: 'anthropic', api_key: keys.anthropic };
const openaiConfig: PortkeyConfig = {
  provider: 'openai',
  api_key: keys.openai,
  override_params: { model: 'gpt-4o-mini' },
};
const mixedConfig: PortkeyConfig = {
  strategy: { mode: 'loadbalance' },
  targets: [
    { provider: 'anthropic', api_key: keys.anthropic },
    { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o-mini' } },
    {
      provider: 'azure-openai',
      api_key: keys.azure,
      resource_name: azureDeployment.resourceName,
      deployment_id: azureDeployment.deploymentId,
      api_version: azureDeployment.apiVersion,
    },
  ],
};

let server: RunningServer;
beforeAll(async () => {
  const app = createApp(
    '/llm',
    portkeyLoadBalancer(
      simulatorOptions(providers, { random: seededRandom(3), allowDryRun: true }),
    ),
  );
  server = await listen(app);
});
afterAll(() => server.close());

function client(config: PortkeyConfig, headers: Record<string, string> = {}): Anthropic {
  return new Anthropic({
    apiKey: 'host-token',
    baseURL: `${server.url}/llm`,
    defaultHeaders: { 'x-portkey-config': JSON.stringify(config), ...headers },
    maxRetries: 0,
  });
}

const weatherTool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object' as const,
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
};

describe('POST /v1/messages to Anthropic targets (native)', () => {
  it('passes the request through unchanged, cache_control and thinking included', async () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 2048,
      system: [
        { type: 'text' as const, text: 'Be brief.', cache_control: { type: 'ephemeral' as const } },
      ],
      thinking: { type: 'enabled' as const, budget_tokens: 1024 },
      messages: [{ role: 'user' as const, content: 'Hi' }],
    };
    const message = await client(anthropicConfig, {
      'anthropic-beta': 'prompt-caching-2024-07-31',
      'anthropic-version': '2024-01-01',
    }).messages.create(body);
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello from anthropic (claude-sonnet-4-5)' }],
      stop_reason: 'end_turn',
      // The provider's own usage, which a round trip through chat would not keep whole.
      usage: {
        input_tokens: 12,
        output_tokens: 6,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 2,
      },
    });
    expect(message.id).toMatch(/^msg_sim_/);
    const sent = providers.anthropic.requests[0];
    expect(sent?.url).toBe('/v1/messages');
    expect(sent?.body).toEqual(body);
    expect(sent?.headers['x-api-key']).toBe(keys.anthropic);
    // The client's API version and betas, not the adapter's default version.
    expect(sent?.headers['anthropic-version']).toBe('2024-01-01');
    expect(sent?.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
  });

  it('relays the stream event for event, ping included', async () => {
    const res = await fetch(`${server.url}/llm/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-portkey-config': JSON.stringify(anthropicConfig),
      },
      body: JSON.stringify({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    });
    const text = await res.text();
    const names = [...text.matchAll(/^event: (\w+)$/gm)].map((match) => match[1]);
    expect(names[0]).toBe('message_start');
    expect(names).toContain('ping');
    expect(names.at(-1)).toBe('message_stop');
    expect(text).toContain('"id":"msg_sim_');
  });

  it('streams to messages.stream: text events and the final message', async () => {
    const stream = client(anthropicConfig).messages.stream({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    let text = '';
    stream.on('text', (delta) => {
      text += delta;
    });
    const final = await stream.finalMessage();
    expect(text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
    expect(final.content).toEqual([{ type: 'text', text }]);
    expect(final.usage.output_tokens).toBe(6);
  });

  it('runs a tool use round trip', async () => {
    const anthropic = client(anthropicConfig);
    const first = await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 256,
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((block) => block.type === 'tool_use');
    expect(use).toMatchObject({ name: 'get_weather', input: { city: 'Paris' } });
    const second = await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 256,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: String(use?.type === 'tool_use' && use.id),
              content: '18C',
            },
          ],
        },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    expect(second.content[0]).toMatchObject({ type: 'text' });
  });

  it("answers the provider's errors in Anthropic's shape", async () => {
    providers.anthropic.script({
      status: 529,
      body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
    const error = await client(anthropicConfig)
      .messages.create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
  });

  it('ends a cut native stream with an Anthropic error event', async () => {
    providers.anthropic.script({
      stream: [
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n',
      ],
      headers: { 'content-type': 'text/event-stream' },
    });
    const res = await request(server.server)
      .post('/llm/v1/messages')
      .set('x-portkey-config', JSON.stringify(anthropicConfig))
      .send({
        model: 'm',
        max_tokens: 5,
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      });
    expect(res.text).toContain('event: error\ndata: {"type":"error","error":{"type":"api_error"');
    expect(res.text).toContain('ERR_UPSTREAM_STREAM_INTERRUPTED');
  });
});

describe('POST /v1/messages to other providers (translated)', () => {
  it('translates the request to chat and the answer to an Anthropic message', async () => {
    const message = await client(openaiConfig).messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 100,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-mini',
      content: [{ type: 'text', text: 'Hello from openai (gpt-4o-mini)' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 12, output_tokens: 6 },
    });
    expect(message.id).toMatch(/^msg_/);
    const sent = providers.openai.requests[0];
    expect(sent?.url).toBe('/v1/chat/completions');
    expect(sent?.headers['anthropic-version']).toBeUndefined();
    expect(sent?.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      max_completion_tokens: 100,
    });
  });

  it('streams Anthropic events to messages.stream', async () => {
    const stream = client(openaiConfig).messages.stream({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const texts: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    const final = await stream.finalMessage();
    expect(texts.length).toBeGreaterThan(1);
    expect(texts.join('')).toBe('Hello from openai (gpt-4o-mini)');
    expect(final.content).toEqual([{ type: 'text', text: 'Hello from openai (gpt-4o-mini)' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 6 });
    expect(providers.openai.requests[0]?.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('runs a tool use round trip, created and streamed', async () => {
    const anthropic = client(openaiConfig);
    const first = await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 256,
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((block) => block.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('expected a tool_use block');
    expect(use).toMatchObject({ name: 'get_weather', input: { city: 'Paris' } });
    const streamed = await anthropic.messages
      .stream({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 256,
        tools: [weatherTool],
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
      })
      .finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content.find((block) => block.type === 'tool_use')).toMatchObject({
      name: 'get_weather',
      input: { city: 'Paris' },
    });
    const second = await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 256,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18C' }] },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    expect(second.content).toEqual([{ type: 'text', text: 'Hello from openai (gpt-4o-mini)' }]);
    const messages = providers.openai.requests[2]?.body?.messages;
    expect(messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: use.id,
            type: 'function',
            function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) },
          },
        ],
      },
      { role: 'tool', tool_call_id: use.id, content: '18C' },
    ]);
  });

  it('sends images as image_url parts', async () => {
    await client(openaiConfig).messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'image',
              source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
            },
            { type: 'text', text: 'What is this?' },
          ],
        },
      ],
    });
    expect(providers.openai.requests[0]?.body?.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'text', text: 'What is this?' },
        ],
      },
    ]);
  });

  it('sends images natively to Anthropic', async () => {
    const image = {
      type: 'image' as const,
      source: { type: 'base64' as const, media_type: 'image/png' as const, data: 'iVBORw0KGgo=' },
    };
    await client(anthropicConfig).messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      messages: [{ role: 'user', content: [image, { type: 'text', text: 'What is this?' }] }],
    });
    expect(providers.anthropic.requests[0]?.body?.messages).toEqual([
      { role: 'user', content: [image, { type: 'text', text: 'What is this?' }] },
    ]);
  });

  it("answers the middleware's own validation errors in Anthropic's shape", async () => {
    const missing = await client(openaiConfig)
      .messages.create({
        model: 'claude-3-5-haiku-latest',
        messages: [{ role: 'user', content: 'Hi' }],
      } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'max_tokens: a positive integer is required (ERR_PARAMS_INVALID)',
      },
    });
    const badConfig = await request(server.server)
      .post('/llm/v1/messages')
      .set('x-portkey-config', '{not json')
      .send({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] });
    expect(badConfig.status).toBe(400);
    expect(badConfig.body).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'The x-portkey-config header is not valid JSON (ERR_CONFIG_INVALID_JSON)',
      },
    });
    const badJson = await request(server.server)
      .post('/llm/v1/messages')
      .set('content-type', 'application/json')
      .send('{');
    expect(badJson.status).toBe(400);
    expect(badJson.body.type).toBe('error');
    expect(providers.requestCount()).toBe(0);
  });

  it("answers a translated provider's errors in Anthropic's shape", async () => {
    const error = await client({ provider: 'openai', api_key: 'sk-wrong-key-0000000000' })
      .messages.create({
        model: 'gpt-4o-mini',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((error as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });
  });
});

describe('POST /v1/messages through a mixed load-balanced config', () => {
  it('serves every request, natively or translated, streamed or not', async () => {
    const anthropic = client(mixedConfig);
    const results = await Promise.all(
      Array.from({ length: 24 }, async (_, index) => {
        const params = {
          model: 'claude-3-5-haiku-latest',
          max_tokens: 64,
          messages: [{ role: 'user' as const, content: `Hi ${index}` }],
        };
        const message =
          index % 2 === 0
            ? await anthropic.messages.create(params)
            : await anthropic.messages.stream(params).finalMessage();
        return message;
      }),
    );
    for (const message of results) {
      expect(message.type).toBe('message');
      expect(message.stop_reason).toBe('end_turn');
      expect(message.content[0]?.type === 'text' && message.content[0].text).toMatch(
        /^Hello from /,
      );
    }
    expect(providers.anthropic.requests.length).toBeGreaterThan(0);
    expect(providers.openai.requests.length).toBeGreaterThan(0);
    expect(providers.azure.requests.length).toBeGreaterThan(0);
    expect(providers.requestCount()).toBe(24);
    for (const sent of providers.anthropic.requests) expect(sent.url).toBe('/v1/messages');
    for (const sent of providers.openai.requests) expect(sent.url).toBe('/v1/chat/completions');
  });

  it('keeps requests with Anthropic server tools on Anthropic targets', async () => {
    const anthropic = client(mixedConfig);
    for (let i = 0; i < 6; i++) {
      await anthropic.messages
        .create({
          model: 'claude-3-5-haiku-latest',
          max_tokens: 64,
          tools: [{ type: 'web_search_20250305', name: 'web_search' }],
          messages: [{ role: 'user', content: 'News?' }],
        })
        .catch(() => undefined);
    }
    expect(providers.anthropic.requests).toHaveLength(6);
    expect(providers.openai.requests).toHaveLength(0);
  });
});

describe('POST /v1/messages that a translated target could not take', () => {
  it("is a 400 in Anthropic's shape before any provider is contacted, native ones included", async () => {
    const fallback = {
      strategy: { mode: 'fallback' },
      targets: [anthropicConfig, openaiConfig],
    };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        request(server.url)
          .post('/llm/v1/messages')
          .set('x-portkey-config', JSON.stringify(fallback))
          .set('anthropic-version', '2023-06-01')
          .send({ model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'Hi' }] }),
      ),
    );
    for (const res of answers) {
      expect(res.status).toBe(400);
      expect(res.body.type).toBe('error');
      expect(res.body.error.message).toContain('max_tokens');
    }
    expect(providers.anthropic.requests).toHaveLength(0);
    expect(providers.openai.requests).toHaveLength(0);
  });
});

describe('POST /v1/messages/count_tokens', () => {
  it('counts with the Anthropic target of a mixed config', async () => {
    for (let i = 0; i < 4; i++) {
      const count = await client(mixedConfig).messages.countTokens({
        model: 'claude-3-5-haiku-latest',
        messages: [{ role: 'user', content: 'How many tokens is this?' }],
      });
      expect(count.input_tokens).toBeGreaterThan(0);
    }
    expect(providers.anthropic.requests.map((sent) => sent.url)).toEqual(
      Array(4).fill('/v1/messages/count_tokens'),
    );
    expect(providers.openai.requests).toHaveLength(0);
  });

  it('is refused in Anthropic shape when no target is Anthropic', async () => {
    const error = await client(openaiConfig)
      .messages.countTokens({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          'config routes to provider openai, which has no Anthropic token counting API (ERR_OPERATION_UNSUPPORTED)',
      },
    });
    expect(providers.requestCount()).toBe(0);
  });
});

describe('GET /v1/models from the Anthropic SDK', () => {
  it("lists the config's models in Anthropic's shape", async () => {
    const config: PortkeyConfig = {
      strategy: { mode: 'loadbalance' },
      targets: [
        {
          provider: 'anthropic',
          api_key: keys.anthropic,
          override_params: { model: 'claude-sonnet-4-5' },
        },
        { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o-mini' } },
      ],
    };
    const ids: string[] = [];
    for await (const model of client(config).models.list()) ids.push(model.id);
    expect(ids).toEqual(['claude-sonnet-4-5', 'gpt-4o-mini']);
  });
});

describe('usage in events on the inbound routes', () => {
  it('reports the tokens of native and translated answers, streamed or not', async () => {
    const usages: unknown[] = [];
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, { on: { response: (event) => usages.push(event.usage) } }),
      ),
    );
    const listening = await listen(app);
    try {
      for (const config of [anthropicConfig, openaiConfig]) {
        const anthropic = new Anthropic({
          apiKey: 'host-token',
          baseURL: `${listening.url}/llm`,
          defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
          maxRetries: 0,
        });
        const params = {
          model: 'claude-3-5-haiku-latest',
          max_tokens: 64,
          messages: [{ role: 'user' as const, content: 'Hi' }],
        };
        await anthropic.messages.create(params);
        await anthropic.messages.stream(params).finalMessage();
      }
    } finally {
      await listening.close();
    }
    expect(usages).toEqual([
      // Anthropic counts cached input apart: 12 + 3 read + 2 written.
      { promptTokens: 17, completionTokens: 6, totalTokens: 23 },
      { promptTokens: 17, completionTokens: 6, totalTokens: 23 },
      { promptTokens: 12, completionTokens: 6, totalTokens: 18 },
      { promptTokens: 12, completionTokens: 6, totalTokens: 18 },
    ]);
  });
});
