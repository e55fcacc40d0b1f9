import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { configLimits } from '../../lib/config/limits.js';
import { checkConfig } from '../../lib/config/normalize.js';
import { configSchema, validateConfig } from '../../lib/index.js';
import { tooDeepPath } from '../../lib/shared/nesting-depth.js';

describe('validateConfig', () => {
  it('reports a custom_host next to a virtual key once, whether own or inherited', () => {
    const virtualKeys = { prod: { provider: 'openai' as const, apiKey: 'sk-virtual-0123456789' } };
    const own = validateConfig(
      { virtual_key: 'prod', custom_host: 'https://llm.example' },
      { virtualKeys },
    );
    expect(own.errors.map((error) => error.param)).toEqual(['config.custom_host']);
    const inherited = validateConfig(
      {
        custom_host: 'https://llm.example',
        strategy: { mode: 'fallback' },
        targets: [{ virtual_key: 'prod' }],
      },
      { virtualKeys },
    );
    expect(inherited.errors.map((error) => error.param)).toEqual(['config.targets[0].custom_host']);
  });

  it('accepts both seed configs and the nested Format 2 example', () => {
    expect(
      validateConfig({
        mode: 'loadbalance',
        options: [
          { provider: 'openai', apiKey: 'k', weight: 0.5 },
          { provider: 'anthropic', apiKey: 'k', weight: 0.5 },
        ],
      }),
    ).toEqual({ valid: true, errors: [], omitted: 0 });
    expect(
      validateConfig({
        strategy: { mode: 'loadbalance' },
        targets: [
          { provider: 'anthropic', api_key: 'k', weight: 0.7 },
          {
            strategy: { mode: 'single' },
            weight: 0.3,
            targets: [{ provider: 'openai', api_key: 'k' }],
          },
        ],
      }).valid,
    ).toBe(true);
  });

  it('lists every problem with its path', () => {
    const result = validateConfig({
      mode: 'loadbalance',
      options: [{ provider: 'openai', weight: -1 }, { provider: 'not a name' }],
    });
    expect(result.valid).toBe(false);
    expect(result.errors.map((error) => error.param)).toEqual([
      'config.options[0].weight',
      'config.options[1].provider',
    ]);
  });

  it('refuses NaN and infinite weights that only a server-side config can carry', () => {
    for (const weight of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const result = validateConfig({
        mode: 'loadbalance',
        options: [{ provider: 'openai', weight }],
      });
      expect(result.errors[0]?.param).toBe('config.options[0].weight');
    }
  });

  it('allows all-zero weights under single, which ignores weights', () => {
    expect(
      validateConfig({ mode: 'single', options: [{ provider: 'openai', weight: 0 }] }).valid,
    ).toBe(true);
  });
});

describe('the exported configSchema', () => {
  // A fresh strict Ajv, as a consumer would use it: the schema must compile on its own (no
  // keyword or format the library's own instance adds).
  const validate = new Ajv({ strict: true, allErrors: true }).compile(configSchema);

  /** Nests `leaf` under `depth` single-strategy nodes. */
  function nested(depth: number, leaf: object): object {
    let node = leaf;
    for (let level = 0; level < depth; level++) {
      node = { strategy: { mode: 'single' }, targets: [node] };
    }
    return node;
  }

  const azure = {
    provider: 'azure-openai',
    api_key: 'k',
    resource_name: 'contoso-east',
    deployment_id: 'gpt-4o',
    api_version: '2024-10-21',
  };

  const valid: Record<string, unknown> = {
    'Format 1 loadbalance (the seed)': {
      mode: 'loadbalance',
      options: [
        { provider: 'openai', apiKey: 'k', weight: 0.5 },
        { provider: 'anthropic', apiKey: 'k', weight: 0.5 },
      ],
    },
    'Format 1 fallback with retry and virtual keys': {
      mode: 'fallback',
      retry: { attempts: 2, on_status_codes: [429, 503] },
      options: [{ virtualKey: 'openai-prod' }, { virtual_key: 'anthropic-prod' }],
    },
    'Format 2 single target': { provider: 'openai', api_key: 'k', override_params: { model: 'x' } },
    'Format 2 nested with Azure and virtual keys': {
      strategy: { mode: 'fallback', on_status_codes: [500] },
      targets: [
        {
          strategy: { mode: 'loadbalance' },
          weight: 0.7,
          targets: [
            { virtual_key: 'openai-prod', weight: 1 },
            { ...azure, weight: 2, retry: { attempts: 1, use_retry_after_header: true } },
          ],
        },
        { provider: 'anthropic', apiKey: 'k', request_timeout: 5000 },
      ],
    },
    'Format 2 at the deepest allowed nesting': nested(configLimits.maxDepth, {
      provider: 'openai',
      api_key: 'k',
    }),
  };

  const invalid: Record<string, unknown> = {
    'a provider that is not a name': { provider: 'Open AI', api_key: 'k' },
    'a negative weight in Format 1': {
      mode: 'loadbalance',
      options: [{ provider: 'openai', weight: -1 }],
    },
    'Format 1 without options': { mode: 'single' },
    'Format 1 with an empty options list': { mode: 'single', options: [] },
    'an unknown field': { provider: 'openai', api_key: 'k', apikey: 'k' },
    'a strategy without mode': { strategy: {}, targets: [{ provider: 'openai' }] },
    'an unknown mode': { strategy: { mode: 'roundrobin' }, targets: [{ provider: 'openai' }] },
    'an Azure resource name that is not a host label': { ...azure, resource_name: 'evil.com/x' },
    'a virtual key with a slash': { virtual_key: '../openai' },
    'a retry with too many attempts': {
      provider: 'openai',
      retry: { attempts: configLimits.maxRetryAttempts + 1 },
    },
    'a status code out of range': {
      strategy: { mode: 'fallback', on_status_codes: [700] },
      targets: [{ provider: 'openai' }],
    },
    '__proto__ in override_params': JSON.parse(
      '{"provider":"openai","override_params":{"__proto__":{"polluted":true}}}',
    ),
    'nesting deeper than allowed': nested(configLimits.maxDepth + 1, { provider: 'openai' }),
    'an invalid nested target': {
      strategy: { mode: 'loadbalance' },
      targets: [{ strategy: { mode: 'single' }, targets: [{ provider: 'openai', weight: 'x' }] }],
    },
    'not an object': ['openai'],
  };

  for (const [name, config] of Object.entries(valid)) {
    it(`accepts ${name}`, () => {
      expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    });
  }

  for (const [name, config] of Object.entries(invalid)) {
    it(`rejects ${name}`, () => {
      expect(validate(config)).toBe(false);
      expect(validate.errors?.length).toBeGreaterThan(0);
    });
  }

  it('points at the offending value', () => {
    validate({ mode: 'loadbalance', options: [{ provider: 'openai' }, { provider: 'x/y' }] });
    expect(validate.errors?.map((error) => error.instancePath)).toContain('/options/1/provider');
  });
});

