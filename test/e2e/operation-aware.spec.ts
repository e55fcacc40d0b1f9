import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp, defaultConfig, virtualKeysOf } from '../../example-app/app.js';
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
import { seededRandom } from '../helpers/random.js';

const providers = useProviders();

/** The example app's keys: its default config load-balances over OpenAI, Anthropic and Azure. */
const exampleKeys = {
  openai: keys.openai,
  anthropic: keys.anthropic,
  azure: {
    apiKey: keys.azure,
    deployment: {
      resource_name: azureDeployment.resourceName,
      deployment_id: azureDeployment.deploymentId,
      api_version: azureDeployment.apiVersion,
    },
  },
};

describe("embeddings through the example app's default mixed config", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const app = createExampleApp({
      apiToken: 'host-token',
      rateLimitPerMinute: 10_000,
      loadBalancer: simulatorOptions(providers, {
        virtualKeys: virtualKeysOf(exampleKeys),
        config: defaultConfig(exampleKeys),
        random: seededRandom(7),
        allowDryRun: true,
      }),
    });
    server = await listen(app);
  });
  afterAll(() => server.close());

  it('serves client.embeddings.create from the official SDK, never through Anthropic', async () => {
    const client = new OpenAI({
      apiKey: 'host-token',
      baseURL: `${server.url}/internal/llm/v1`,
      maxRetries: 0,
    });
    const served = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const { data, response } = await client.embeddings
        .create({ model: 'text-embedding-3-small', input: `hello ${i}` })
        .withResponse();
      expect(data.data[0]?.embedding.length).toBeGreaterThan(0);
      served.add(String(response.headers.get('x-portkey-provider')));
    }
    expect(providers.anthropic.requests).toHaveLength(0);
    expect([...served].sort()).toEqual(['azure-openai', 'openai']);
  });

  it('still load-balances chat over all three', async () => {
    const client = new OpenAI({
      apiKey: 'host-token',
      baseURL: `${server.url}/internal/llm/v1`,
      maxRetries: 0,
    });
    for (let i = 0; i < 12; i++) {
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      });
    }
    expect(providers.anthropic.requests.length).toBeGreaterThan(0);
    expect(providers.openai.requests.length).toBeGreaterThan(0);
  });

  it('serves the Anthropic SDK with only the base URL changed', async () => {
    const anthropic = new Anthropic({
      apiKey: 'host-token',
      baseURL: `${server.url}/internal/llm`,
      maxRetries: 0,
    });
    for (let i = 0; i < 6; i++) {
      const message = await anthropic.messages.create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(message.content[0]).toMatchObject({ type: 'text' });
    }
    const models: string[] = [];
    for await (const model of anthropic.models.list()) models.push(model.id);
    expect(models).toEqual(['gpt-4o-mini', 'claude-3-5-haiku-latest']);
  });

  it('shows the targets left out in the dry run', async () => {
    const res = await fetch(`${server.url}/internal/llm/v1/embeddings`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer host-token',
        'content-type': 'application/json',
        'x-portkey-dry-run': 'true',
      },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' }),
    });
    const plan = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect(plan.left_out).toEqual([
      {
        path: 'options.config.targets[1]',
        provider: 'anthropic',
        reason: 'provider anthropic has no embeddings API',
      },
    ]);
    const tree = (plan.config as { tree: { targets: { path: string }[] } }).tree;
    expect(tree.targets.map((target) => target.path)).toEqual([
      'options.config.targets[0]',
      'options.config.targets[2]',
    ]);
    expect(providers.requestCount()).toBe(0);
  });
});

describe('operation-aware selection in nested configs', () => {
  it('drops a strategy whose targets all cannot serve, keeping its siblings', async () => {
    const config = {
      strategy: { mode: 'fallback' },
      targets: [
        {
          strategy: { mode: 'loadbalance' },
          targets: [
            { provider: 'anthropic', api_key: keys.anthropic },
            { provider: 'anthropic', api_key: keys.anthropic },
          ],
        },
        { provider: 'openai', api_key: keys.openai },
      ],
    };
    const app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/embeddings')
      .set('x-portkey-config', JSON.stringify(config))
      .send({ model: 'text-embedding-3-small', input: 'x' });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-last-used-option-index']).toBe('config.targets[1]');
    expect(providers.anthropic.requests).toHaveLength(0);
  });
});
