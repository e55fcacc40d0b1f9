import type { Request } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LoadBalancerOptions, portkeyLoadBalancer } from '../../lib/index.js';
import {
  azureDeployment,
  createApp,
  keys,
  simulatorOptions,
  useProviders,
} from '../helpers/app.js';
import { virtualKeySecrets } from '../helpers/secrets.js';

const providers = useProviders();

const chat = { model: 'x', messages: [{ role: 'user', content: 'hi' }] };

/** The simulators accept the virtual keys too: they are the server's real keys. */
async function providersAcceptingVirtualKeys() {
  const { startOpenAISimulator, startAnthropicSimulator, startAzureOpenAISimulator } = await import(
    '../../simulators/index.js'
  );
  return Promise.all([
    startOpenAISimulator({ apiKeys: [virtualKeySecrets.openaiProd, keys.openai] }),
    startAnthropicSimulator({ apiKeys: [virtualKeySecrets.anthropicProd] }),
    startAzureOpenAISimulator({
      apiKeys: [virtualKeySecrets.azureProd],
      deployments: { 'gpt-4o': 'gpt-4o-2024', 'gpt-4o-mini': 'gpt-4o-mini-2024' },
    }),
  ]);
}

const virtualKeys = {
  'openai-prod': { provider: 'openai' as const, apiKey: virtualKeySecrets.openaiProd },
  'anthropic-prod': { provider: 'anthropic' as const, api_key: virtualKeySecrets.anthropicProd },
  'azure-prod': {
    provider: 'azure-openai' as const,
    apiKey: virtualKeySecrets.azureProd,
    resourceName: 'contoso-prod',
    deploymentId: 'gpt-4o',
    apiVersion: '2024-10-21',
  },
};