describe('provider names', () => {
  it('reports an unknown provider at resolution, naming the field, with a did-you-mean', () => {
    const result = validateConfig({
      strategy: { mode: 'fallback' },
      targets: [
        { provider: 'openai', api_key: 'k' },
        { provider: 'grok', api_key: 'k' },
      ],
    });
    expect(result.valid).toBe(false);
    expect(result.errors).toEqual([
      {
        param: 'config.targets[1].provider',
        message: expect.stringContaining('(did you mean "groq"?)'),
      },
    ]);
  });

  it('accepts a server-defined provider only when the server defines it', () => {
    const config = { provider: 'local-vllm' };
    expect(validateConfig(config).errors[0]?.param).toBe('config.provider');
    const providers = {
      'local-vllm': { type: 'openai-compatible' as const, baseURL: 'http://vllm.internal:8000/v1' },
    };
    expect(validateConfig(config, { providers })).toEqual({ valid: true, errors: [], omitted: 0 });
    // The schema itself accepts any well-formed name: it cannot know the server's providers.
    expect(new Ajv({ strict: false }).validate(configSchema, config)).toBe(true);
  });

  it('requires a key for the hosted OpenAI-compatible providers but not for ollama', () => {
    const result = validateConfig({ provider: 'groq' });
    expect(result.errors.map((error) => error.param)).toEqual(['config.api_key']);
    const viaVirtualKey = validateConfig(
      { virtual_key: 'groq-prod' },
      { virtualKeys: { 'groq-prod': { provider: 'groq', apiKey: 'gsk-0123456789' } } },
    );
    expect(viaVirtualKey.valid).toBe(true);
  });

  it('requires a custom_host for ollama unless the server gives it a baseURL', () => {
    const bare = validateConfig({ provider: 'ollama' });
    expect(bare.errors.map((error) => error.param)).toEqual(['config.custom_host']);
    expect(bare.errors[0]?.message).toContain('providers.ollama.baseURL');
    expect(
      validateConfig({ provider: 'ollama', custom_host: 'http://127.0.0.1:11434/v1' }).valid,
    ).toBe(true);
    const configured = { ollama: { baseURL: 'http://ollama.internal:11434/v1' } };
    expect(validateConfig({ provider: 'ollama' }, { providers: configured }).valid).toBe(true);
  });
});

