import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  azureDeployment,
  createApp,
  keys,
  simulatorOptions,
  useProviders,
} from '../helpers/app.js';
import { seededRandom, sequenceRandom } from '../helpers/random.js';
import { seedAzureOpenAIBody, seedOpenAIAnthropicBody } from '../helpers/seed.js';

const providers = useProviders();

function appWith(random: () => number) {
  return createApp('/internal/llm', portkeyLoadBalancer(simulatorOptions(providers, { random })));
}

describe('seed example 1: 50/50 OpenAI gpt-3.5-turbo / Anthropic claude-v1', () => {
  it('sends the OpenAI pick to OpenAI unchanged but for the override, and answers its body', async () => {
    const res = await request(appWith(sequenceRandom(0.1)))
      .post('/internal/llm/v1/chatComplete')
      .set('x-portkey-api-key', 'portkey-account-key')
      .send(seedOpenAIAnthropicBody());
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('openai');
    expect(res.headers['x-portkey-last-used-option-index']).toBe('0');
    expect(res.body.object).toBe('chat.completion');
    expect(res.body.choices[0].message.content).toBe('Hello from openai (gpt-3.5-turbo)');

    expect(providers.requestCount()).toBe(1);
    const sent = providers.openai.requests[0];
    expect(sent?.url).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe(`Bearer ${keys.openai}`);
    expect(sent?.headers['x-portkey-api-key']).toBeUndefined();
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.body).toEqual({
      messages: [{ role: 'user', content: 'What are the top 10 happiest countries in the world?' }],
      max_tokens: 50,
      user: 'jbu3470',
      model: 'gpt-3.5-turbo',
    });
  });

  it('translates the Anthropic pick to the Messages API and answers a chat.completion', async () => {
    const res = await request(appWith(sequenceRandom(0.9)))
      .post('/internal/llm/v1/chatComplete')
      .send(seedOpenAIAnthropicBody());
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(res.headers['x-portkey-last-used-option-index']).toBe('1');
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^msg_sim_/),
      object: 'chat.completion',
      model: 'claude-v1',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello from anthropic (claude-v1)' },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 17, completion_tokens: 6, total_tokens: 23 },
    });
    expect(typeof res.body.created).toBe('number');

    const sent = providers.anthropic.requests[0];
    expect(sent?.url).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe(keys.anthropic);
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual({
      model: 'claude-v1',
      max_tokens: 50,
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'What are the top 10 happiest countries in the world?' }],
        },
      ],
      metadata: { user_id: 'jbu3470' },
    });
  });

  it('splits traffic evenly over many requests', async () => {
    const app = appWith(seededRandom(42));
    const total = 400;
    for (let index = 0; index < total; index++) {
      const res = await request(app)
        .post('/internal/llm/v1/chatComplete')
        .send(seedOpenAIAnthropicBody());
      expect(res.status).toBe(200);
    }
    // Binomial(400, 0.5): sd = 10, so ±50 is five standard deviations.
    expect(providers.openai.requests.length + providers.anthropic.requests.length).toBe(total);
    expect(providers.openai.requests.length).toBeGreaterThan(150);
    expect(providers.openai.requests.length).toBeLessThan(250);
  });
});

describe('POST /v1/complete (Format 1 text completions)', () => {
  it('sends a prompt to Anthropic as a message and answers a text_completion', async () => {
    const body = seedOpenAIAnthropicBody();
    const res = await request(appWith(sequenceRandom(0.9)))
      .post('/internal/llm/v1/complete')
      .send({ config: body.config, params: { prompt: 'Say hi', max_tokens: 20 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      object: 'text_completion',
      model: 'claude-v1',
      choices: [{ index: 0, text: 'Hello from anthropic (claude-v1)', finish_reason: 'stop' }],
    });
    expect(providers.anthropic.requests[0]?.body).toEqual({
      model: 'claude-v1',
      max_tokens: 20,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hi' }] }],
    });
  });

  it('sends a prompt to OpenAI /completions unchanged', async () => {
    const body = seedOpenAIAnthropicBody();
    const res = await request(appWith(sequenceRandom(0.1)))
      .post('/internal/llm/v1/complete')
      .send({ config: body.config, params: { prompt: 'Say hi', max_tokens: 20 } });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('text_completion');
    expect(providers.openai.requests[0]?.url).toBe('/v1/completions');
    expect(providers.openai.requests[0]?.body).toEqual({
      prompt: 'Say hi',
      max_tokens: 20,
      model: 'gpt-3.5-turbo',
    });
  });
});

describe('seed example 2: 70/30 Azure deployment / OpenAI', () => {
  it('sends the Azure pick to the deployment path with api-version and api-key', async () => {
    const res = await request(appWith(sequenceRandom(0.2)))
      .post('/internal/llm/v1/chatComplete')
      .send(seedAzureOpenAIBody());
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('azure-openai');
    expect(res.body.model).toBe('gpt-35-turbo-0125');

    const sent = providers.azure.requests[0];
    expect(sent?.url).toBe(
      `/openai/deployments/${azureDeployment.deploymentId}/chat/completions?api-version=${azureDeployment.apiVersion}`,
    );
    expect(sent?.headers['api-key']).toBe(keys.azure);
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual(seedAzureOpenAIBody().params);
  });

  it('sends the OpenAI pick with the model from params', async () => {
    const res = await request(appWith(sequenceRandom(0.95)))
      .post('/internal/llm/v1/chatComplete')
      .send(seedAzureOpenAIBody());
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('openai');
    expect(res.headers['x-portkey-last-used-option-index']).toBe('1');
    expect(providers.openai.requests[0]?.body?.model).toBe('gpt-3.5-turbo');
  });

  it('splits traffic 70/30 over many requests', async () => {
    const app = appWith(seededRandom(7));
    const total = 400;
    for (let index = 0; index < total; index++) {
      const res = await request(app)
        .post('/internal/llm/v1/chatComplete')
        .send(seedAzureOpenAIBody());
      expect(res.status).toBe(200);
    }
    // Binomial(400, 0.7): mean 280, sd ≈ 9.2, so ±46 is five standard deviations.
    expect(providers.azure.requests.length + providers.openai.requests.length).toBe(total);
    expect(providers.azure.requests.length).toBeGreaterThan(234);
    expect(providers.azure.requests.length).toBeLessThan(326);
  });
});