describe('server-held credentials (virtual keys)', () => {
  let sims: Awaited<ReturnType<typeof providersAcceptingVirtualKeys>>;
  beforeAll(async () => {
    sims = await providersAcceptingVirtualKeys();
  });
  afterAll(async () => {
    await Promise.all(sims.map((sim) => sim.close()));
  });
  beforeEach(() => {
    for (const sim of sims) sim.reset();
  });

  function app(extra: LoadBalancerOptions = {}) {
    const [openai, anthropic, azure] = sims;
    return createApp(
      '/llm',
      portkeyLoadBalancer({
        circuitBreaker: false,
        virtualKeys,
        providers: {
          openai: { baseURL: openai?.url },
          anthropic: { baseURL: anthropic?.url },
          'azure-openai': { baseURL: azure?.url },
        },
        ...extra,
      }),
    );
  }

  it('sends the server-held key for a virtual_key and never returns it', async () => {
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({
          virtual_key: 'anthropic-prod',
          override_params: { model: 'claude-3-5-haiku-latest' },
        }),
      )
      .send(chat);
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
    expect(sims[1]?.requests[0]?.headers['x-api-key']).toBe(virtualKeySecrets.anthropicProd);
  });

  it('accepts virtual keys in Format 1 options (virtualKey or virtual_key)', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .send({
        config: {
          mode: 'fallback',
          options: [{ virtualKey: 'openai-prod' }, { virtual_key: 'anthropic-prod' }],
        },
        params: chat,
      });
    expect(res.status).toBe(200);
    expect(sims[0]?.requests[0]?.headers.authorization).toBe(
      `Bearer ${virtualKeySecrets.openaiProd}`,
    );
  });

  it('hands a parent virtual key to children, which may pick another deployment on its resource', async () => {
    const config = {
      virtual_key: 'azure-prod',
      strategy: { mode: 'single' },
      targets: [{ deployment_id: 'gpt-4o-mini' }],
    };
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);
    expect(res.status).toBe(200);
    expect(sims[2]?.requests[0]?.url).toBe(
      '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21',
    );
    expect(sims[2]?.requests[0]?.headers['api-key']).toBe(virtualKeySecrets.azureProd);
  });

  const refused: [string, unknown, string][] = [
    ['an unknown virtual key', { virtual_key: 'openai-prd' }, 'config.virtual_key'],
    [
      'a key next to a virtual key',
      { virtual_key: 'openai-prod', api_key: 'sk-mine' },
      'config.api_key',
    ],
    [
      "a provider that is not the virtual key's",
      { virtual_key: 'openai-prod', provider: 'anthropic' },
      'config.provider',
    ],
    [
      'another Azure resource for a virtual key',
      { virtual_key: 'azure-prod', resource_name: 'attacker' },
      'config.resource_name',
    ],
    [
      'a custom host for a virtual key',
      { virtual_key: 'openai-prod', custom_host: 'https://evil.invalid/v1' },
      'config.custom_host',
    ],
  ];
  for (const [name, config, param] of refused) {
    it(`refuses ${name} with a 400 naming ${param}`, async () => {
      const res = await request(app())
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .send(chat);
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe(param);
      expect(sims.every((sim) => sim.requests.length === 0)).toBe(true);
    });
  }

  it('suggests the intended virtual key', async () => {
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', '{"virtual_key":"openai-prd"}')
      .send(chat);
    expect(res.body.error.message).toContain('did you mean "openai-prod"?');
  });

  it('refuses invalid virtual keys at startup', () => {
    expect(() =>
      portkeyLoadBalancer({ virtualKeys: { bad: { provider: 'azure-openai', apiKey: 'k' } } }),
    ).toThrow(/virtualKeys\.bad\.resourceName/);
    expect(() =>
      portkeyLoadBalancer({ virtualKeys: { bad: { provider: 'openai', weight: 2 } as never } }),
    ).toThrow(/not a credential field/);
  });

  describe("requestConfig: 'virtual-keys-only'", () => {
    const only = () => app({ requestConfig: 'virtual-keys-only' });
    it('accepts configs that choose among server-held keys, with weights and params', async () => {
      const config = {
        strategy: { mode: 'loadbalance' },
        targets: [
          { virtual_key: 'openai-prod', weight: 3, override_params: { model: 'gpt-4o-mini' } },
          { virtual_key: 'anthropic-prod', weight: 1 },
        ],
      };
      const res = await request(only())
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .send(chat);
      expect(res.status).toBe(200);
    });

    const forbidden: [string, unknown, string][] = [
      ['a raw key', { provider: 'openai', api_key: keys.openai }, 'config.api_key'],
      [
        'a nested raw key',
        {
          strategy: { mode: 'fallback' },
          targets: [{ virtual_key: 'openai-prod' }, { provider: 'openai', apiKey: keys.openai }],
        },
        'config.targets[1].apiKey',
      ],
      [
        'a custom host',
        { provider: 'openai', custom_host: 'https://evil.invalid/v1' },
        'config.custom_host',
      ],
      [
        'an Azure resource',
        {
          provider: 'azure-openai',
          resource_name: 'attacker',
          deployment_id: 'd',
          api_version: '2024-10-21',
        },
        'config.resource_name',
      ],
      ['a keyless target', { provider: 'openai' }, 'config.virtual_key'],
    ];
    for (const [name, config, param] of forbidden) {
      it(`answers 403 for ${name} and sends nothing`, async () => {
        const res = await request(only())
          .post('/llm/v1/chat/completions')
          .set('x-portkey-config', JSON.stringify(config))
          .send(chat);
        expect(res.status).toBe(403);
        expect(res.body.error).toMatchObject({
          code: 'ERR_CONFIG_FORBIDDEN',
          param,
          type: 'invalid_request_error',
        });
        expect(sims.every((sim) => sim.requests.length === 0)).toBe(true);
      });
    }

    it('answers 403 for a Format 1 body carrying keys, as in the seed', async () => {
      const res = await request(only())
        .post('/llm/v1/chatComplete')
        .send({
          config: { mode: 'single', options: [{ provider: 'openai', apiKey: keys.openai }] },
          params: chat,
        });
      expect(res.status).toBe(403);
      expect(res.body.error.param).toBe('config.options[0].apiKey');
    });
  });
});

