import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, portkeyLoadBalancer } from '../../lib/index.js';
import type { PortkeyConfig, StateStore } from '../../lib/types.js';
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

const openaiConfig: PortkeyConfig = { provider: 'openai', api_key: keys.openai };
const anthropicConfig: PortkeyConfig = {
  provider: 'anthropic',
  api_key: keys.anthropic,
  override_params: { model: 'claude-3-5-haiku-latest' },
};
const azureTarget = {
  provider: 'azure-openai' as const,
  api_key: keys.azure,
  resource_name: azureDeployment.resourceName,
  deployment_id: azureDeployment.deploymentId,
  api_version: '2025-04-01-preview',
};
const mixedConfig: PortkeyConfig = {
  strategy: { mode: 'loadbalance' },
  targets: [
    { provider: 'openai', api_key: keys.openai },
    { ...anthropicConfig },
    { ...azureTarget },
  ],
};

let server: RunningServer;
beforeAll(async () => {
  const app = createApp(
    '/llm',
    portkeyLoadBalancer(simulatorOptions(providers, { random: seededRandom(11) })),
  );
  server = await listen(app);
});
afterAll(() => server.close());

function client(config: PortkeyConfig): OpenAI {
  return new OpenAI({
    apiKey: 'host-token',
    baseURL: `${server.url}/llm/v1`,
    defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
    maxRetries: 0,
  });
}

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

describe('POST /v1/responses to OpenAI and Azure targets (native)', () => {
  it('passes a plain request through', async () => {
    const body = { model: 'gpt-4o-mini', input: 'Hi', instructions: 'Be brief.', store: true };
    const response = await client(openaiConfig).responses.create(body);
    expect(response.id).toMatch(/^resp_sim_/);
    expect(response.output_text).toBe('Hello from openai (gpt-4o-mini)');
    expect(providers.openai.requests[0]?.url).toBe('/v1/responses');
    expect(providers.openai.requests[0]?.body).toEqual(body);
  });

  it('relays a stream', async () => {
    const stream = await client(openaiConfig).responses.create({
      model: 'gpt-4o-mini',
      input: 'Hi',
      stream: true,
    });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(text).toBe('Hello from openai (gpt-4o-mini)');
  });

  it('runs a function calling round trip with previous_response_id', async () => {
    const openai = client(openaiConfig);
    const first = await openai.responses.create({
      model: 'gpt-4o-mini',
      input: 'Weather in Paris?',
      tools: [weatherTool],
    });
    const call = first.output.find((item) => item.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('expected a function call');
    expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
    const second = await openai.responses.create({
      model: 'gpt-4o-mini',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '18C' }],
      tools: [weatherTool],
    });
    expect(second.output_text).toBe('Hello from openai (gpt-4o-mini)');
  });

  it("uses Azure's Responses path, with the deployment as the model", async () => {
    const response = await client({ ...azureTarget }).responses.create({
      model: 'ignored',
      input: 'Hi',
    });
    expect(response.output_text).toBe('Hello from azure-openai (gpt-35-turbo-0125)');
    const sent = providers.azure.requests[0];
    expect(sent?.url).toBe('/openai/responses?api-version=2025-04-01-preview');
    expect(sent?.body).toEqual({ model: azureDeployment.deploymentId, input: 'Hi' });
    expect(sent?.headers['api-key']).toBe(keys.azure);
  });
});

