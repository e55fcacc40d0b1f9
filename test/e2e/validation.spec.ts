import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  createApp,
  keys,
  type Providers,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';
import { seedAzureOpenAIBody, seedOpenAIAnthropicBody } from '../helpers/seed.js';

let providers: Providers;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  providers = await startProviders();
  app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, { bodyLimit: '64kb' })));
});
afterAll(async () => {
  await providers.close();
});
beforeEach(() => providers.reset());

type Mutation = (body: ReturnType<typeof seedOpenAIAnthropicBody>) => unknown;

/** Sends a Format 1 body and checks the 4xx error shape; nothing may reach a provider. */
async function expectRejected(body: unknown, status: number, code: string, param: string) {
  const res = await request(app)
    .post('/llm/v1/chatComplete')
    .send(body as object);
  expectError(res, status, code, param);
  return res;
}

function expectError(res: request.Response, status: number, code: string, param: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toEqual({
    error: { message: expect.any(String), type: 'invalid_request_error', param, code },
  });
  expect(res.body.error.message).toContain(param);
  expect(providers.requestCount()).toBe(0);
}

function mutated(mutate: Mutation) {
  const body = seedOpenAIAnthropicBody();
  mutate(body);
  return body;
}

const option = (body: ReturnType<typeof seedOpenAIAnthropicBody>, index: number) =>
  body.config.options[index] as unknown as Record<string, unknown>;

describe('config validation (Format 1 body)', () => {
  const cases: [string, Mutation, string][] = [
    [
      'an unknown provider',
      (b) => {
        option(b, 1).provider = 'anthropc';
      },
      'config.options[1].provider',
    ],
    [
      'an unknown mode',
      (b) => {
        (b.config as Record<string, unknown>).mode = 'roundrobin';
      },
      'config.mode',
    ],
    [
      'missing options',
      (b) => {
        delete (b.config as Partial<typeof b.config>).options;
      },
      'config.options',
    ],
    [
      'empty options',
      (b) => {
        b.config.options = [];
      },
      'config.options',
    ],
    [
      'a string weight',
      (b) => {
        option(b, 1).weight = '0.5';
      },
      'config.options[1].weight',
    ],
    [
      'a negative weight',
      (b) => {
        option(b, 1).weight = -0.5;
      },
      'config.options[1].weight',
    ],
    [
      'a huge weight',
      (b) => {
        option(b, 0).weight = 1e308;
      },
      'config.options[0].weight',
    ],
    [
      'all weights 0',
      (b) => {
        option(b, 0).weight = 0;
        option(b, 1).weight = 0;
      },
      'config.options',
    ],
    [
      'a misspelt field',
      (b) => {
        option(b, 0).apikey = 'x';
      },
      'config.options[0].apikey',
    ],
    [
      'a non-object option',
      (b) => {
        (b.config.options as unknown[])[0] = 'openai';
      },
      'config.options[0]',
    ],
    [
      'a missing provider',
      (b) => {
        delete option(b, 0).provider;
      },
      'config.options[0].provider',
    ],
    [
      'a non-object override_params',
      (b) => {
        option(b, 0).override_params = 'gpt-4';
      },
      'config.options[0].override_params',
    ],
    [
      'a config that is a string array',
      (b) => {
        (b as Record<string, unknown>).config = ['x'];
      },
      'config',
    ],
    [
      'an over-long key',
      (b) => {
        option(b, 0).apiKey = 'k'.repeat(5000);
      },
      'config.options[0].apiKey',
    ],
    [
      'too many options',
      (b) => {
        b.config.options = Array.from({ length: 40 }, () => ({ provider: 'openai' })) as never;
      },
      'config.options',
    ],
  ];
  for (const [name, mutate, param] of cases) {
    it(`refuses ${name} with a 400 naming ${param}`, async () => {
      await expectRejected(mutated(mutate), 400, 'ERR_CONFIG_INVALID', param);
    });
  }

  it('suggests the intended provider', async () => {
    const res = await expectRejected(
      mutated((b) => {
        option(b, 1).provider = 'anthropc';
      }),
      400,
      'ERR_CONFIG_INVALID',
      'config.options[1].provider',
    );
    expect(res.body.error.message).toContain('did you mean "anthropic"?');
  });

  it('says which mode was sent when it is not supported', async () => {
    const res = await expectRejected(
      mutated((b) => {
        (b.config as Record<string, unknown>).mode = 'roundrobin';
      }),
      400,
      'ERR_CONFIG_INVALID',
      'config.mode',
    );
    expect(res.body.error.message).toContain('"roundrobin"');
  });
});