describe('server-held configs', () => {
  const configs = {
    fast: { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o-mini' } },
    smart: {
      provider: 'anthropic',
      api_key: keys.anthropic,
      override_params: { model: 'claude-3-5-sonnet-latest' },
    },
  } as const;
  const app = (extra: LoadBalancerOptions = {}) =>
    createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, { circuitBreaker: false, configs, ...extra }),
      ),
    );

  it('selects a config by name in x-portkey-config', async () => {
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', 'smart')
      .send(chat);
    expect(res.status).toBe(200);
    expect(providers.anthropic.requests[0]?.body?.model).toBe('claude-3-5-sonnet-latest');
  });

  it('selects a config by name in a Format 1 body', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .send({ config: 'fast', params: chat });
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.body?.model).toBe('gpt-4o-mini');
  });

  it('refuses an unknown name with a suggestion', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .send({ config: 'fsat', params: chat });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_CONFIG_NOT_FOUND', param: 'config' });
    expect(res.body.error.message).toContain('did you mean "fast"?');
  });

  it('validates server configs at startup', () => {
    expect(() =>
      portkeyLoadBalancer({ configs: { broken: { provider: 'opnai' } as never } }),
    ).toThrow(/options\.configs\.broken\.provider/);
  });

  it("requestConfig: 'deny' refuses request configs but serves named and default configs", async () => {
    const deny = app({ requestConfig: 'deny', config: configs.fast });
    const inline = await request(deny)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(configs.smart))
      .send(chat);
    expect(inline.status).toBe(403);
    expect(inline.body.error.code).toBe('ERR_CONFIG_FORBIDDEN');
    const seedBody = await request(deny)
      .post('/llm/v1/chatComplete')
      .send({ config: { mode: 'single', options: [{ provider: 'openai' }] }, params: chat });
    expect(seedBody.status).toBe(403);
    expect(providers.requestCount()).toBe(0);
    expect(
      (
        await request(deny)
          .post('/llm/v1/chat/completions')
          .set('x-portkey-config', 'smart')
          .send(chat)
      ).status,
    ).toBe(200);
    expect((await request(deny).post('/llm/v1/chat/completions').send(chat)).status).toBe(200);
  });
});

describe('getConfig: routing from the host app', () => {
  type WithUser = Request & { user?: { plan: string } };
  const configs = {
    free: { provider: 'openai', api_key: keys.openai, override_params: { model: 'gpt-4o-mini' } },
    pro: {
      provider: 'anthropic',
      api_key: keys.anthropic,
      override_params: { model: 'claude-3-5-sonnet-latest' },
    },
  } as const;

  function app(getConfig: LoadBalancerOptions['getConfig']) {
    return createApp(
      '/llm',
      (req: WithUser, _res, next) => {
        const plan = req.headers['x-test-plan'];
        if (typeof plan === 'string') req.user = { plan };
        next();
      },
      portkeyLoadBalancer(
        simulatorOptions(providers, {
          circuitBreaker: false,
          configs,
          getConfig,
          requestConfig: 'deny',
        }),
      ),
    );
  }

  it('routes by what the host auth established, by name', async () => {
    const instance = app((req) => (req as WithUser).user?.plan);
    const pro = await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-test-plan', 'pro')
      .send(chat);
    expect(pro.headers['x-portkey-provider']).toBe('anthropic');
    const free = await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-test-plan', 'free')
      .send(chat);
    expect(free.headers['x-portkey-provider']).toBe('openai');
  });

  it('accepts a built config object, also from a Promise', async () => {
    const instance = app(async (req) => ({
      ...configs.free,
      override_params: { model: `tenant-${String(req.headers['x-test-plan'])}` },
    }));
    const res = await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-test-plan', 'acme')
      .send(chat);
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.body?.model).toBe('tenant-acme');
  });

  it('answers a name that is not among configs as a server misconfiguration', async () => {
    const instance = app(() => 'prp');
    const res = await request(instance).post('/llm/v1/chat/completions').send(chat);
    expect(res.status).toBe(500);
    expect(res.body.error).toMatchObject({
      code: 'ERR_CONFIG_NOT_FOUND',
      param: 'getConfig',
      type: 'api_error',
    });
    expect(res.body.error.message).toContain('did you mean "pro"');
    expect(providers.requestCount()).toBe(0);
  });

  it("falls back to the request's config when it returns undefined (here: denied)", async () => {
    const instance = app(() => undefined);
    const res = await request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(configs.pro))
      .send(chat);
    expect(res.status).toBe(403);
  });
});