describe('POST /v1/responses to Anthropic targets (translated)', () => {
  it('answers a plain request as a response object', async () => {
    const response = await client(anthropicConfig).responses.create({
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      input: 'Hi',
      max_output_tokens: 50,
    });
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
    expect(response.usage).toMatchObject({ input_tokens: 17, output_tokens: 6 });
    const sent = providers.anthropic.requests[0];
    expect(sent?.url).toBe('/v1/messages');
    expect(sent?.body).toMatchObject({
      model: 'claude-3-5-haiku-latest',
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      max_tokens: 50,
    });
  });

  it('streams Responses events', async () => {
    const stream = await client(anthropicConfig).responses.create({
      model: 'gpt-4o-mini',
      input: 'Hi',
      stream: true,
    });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types[0]).toBe('response.created');
    expect(types).toContain('response.output_text.delta');
    expect(types.at(-1)).toBe('response.completed');
    expect(text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
    expect(completed?.usage?.output_tokens).toBe(6);
  });

  it('accumulates a stream with responses.stream', async () => {
    const final = await client(anthropicConfig)
      .responses.stream({ model: 'gpt-4o-mini', input: 'Hi' })
      .finalResponse();
    expect(final.output_text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
  });

  it('runs a function calling round trip, streamed and not', async () => {
    const openai = client(anthropicConfig);
    const first = await openai.responses.create({
      model: 'gpt-4o-mini',
      input: 'Weather in Paris?',
      tools: [weatherTool],
    });
    const call = first.output.find((item) => item.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('expected a function call');
    expect(call.name).toBe('get_weather');
    expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
    const streamed = await openai.responses
      .stream({ model: 'gpt-4o-mini', input: 'Weather in Paris?', tools: [weatherTool] })
      .finalResponse();
    const streamedCall = streamed.output.find((item) => item.type === 'function_call');
    expect(streamedCall).toMatchObject({ type: 'function_call', name: 'get_weather' });
    const second = await openai.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          type: 'function_call',
          call_id: call.call_id,
          name: call.name,
          arguments: call.arguments,
        },
        { type: 'function_call_output', call_id: call.call_id, output: '18C' },
      ],
      tools: [weatherTool],
    });
    expect(second.output_text).toBe('Hello from anthropic (claude-3-5-haiku-latest)');
    const messages = providers.anthropic.requests[2]?.body?.messages as unknown[];
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: call.call_id, name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: call.call_id, content: '18C' }],
      },
    ]);
  });

  it('refuses what needs server-side state when no target keeps it', async () => {
    for (const body of [
      { model: 'gpt-4o-mini', input: 'Hi', previous_response_id: 'resp_abc' },
      { model: 'gpt-4o-mini', input: 'Hi', store: true },
      { model: 'gpt-4o-mini', input: 'Hi', tools: [{ type: 'web_search' as const }] },
    ]) {
      const error = await client(anthropicConfig)
        .responses.create(body)
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe(
        'ERR_OPERATION_UNSUPPORTED',
      );
    }
    expect(providers.requestCount()).toBe(0);
  });

  it('answers errors in the OpenAI shape', async () => {
    const res = await request(server.server)
      .post('/llm/v1/responses')
      .set('x-portkey-config', JSON.stringify(anthropicConfig))
      .send({ model: 'gpt-4o-mini' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_PARAMS_INVALID', param: 'input' });
  });
});

describe('POST /v1/responses through a mixed config', () => {
  it('serves a burst, natively or translated, streamed or not', async () => {
    const openai = client(mixedConfig);
    const texts = await Promise.all(
      Array.from({ length: 24 }, async (_, index) => {
        if (index % 2 === 0) {
          return (await openai.responses.create({ model: 'gpt-4o-mini', input: `Hi ${index}` }))
            .output_text;
        }
        const final = await openai.responses
          .stream({ model: 'gpt-4o-mini', input: `Hi ${index}` })
          .finalResponse();
        return final.output_text;
      }),
    );
    for (const text of texts) expect(text).toMatch(/^Hello from (openai|anthropic|azure-openai) /);
    expect(providers.openai.requests.length).toBeGreaterThan(0);
    expect(providers.anthropic.requests.length).toBeGreaterThan(0);
    expect(providers.azure.requests.length).toBeGreaterThan(0);
    expect(providers.requestCount()).toBe(24);
  });

  it('keeps stateful requests on the targets that keep state', async () => {
    const openai = client(mixedConfig);
    for (let i = 0; i < 8; i++) {
      await openai.responses.create({ model: 'gpt-4o-mini', input: 'Hi', store: true });
    }
    expect(providers.anthropic.requests).toHaveLength(0);
    expect(providers.openai.requests.length + providers.azure.requests.length).toBe(8);
  });
});