describe('checkConfig resolution', () => {
  it('labels Format 1 targets by index and Format 2 targets by path', () => {
    const v1 = checkConfig({
      mode: 'loadbalance',
      options: [{ provider: 'openai' }, { provider: 'anthropic' }],
    });
    expect(v1.tree?.targets.map((target) => target.label)).toEqual(['0', '1']);
    const v2 = checkConfig({
      strategy: { mode: 'single' },
      targets: [{ strategy: { mode: 'single' }, targets: [{ provider: 'openai' }] }],
    });
    expect(v2.tree?.targets[0]?.label).toBe('config.targets[0].targets[0]');
  });

  it('inherits provider, credentials, override_params and request_timeout', () => {
    const check = checkConfig({
      provider: 'azure-openai',
      api_key: 'azure-key',
      resource_name: 'res',
      deployment_id: 'dep',
      api_version: '2024-10-21',
      request_timeout: 5000,
      override_params: { temperature: 0.1, top_p: 0.5 },
      strategy: { mode: 'single' },
      targets: [{ deployment_id: 'other-dep', override_params: { temperature: 0.9 } }],
    });
    const target = check.tree?.targets[0];
    expect(target).toMatchObject({
      provider: 'azure-openai',
      credentials: {
        apiKey: 'azure-key',
        resourceName: 'res',
        deploymentId: 'other-dep',
        apiVersion: '2024-10-21',
      },
      overrideParams: { temperature: 0.9, top_p: 0.5 },
      requestTimeout: 5000,
    });
  });

  it('does not inherit credentials into a child that names its own provider', () => {
    const check = checkConfig({
      provider: 'openai',
      api_key: 'openai-key',
      strategy: { mode: 'single' },
      targets: [{ provider: 'anthropic' }],
    });
    const target = check.tree?.targets[0];
    expect(target?.provider).toBe('anthropic');
    expect(target?.credentials.apiKey).toBeUndefined();
  });

  it('prefers camelCase when a field is given in both spellings', () => {
    const check = checkConfig({ provider: 'openai', apiKey: 'camel', api_key: 'snake' });
    expect(check.tree?.targets[0]?.credentials.apiKey).toBe('camel');
  });
});

describe('validation bounds', () => {
  const invalidTargets = (count: number) => ({
    strategy: { mode: 'loadbalance' },
    targets: Array.from({ length: count }, (_, index) => ({
      provider: 'openai',
      [`x${index}`]: 1,
    })),
  });

  it('refuses an over-long targets list with one problem, without walking its entries', () => {
    const result = validateConfig(invalidTargets(20_000));
    expect(result.errors).toEqual([
      { param: 'config.targets', message: expect.stringContaining('has 20000 entries') },
    ]);
    expect(result.omitted).toBe(0);
  });

  it('describes at most 10 problems and counts the others', () => {
    const result = validateConfig(invalidTargets(32));
    expect(result.errors).toHaveLength(configLimits.maxReportedProblems);
    expect(result.omitted).toBe(22);
  });

  it('looks for only the first problem in a config of many nodes', () => {
    const group = { strategy: { mode: 'fallback' }, targets: invalidTargets(32).targets };
    const config = { strategy: { mode: 'fallback' }, targets: Array(10).fill(group) };
    const check = checkConfig(config);
    expect(check.problems).toHaveLength(1);
    expect(check.problems[0]?.param).toBe('config.targets[0].targets[0].x0');
    expect(check).toMatchObject({ valid: false, omitted: 0, complete: false });
    // A small config is checked in full.
    expect(checkConfig(invalidTargets(20)).complete).toBe(true);
  });

  it('refuses nodes and node fields with more fields than any valid one has', () => {
    const wide = Object.fromEntries(
      Array.from({ length: 100_000 }, (_, index) => [`k${index}`, 1]),
    );
    expect(validateConfig({ provider: 'openai', ...wide }).errors).toEqual([
      { param: 'config', message: 'config has more than 64 fields' },
    ]);
    expect(validateConfig({ provider: 'openai', override_params: wide }).errors[0]?.param).toBe(
      'config.override_params',
    );
  });

  it('refuses nesting deeper than the limit, naming the deepest path', () => {
    let deep: unknown = 1;
    for (let level = 0; level < 10_000; level++) deep = { a: deep };
    const result = validateConfig({ provider: 'openai', override_params: { deep } });
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.param).toMatch(/^config\.override_params\.deep\.a\.a/);
    expect(result.errors[0]?.message).toContain(`${configLimits.maxNesting} levels`);
  });

  it('refuses header values Node would refuse to send, naming the field', () => {
    for (const [field, value] of [
      ['api_key', 'k\r\nx: 1'],
      ['apiKey', 'k\u0000'],
      ['openai_organization', 'o\n'],
      ['openaiProject', 'p\u0100'],
    ] as const) {
      const result = validateConfig({ provider: 'openai', [field]: value });
      expect(result.errors.map((error) => error.param)).toEqual([`config.${field}`]);
      expect(result.errors[0]?.message).toContain('HTTP header value');
      expect(result.errors[0]?.message).not.toContain(value);
    }
    expect(validateConfig({ provider: 'openai', api_key: 'k\tcaf\u00e9' }).valid).toBe(true);
  });
});

describe('tooDeepPath', () => {
  it('finds the first value past the limit, and nothing within it', () => {
    expect(tooDeepPath({ a: [[1]] }, 3, 'body')).toBeUndefined();
    expect(tooDeepPath({ a: [[[1]]] }, 3, 'body')).toBe('body.a[0][0]');
    expect(tooDeepPath({ a: [{ b: {} }] }, 3, '')).toBe('a[0].b');
    let deep: unknown = [];
    for (let level = 0; level < 1_000_000; level++) deep = [deep];
    expect(tooDeepPath(deep, 64, 'x')).toMatch(/^x\[0\]/);
  });
});