describe('custom hosts', () => {
  const resolved: Record<string, string[]> = {
    'llm.allowed.invalid': ['127.0.0.1'],
    'llm.corp.invalid': ['127.0.0.1'],
    'metadata.corp.invalid': ['169.254.169.254'],
    'private.corp.invalid': ['10.1.2.3'],
    'mixed.corp.invalid': ['93.184.216.34', '192.168.1.10'],
  };
  const lookups: string[] = [];
  const resolveHost = async (hostname: string) => {
    lookups.push(hostname);
    const addresses = resolved[hostname];
    if (addresses === undefined) throw new Error('not found');
    return addresses;
  };

  function app(allowedHosts: (string | RegExp)[]) {
    return createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, { circuitBreaker: false, allowedHosts, resolveHost }),
      ),
    );
  }
  const openaiAt = (customHost: string) => ({
    provider: 'openai' as const,
    api_key: keys.openai,
    custom_host: customHost,
  });
  const send = (instance: ReturnType<typeof app>, config: unknown) =>
    request(instance)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .send(chat);

  it('sends to an exactly listed host, resolved through the injected resolver', async () => {
    const origin = `http://llm.allowed.invalid:${providers.openai.port}`;
    const res = await send(app([origin]), openaiAt(`${origin}/v1`));
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.headers.host).toBe(
      `llm.allowed.invalid:${providers.openai.port}`,
    );
    expect(lookups).toContain('llm.allowed.invalid');
  });

  it('refuses a host that is not listed', async () => {
    const res = await send(
      app(['https://llm.allowed.invalid']),
      openaiAt('https://evil.invalid/v1'),
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'ERR_HOST_NOT_ALLOWED',
      param: 'config.custom_host',
    });
  });

  it('refuses any custom host when allowedHosts is empty (the default)', async () => {
    const res = await send(app([]), openaiAt('https://llm.allowed.invalid/v1'));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_HOST_NOT_ALLOWED');
  });

  const internal: [string, string][] = [
    ['a name resolving to the cloud metadata address', 'http://metadata.corp.invalid/v1'],
    ['a name resolving to a private address', 'http://private.corp.invalid/v1'],
    ['a name with one private address among public ones', 'http://mixed.corp.invalid/v1'],
    ['the metadata address itself', 'http://169.254.169.254/latest'],
    ['a loopback address in hex', 'http://0x7f000001/v1'],
    ['a loopback address as one number', 'http://2130706433/v1'],
    ['a private IPv4', 'http://10.0.0.1/v1'],
    ['IPv6 loopback', 'http://[::1]/v1'],
    ['an IPv4-mapped IPv6 metadata address', 'http://[::ffff:169.254.169.254]/v1'],
    ['an IPv6 unique-local metadata address', 'http://[fd00:ec2::254]/v1'],
  ];
  for (const [name, host] of internal) {
    it(`refuses ${name} matched only by a pattern`, async () => {
      const res = await send(app([/.*/]), openaiAt(host));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('ERR_HOST_NOT_ALLOWED');
      expect(providers.requestCount()).toBe(0);
    });
  }

  // Finding 4: an exact entry exempts its own origin only, not its host on every port.
  const otherSpellings = ['127.0.0.1', '2130706433', '0177.0.0.1', '0x7f.0.0.1', '127.1'];
  for (const spelling of otherSpellings) {
    it(`refuses ${spelling} on another port than the exact entry, even when a pattern matches it`, async () => {
      // The exact entry names a port nothing listens on; the simulator stands for another
      // internal service on the same host.
      const instance = app(['http://127.0.0.1:1', /^http:\/\/127\.0\.0\.1:\d+$/]);
      const res = await send(instance, openaiAt(`http://${spelling}:${providers.openai.port}/v1`));
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe('ERR_HOST_NOT_ALLOWED');
      expect(providers.requestCount()).toBe(0);
    });
  }

  it('refuses a wildcard match of an exactly listed name on another port', async () => {
    const instance = app([
      'http://llm.corp.invalid:1',
      `http://*.corp.invalid:${providers.openai.port}`,
    ]);
    const res = await send(
      instance,
      openaiAt(`http://llm.corp.invalid:${providers.openai.port}/v1`),
    );
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.code).toBe('ERR_HOST_NOT_ALLOWED');
    expect(providers.requestCount()).toBe(0);
  });

  it('still lets the exact origin itself reach its internal address', async () => {
    const origin = `http://llm.corp.invalid:${providers.openai.port}`;
    const instance = app([origin, 'http://*.corp.invalid']);
    const res = await send(instance, openaiAt(`${origin}/v1`));
    expect(res.status, res.text).toBe(200);
    expect(providers.openai.requests).toHaveLength(1);
  });

  it('refuses a wildcard match that resolves internally', async () => {
    const res = await send(
      app(['http://*.corp.invalid']),
      openaiAt('http://metadata.corp.invalid/v1'),
    );
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('169.254.169.254');
  });

  it('refuses custom hosts with credentials, queries or other schemes', async () => {
    for (const host of [
      'http://user:pass@llm.allowed.invalid/v1',
      'http://llm.allowed.invalid/v1?x=1',
      'file:///etc/passwd',
      'gopher://llm.allowed.invalid',
    ]) {
      const res = await send(app(['http://llm.allowed.invalid']), openaiAt(host));
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe('config.custom_host');
    }
  });

  it('checks addresses again at connection time (DNS rebinding)', async () => {
    let calls = 0;
    const rebinding = async () => (++calls === 1 ? ['93.184.216.34'] : ['169.254.169.254']);
    const instance = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(providers, {
          circuitBreaker: false,
          allowedHosts: ['http://*.rebind.invalid'],
          resolveHost: rebinding,
        }),
      ),
    );
    const res = await send(instance, openaiAt('http://api.rebind.invalid/v1'));
    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain('ERR_HOST_NOT_ALLOWED');
    expect(calls).toBe(2);
  });

  it('trusts custom hosts in server-held configs', async () => {
    const instance = createApp(
      '/llm',
      portkeyLoadBalancer({ circuitBreaker: false, config: openaiAt(providers.openai.url) }),
    );
    expect((await request(instance).post('/llm/v1/chat/completions').send(chat)).status).toBe(200);
  });

  it('never follows a provider redirect', async () => {
    providers.openai.script({
      status: 307,
      body: {},
      headers: { location: 'http://169.254.169.254/latest/meta-data' },
    });
    const res = await request(app([]))
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .send(chat);
    expect(res.status).toBe(502);
    expect(res.headers.location).toBeUndefined();
    expect(res.body.error.message).toContain('redirect');
    expect(providers.openai.requests).toHaveLength(1);
  });
});