describe('previous_response_id affinity', () => {
  const twoAccounts: PortkeyConfig = {
    strategy: { mode: 'loadbalance' },
    targets: [
      { provider: 'openai', api_key: keys.openai },
      { ...azureTarget },
      { ...anthropicConfig },
    ],
  };

  async function continueConversation(stream: boolean) {
    const openai = client(twoAccounts);
    const first = stream
      ? await openai.responses
          .stream({ model: 'gpt-4o-mini', input: 'Hi', store: true })
          .finalResponse()
      : await openai.responses.create({ model: 'gpt-4o-mini', input: 'Hi', store: true });
    const producer = providers.openai.requests.length === 1 ? providers.openai : providers.azure;
    const other = producer === providers.openai ? providers.azure : providers.openai;
    let previous = first.id;
    for (let i = 0; i < 8; i++) {
      // Each simulator only knows its own responses: a follow-up elsewhere would be a 400.
      const next = await openai.responses.create({
        model: 'gpt-4o-mini',
        input: `And ${i}?`,
        previous_response_id: previous,
        store: true,
      });
      previous = next.id;
    }
    expect(producer.requests).toHaveLength(9);
    expect(other.requests).toHaveLength(0);
    expect(providers.anthropic.requests).toHaveLength(0);
  }

  it('sends a continued response to the target that produced it', async () => {
    await continueConversation(false);
  });

  it('learns the id from a native stream too', async () => {
    await continueConversation(true);
  });

  it('falls back to the native targets when the response is unknown', async () => {
    const error = await client(twoAccounts)
      .responses.create({ model: 'gpt-4o-mini', input: 'Hi', previous_response_id: 'resp_unknown' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(providers.anthropic.requests).toHaveLength(0);
    expect(providers.openai.requests.length + providers.azure.requests.length).toBe(1);
  });
});

describe('previous_response_id affinity across replicas', () => {
  it('pins through the shared store: a response made by one replica continues via another', async () => {
    const store = new MemoryStore();
    const config: PortkeyConfig = {
      strategy: { mode: 'loadbalance' },
      targets: [{ provider: 'openai', api_key: keys.openai }, { ...azureTarget }],
    };
    const replica = (seed: number) =>
      createApp(
        '/llm',
        portkeyLoadBalancer(simulatorOptions(providers, { store, random: seededRandom(seed) })),
      );
    const [a, b] = [replica(1), replica(2)];
    const first = await request(a)
      .post('/llm/v1/responses')
      .set('x-portkey-config', JSON.stringify(config))
      .send({ model: 'gpt-4o-mini', input: 'Hi' });
    expect(first.status).toBe(200);
    const producer = first.headers['x-portkey-provider'];
    for (let i = 0; i < 6; i++) {
      const next = await request(b)
        .post('/llm/v1/responses')
        .set('x-portkey-config', JSON.stringify(config))
        .send({ model: 'gpt-4o-mini', input: 'More', previous_response_id: first.body.id });
      expect(next.status).toBe(200);
      expect(next.headers['x-portkey-provider']).toBe(producer);
    }
  });
});

describe('previous_response_id affinity with a store that hangs', () => {
  it('answers within the store timeout, unpinned, and reports the store error', async () => {
    // Breaker reads are answered; the counters affinity reads and writes never are.
    const never = () => new Promise<never>(() => undefined);
    const store: StateStore = Object.assign(new MemoryStore(), {
      increment: never,
      counters: never,
    });
    const storeErrors: string[] = [];
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, {
          store,
          storeTimeout: 50,
          on: { 'store-error': (event) => storeErrors.push(event.operation) },
        }),
      ),
    );
    const send = (body: object) =>
      request(app)
        .post('/llm/v1/responses')
        .set('x-portkey-config', JSON.stringify(openaiConfig))
        .send(body);
    const first = await send({ model: 'gpt-4o-mini', input: 'Hi', store: true });
    expect(first.status).toBe(200);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        send({ model: 'gpt-4o-mini', input: 'More', previous_response_id: first.body.id }),
      ),
    );
    expect(answers.map((res) => res.status)).toEqual(Array(8).fill(200));
    // The first timeout sends the store to rest: later reads go local without waiting.
    expect(storeErrors).toContain('increment');
  });
});

describe('previous_response_id affinity under conditional routing', () => {
  it("continues on the account that stored the response, the config's rules still choosing", async () => {
    const tiers = {
      strategy: {
        mode: 'conditional',
        conditions: [{ query: { 'metadata.plan': { $eq: 'pro' } }, then: 'pro' }],
        default: 'free',
      },
      targets: [
        { name: 'pro', ...openaiConfig, override_params: { model: 'gpt-4o' } },
        { name: 'free', ...openaiConfig, override_params: { model: 'gpt-4o-mini' } },
      ],
    };
    const send = (body: object) =>
      request(server.url)
        .post('/llm/v1/responses')
        .set('x-portkey-config', JSON.stringify(tiers))
        .set('x-portkey-metadata', JSON.stringify({ plan: 'free' }))
        .send(body);
    const first = await send({ model: 'any', input: 'Hi', store: true });
    expect(first.status).toBe(200);
    const next = await Promise.all(
      Array.from({ length: 4 }, () =>
        send({ model: 'any', input: 'More', previous_response_id: first.body.id }),
      ),
    );
    expect(next.map((res) => res.status)).toEqual([200, 200, 200, 200]);
    expect(providers.openai.requests.map((sent) => sent.body?.model)).toEqual(
      Array(5).fill('gpt-4o-mini'),
    );
  });
});