describe('Azure fields', () => {
  const azure = (mutate: (o: Record<string, unknown>) => void) => {
    const body = seedAzureOpenAIBody();
    mutate(body.config.options[0] as unknown as Record<string, unknown>);
    return body;
  };
  for (const field of ['resourceName', 'deploymentId', 'apiVersion']) {
    it(`requires ${field}`, async () => {
      await expectRejected(
        azure((o) => {
          delete o[field];
        }),
        400,
        'ERR_CONFIG_INVALID',
        `config.options[0].${field}`,
      );
    });
  }
  it('accepts snake_case spellings', async () => {
    const body = azure((o) => {
      o.resource_name = o.resourceName;
      o.deployment_id = o.deploymentId;
      o.api_version = o.apiVersion;
      o.api_key = o.apiKey;
      delete o.resourceName;
      delete o.deploymentId;
      delete o.apiVersion;
      delete o.apiKey;
      o.weight = 1;
    });
    body.config.options[1] = { ...body.config.options[1], weight: 0 } as never;
    const res = await request(app).post('/llm/v1/chatComplete').send(body);
    expect(res.status).toBe(200);
    expect(providers.azure.requests[0]?.headers['api-key']).toBe(keys.azure);
  });

  const hostile: [string, string, string][] = [
    ['resourceName', 'evil.example/#', 'a host and fragment'],
    ['resourceName', 'evil.example', 'a dot'],
    ['resourceName', 'a@evil.invalid', 'userinfo'],
    ['resourceName', 'a:8080', 'a port'],
    ['resourceName', 'a\\evil.invalid', 'a backslash'],
    ['resourceName', '%2e%2e', 'percent-encoded dots'],
    ['resourceName', 'evil\u3002invalid', 'an ideographic full stop'],
    ['resourceName', 'evil\uff0einvalid', 'a fullwidth full stop'],
    ['resourceName', '-leading-hyphen', 'a leading hyphen'],
    ['resourceName', 'a'.repeat(64), '64 characters'],
    ['deploymentId', '../../admin', 'path traversal'],
    ['deploymentId', 'a/b', 'a slash'],
    ['deploymentId', '%2e%2e', 'percent-encoded dots'],
    ['deploymentId', 'a?x=1', 'a query'],
    ['deploymentId', 'a#b', 'a fragment'],
    ['apiVersion', '2024-10-21&api-key=x', 'an extra query parameter'],
    ['apiVersion', 'latest/../x', 'a path'],
    ['apiVersion', '2024-1-1', 'a malformed date'],
  ];
  for (const [field, value, what] of hostile) {
    it(`refuses a ${field} with ${what}`, async () => {
      const res = await expectRejected(
        azure((o) => {
          o[field] = value;
        }),
        400,
        'ERR_CONFIG_INVALID',
        `config.options[0].${field}`,
      );
      expect(res.body.error.message).toContain('not allowed');
    });
  }
});

describe('body validation', () => {
  it('refuses malformed JSON with 400 ERR_BODY_INVALID_JSON', async () => {
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/json')
      .send('{"config": {');
    expectError(res, 400, 'ERR_BODY_INVALID_JSON', 'body');
  });

  it('refuses a JSON array body', async () => {
    const res = await request(app).post('/llm/v1/chatComplete').send([1, 2]);
    expectError(res, 400, 'ERR_BODY_INVALID', 'body');
  });

  it('refuses an empty Format 1 body as a body that is not an object', async () => {
    const res = await request(app).post('/llm/v1/chatComplete');
    expectError(res, 400, 'ERR_BODY_INVALID', 'body');
  });

  it('refuses a Format 1 body without params', async () => {
    const body = seedOpenAIAnthropicBody() as Partial<ReturnType<typeof seedOpenAIAnthropicBody>>;
    delete body.params;
    await expectRejected(body, 400, 'ERR_BODY_INVALID', 'params');
  });

  it('refuses a body over the limit with 413 ERR_BODY_TOO_LARGE', async () => {
    const body = seedOpenAIAnthropicBody();
    body.params.messages[0] = { role: 'user', content: 'x'.repeat(70 * 1024) };
    const res = await request(app).post('/llm/v1/chatComplete').send(body);
    expectError(res, 413, 'ERR_BODY_TOO_LARGE', 'body');
  });

  it('reads JSON sent without a JSON content type', async () => {
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'text/plain')
      .send(JSON.stringify(seedAzureOpenAIBody()));
    expect(res.status).toBe(200);
  });

  it('refuses a request without a config when the server has no default', async () => {
    const body = seedOpenAIAnthropicBody() as Partial<ReturnType<typeof seedOpenAIAnthropicBody>>;
    delete body.config;
    await expectRejected(body, 400, 'ERR_CONFIG_MISSING', 'config');
  });
});