describe('per-target forward_headers', () => {
  const app = () =>
    createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, { circuitBreaker: false })));

  it('forwards the headers a target lists', async () => {
    const config = { provider: 'openai', api_key: keys.openai, forward_headers: ['X-Tenant-Id'] };
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(config))
      .set('x-tenant-id', 'acme')
      .set('x-other', 'no')
      .send(chat);
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.headers['x-tenant-id']).toBe('acme');
    expect(providers.openai.requests[0]?.headers['x-other']).toBeUndefined();
  });

  it('refuses forward_headers naming credentials', async () => {
    for (const name of ['authorization', 'Cookie', 'x-portkey-config', 'x-forwarded-for']) {
      const config = { provider: 'openai', api_key: keys.openai, forward_headers: [name] };
      const res = await request(app())
        .post('/llm/v1/chat/completions')
        .set('x-portkey-config', JSON.stringify(config))
        .send(chat);
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe('config.forward_headers');
    }
    expect(providers.requestCount()).toBe(0);
  });
});

describe('limits', () => {
  const app = () =>
    createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, { circuitBreaker: false })));

  it('bounds the number of messages', async () => {
    const messages = Array.from({ length: 4097 }, () => ({ role: 'user', content: 'x' }));
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ provider: 'openai', api_key: keys.openai }))
      .send({ model: 'x', messages });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_PARAMS_INVALID', param: 'body.messages' });
  });

  it('Azure deployment and version names refuse encodings', async () => {
    for (const [field, value] of [
      ['deployment_id', 'a%2f..%2fadmin'],
      ['deployment_id', 'a@b'],
      ['deployment_id', 'a:b'],
      ['deployment_id', 'a\\b'],
      ['deployment_id', 'dep\u2024loy'],
      ['api_version', '2024-10-21#'],
      ['resource_name', 'r\uff0eevil'],
    ]) {
      const option = {
        provider: 'azure-openai',
        api_key: keys.azure,
        resource_name: azureDeployment.resourceName,
        deployment_id: 'd',
        api_version: '2024-10-21',
        [field as string]: value,
      };
      // In the body: headers cannot carry most of these characters.
      const res = await request(app())
        .post('/llm/v1/chatComplete')
        .send({ config: { mode: 'single', options: [option] }, params: chat });
      expect(res.status, `${field}=${value}`).toBe(400);
      expect(res.body.error.param).toBe(`config.options[0].${field}`);
    }
    expect(providers.requestCount()).toBe(0);
  });
});