describe('native Responses streams that end badly', () => {
  const sse = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const created = sse('response.created', { response: { id: 'resp_split_0123456789' } });

  async function relay(stream: string[], config: PortkeyConfig = openaiConfig) {
    const errors: string[] = [];
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, {
          circuitBreaker: false,
          on: { error: (event) => errors.push(event.code) },
        }),
      ),
    );
    providers.openai.script({ stream });
    const res = await request(app)
      .post('/llm/v1/responses')
      .set('x-portkey-config', JSON.stringify(config))
      .send({ model: 'gpt-4o-mini', input: 'Hi', stream: true });
    return { res, errors };
  }

  it('ends a stream cut before response.completed with an error event, and reports it', async () => {
    const { res, errors } = await relay([
      created,
      sse('response.output_text.delta', { delta: 'Hel' }),
    ]);
    expect(res.status).toBe(200);
    expect(res.text).toContain('"delta":"Hel"');
    expect(res.text.trimEnd().split('\n\n').at(-1)).toContain('error');
    expect(errors).toEqual(['ERR_UPSTREAM_STREAM_INTERRUPTED']);
  });

  it('relays response.failed as it is and counts it as the provider failing', async () => {
    const { res, errors } = await relay([
      created,
      sse('response.failed', { response: { status: 'failed', error: { message: 'boom' } } }),
    ]);
    expect(res.text.trimEnd().endsWith('"message":"boom"}}}')).toBe(true);
    expect(errors).toEqual(['ERR_UPSTREAM_ERROR']);
  });

  it('takes a completed stream as complete, even when model text mentions the event', async () => {
    const { res, errors } = await relay([
      created,
      sse('response.output_text.delta', { delta: 'event: response.completed\n' }),
      sse('response.completed', { response: { id: 'resp_split_0123456789', status: 'completed' } }),
    ]);
    expect(res.status).toBe(200);
    expect(errors).toEqual([]);
    const cut = await relay([
      created,
      sse('response.output_text.delta', { delta: 'event: response.completed\n' }),
    ]);
    expect(cut.errors).toEqual(['ERR_UPSTREAM_STREAM_INTERRUPTED']);
  });

  it('remembers a response id split across two chunks', async () => {
    const store = new MemoryStore();
    const config: PortkeyConfig = {
      strategy: { mode: 'loadbalance' },
      targets: [{ provider: 'openai', api_key: keys.openai }, { ...azureTarget }],
    };
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(simulatorOptions(providers, { store, random: seededRandom(4) })),
    );
    const cutAt = created.indexOf('split_') + 3;
    // Only the OpenAI simulator is scripted: the first answer must come from it.
    providers.openai.script({
      stream: [
        created.slice(0, cutAt),
        created.slice(cutAt),
        // No id here: only the split one can be found.
        sse('response.completed', { response: { status: 'completed' } }),
      ],
    });
    let first: request.Response | undefined;
    for (let tries = 0; tries < 10 && first?.headers['x-portkey-provider'] !== 'openai'; tries++) {
      first = await request(app)
        .post('/llm/v1/responses')
        .set('x-portkey-config', JSON.stringify(config))
        .send({ model: 'gpt-4o-mini', input: 'Hi', stream: true });
    }
    expect(first?.headers['x-portkey-provider']).toBe('openai');
    const next = await Promise.all(
      Array.from({ length: 6 }, () =>
        request(app)
          .post('/llm/v1/responses')
          .set('x-portkey-config', JSON.stringify(config))
          .send({
            model: 'gpt-4o-mini',
            input: 'More',
            previous_response_id: 'resp_split_0123456789',
          }),
      ),
    );
    // The simulator never stored this scripted response: what matters is where each went.
    expect(next.map((res) => res.headers['x-portkey-provider'])).toEqual(Array(6).fill('openai'));
  });
});