describe('the x-portkey-config header (Format 2)', () => {
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

  it('refuses a header that is neither JSON nor a server config name', async () => {
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', 'pc-prod-123')
      .send(chat);
    expectError(res, 400, 'ERR_CONFIG_NOT_FOUND', 'x-portkey-config');
  });

  it('refuses a header with broken JSON', async () => {
    const res = await request(app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', '{"provider":')
      .send(chat);
    expectError(res, 400, 'ERR_CONFIG_INVALID_JSON', 'x-portkey-config');
  });

  const cases: [string, unknown, string][] = [
    ['targets without a strategy', { targets: [{ provider: 'openai' }] }, 'config.strategy'],
    ['a strategy without targets', { strategy: { mode: 'loadbalance' } }, 'config.targets'],
    [
      'a leaf without a provider',
      { strategy: { mode: 'single' }, targets: [{ api_key: 'x' }] },
      'config.targets[0].provider',
    ],
    [
      'an unknown nested mode',
      {
        strategy: { mode: 'loadbalance' },
        targets: [{ strategy: { mode: 'weighted' }, targets: [{ provider: 'openai' }] }],
      },
      'config.targets[0].strategy.mode',
    ],
    [
      'nested all-zero weights',
      {
        strategy: { mode: 'loadbalance' },
        targets: [
          { strategy: { mode: 'loadbalance' }, targets: [{ provider: 'openai', weight: 0 }] },
        ],
      },
      'config.targets[0].targets',
    ],
    [
      'nesting too deep',
      {
        strategy: { mode: 'single' },
        targets: [
          {
            strategy: { mode: 'single' },
            targets: [
              {
                strategy: { mode: 'single' },
                targets: [
                  {
                    strategy: { mode: 'single' },
                    targets: [{ strategy: { mode: 'single' }, targets: [{ provider: 'openai' }] }],
                  },
                ],
              },
            ],
          },
        ],
      },
      'config.targets[0].targets[0].targets[0].targets[0].targets',
    ],
    [
      'a nested Azure target without a deployment',
      {
        strategy: { mode: 'single' },
        targets: [{ provider: 'azure-openai', resource_name: 'r', api_version: '2024-10-21' }],
      },
      'config.targets[0].deploymentId',
    ],
  ];
  for (const [name, config, param] of cases) {
    it(`refuses ${name} with a 400 naming ${param}`, async () => {
      const res = await request(app)
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .send(chat);
      expectError(res, 400, 'ERR_CONFIG_INVALID', param);
    });
  }
});

describe('prototype pollution', () => {
  const payloads: [string, string, string][] = [
    [
      '__proto__ in an option',
      '{"provider":"openai","__proto__":{"polluted":true}}',
      'config.options[0].__proto__',
    ],
    [
      '__proto__ in override_params',
      '{"provider":"openai","override_params":{"__proto__":{"polluted":true}}}',
      'config.options[0].override_params.__proto__',
    ],
    [
      'constructor.prototype in override_params',
      '{"provider":"openai","override_params":{"constructor":{"prototype":{"polluted":true}}}}',
      'config.options[0].override_params.constructor',
    ],
  ];
  for (const [name, optionJson, param] of payloads) {
    it(`refuses ${name} and leaves Object.prototype alone`, async () => {
      const body = `{"config":{"mode":"single","options":[${optionJson}]},"params":{"model":"m","messages":[{"role":"user","content":"hi"}]}}`;
      const res = await request(app)
        .post('/llm/v1/chatComplete')
        .set('content-type', 'application/json')
        .send(body);
      expectError(res, 400, 'ERR_CONFIG_INVALID', param);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it('refuses __proto__ at the config root', async () => {
    const body =
      '{"config":{"mode":"single","options":[{"provider":"openai"}],"__proto__":{"polluted":true}},"params":{"messages":[]}}';
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/json')
      .send(body);
    expectError(res, 400, 'ERR_CONFIG_INVALID', 'config.__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('forwards __proto__ in params as plain data without polluting', async () => {
    const body = `{"config":{"mode":"single","options":[{"provider":"openai","apiKey":"${keys.openai}"}]},"params":{"model":"m","messages":[{"role":"user","content":"hi"}],"__proto__":{"polluted":true}}}`;
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/json')
      .send(body);
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
