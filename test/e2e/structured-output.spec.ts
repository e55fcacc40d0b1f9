import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  createApp,
  keys,
  listen,
  type Providers,
  type RunningServer,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';
import { reassemble } from '../helpers/sse.js';

/**
 * Structured output as SDKs use it (`.parse()`, `generateObject`, `withStructuredOutput`): the
 * answer's content must be JSON matching the schema, whichever provider answers.
 */

let providers: Providers;
let server: RunningServer;

beforeAll(async () => {
  providers = await startProviders();
  server = await listen(createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers))));
});
afterAll(async () => {
  await server.close();
  await providers.close();
});
beforeEach(() => providers.reset());

const weather = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    celsius: { type: 'number' },
    conditions: { type: 'string', enum: ['sunny', 'rain', 'snow'] },
  },
  required: ['city', 'celsius', 'conditions'],
  additionalProperties: false,
};
const responseFormat = {
  type: 'json_schema' as const,
  json_schema: { name: 'weather', schema: weather, strict: true },
};
const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];

const targets = {
  anthropic: {
    provider: 'anthropic',
    api_key: keys.anthropic,
    override_params: { model: 'claude-3-5-haiku-latest' },
  },
  openai: { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o' } },
};

function client(config: unknown): OpenAI {
  return new OpenAI({
    apiKey: 'host-token',
    baseURL: `${server.url}/llm/v1`,
    defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
    maxRetries: 0,
  });
}

function expectWeather(value: unknown): void {
  expect(value).toEqual({
    city: expect.any(String),
    celsius: expect.any(Number),
    conditions: expect.stringMatching(/^(sunny|rain|snow)$/),
  });
}

describe('structured output through Anthropic', () => {
  it("is parsed by the openai SDK's .parse()", async () => {
    const completion = await client(targets.anthropic).chat.completions.parse({
      model: 'any',
      messages,
      response_format: responseFormat,
    });
    const choice = completion.choices[0];
    expectWeather(choice?.message.parsed);
    expect(choice?.finish_reason).toBe('stop');
    expect(choice?.message.tool_calls ?? []).toEqual([]);
    // The simulator saw one forced tool whose input schema is the requested schema.
    const sent = providers.anthropic.requests[0]?.body as Record<string, unknown>;
    expect(sent.tool_choice).toEqual({ type: 'tool', name: 'structured_output' });
    expect(sent.tools).toEqual([expect.objectContaining({ input_schema: weather })]);
    expect(sent.response_format).toBeUndefined();
  });

  it('streams JSON content that parses once reassembled', async () => {
    const stream = await client(targets.anthropic).chat.completions.create({
      model: 'any',
      messages,
      response_format: responseFormat,
      stream: true,
    });
    const { content, finish } = await reassemble(stream);
    expectWeather(JSON.parse(content));
    expect(finish).toBe('stop');
  });

  it('answers json_object with a JSON object', async () => {
    const completion = await client(targets.anthropic).chat.completions.create({
      model: 'any',
      messages: [{ role: 'user', content: 'Reply in JSON' }],
      response_format: { type: 'json_object' },
    });
    const content = completion.choices[0]?.message.content ?? '';
    expect(typeof JSON.parse(content)).toBe('object');
  });

  it('parses on every pick of a mixed OpenAI and Anthropic config', async () => {
    const mixed = {
      strategy: { mode: 'loadbalance' },
      targets: [targets.openai, targets.anthropic],
    };
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        client(mixed).chat.completions.parse({
          model: 'any',
          messages,
          response_format: responseFormat,
        }),
      ),
    );
    for (const completion of answers) expectWeather(completion.choices[0]?.message.parsed);
    const providersSeen = new Set(
      [providers.openai.requests.length, providers.anthropic.requests.length].map((n) => n > 0),
    );
    expect(providersSeen).toEqual(new Set([true]));
  });
});
