import { describe, expect, it } from 'vitest';
import type { TargetNode } from '../../lib/config/config-tree.js';
import { LoadBalancerError } from '../../lib/errors.js';
import { portkeyLoadBalancer, validateConfig } from '../../lib/index.js';
import { geminiModelOf, googleProvider } from '../../lib/providers/google/google.js';
import { providerNames } from '../../lib/providers/provider-names.js';
import { createProviderRegistry } from '../../lib/providers/registry.js';

const target = {
  provider: 'google',
  credentials: { apiKey: 'AIza-unit-key' },
} as unknown as TargetNode;

function refusal(params: Record<string, unknown>): LoadBalancerError {
  try {
    geminiModelOf(params);
  } catch (error) {
    if (error instanceof LoadBalancerError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the google adapter', () => {
  const adapter = googleProvider();

  it('is registered under the one list of provider names', () => {
    expect(providerNames).toContain('google');
    expect(Object.keys(createProviderRegistry()).sort()).toEqual([...providerNames].sort());
  });

  it('is a provider for the config schema, virtual keys and the providers option', () => {
    expect(validateConfig({ provider: 'google', api_key: 'k' }).valid).toBe(true);
    expect(
      validateConfig(
        { virtual_key: 'gemini' },
        { virtualKeys: { gemini: { provider: 'google', apiKey: 'k' } } },
      ).valid,
    ).toBe(true);
    expect(() =>
      portkeyLoadBalancer({ providers: { google: { baseURL: 'http://127.0.0.1:9/v1beta' } } }),
    ).not.toThrow();
    expect(() =>
      portkeyLoadBalancer({ providers: { google: { baseURL: 'ftp://x/v1beta' } } }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_OPTIONS_INVALID', param: 'providers.google.baseURL' }),
    );
  });

  it('defaults to the public v1beta base and takes a baseURL', () => {
    expect(adapter.base(target)).toEqual({
      origin: 'https://generativelanguage.googleapis.com',
      pathPrefix: '/v1beta',
    });
    expect(googleProvider({ baseURL: 'http://127.0.0.1:9/v1beta/' }).base(target)).toEqual({
      origin: 'http://127.0.0.1:9',
      pathPrefix: '/v1beta',
    });
  });

  it('puts the model and the method in the path, stream as alt=sse', () => {
    const model = 'gemini-2.5-flash';
    expect(adapter.endpoint('chat', target, { model })).toBe(`/models/${model}:generateContent`);
    expect(adapter.endpoint('complete', target, { model, stream: true })).toBe(
      `/models/${model}:streamGenerateContent?alt=sse`,
    );
    expect(adapter.endpoint('embed', target, { model: `models/${model}` })).toBe(
      `/models/${model}:batchEmbedContents`,
    );
  });

  it('sends the key in x-goog-api-key only', () => {
    expect(adapter.headers(target)).toEqual({ 'x-goog-api-key': 'AIza-unit-key' });
    expect(adapter.headers({ ...target, credentials: {} })).toEqual({});
  });

  it('names the model of the path in each embedding request', () => {
    const body = adapter.requestBody('embed', { model: 'models/text-embedding-004', input: 'a' });
    expect(body).toEqual({
      requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] } }],
    });
  });

  it('answers with the model asked for, without models/, when Gemini names none', () => {
    const answer = adapter.responseBody(
      'chat',
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] }, finishReason: 'STOP' }],
      },
      {
        operation: 'chat',
        includeUsage: false,
        model: 'models/gemini-2.0-flash',
        encodingFormat: undefined,
        created: 7,
        headers: {},
      },
    ) as Record<string, unknown>;
    expect(answer.model).toBe('gemini-2.0-flash');
    expect(answer.created).toBe(7);
  });
});

describe('geminiModelOf', () => {
  it.each([
    'gemini-2.5-flash',
    'gemini-1.5-pro-002',
    'models/gemini-2.0-flash',
    'text-embedding-004',
    'a'.repeat(128),
  ])('accepts %s', (model) => {
    expect(geminiModelOf({ model })).toBe(model.replace(/^models\//, ''));
  });

  it.each([
    '',
    '../x',
    'x/../y',
    'models/../x',
    'tunedModels/x',
    'x?alt=json',
    'x#y',
    'x%2fy',
    'x:generateContent',
    'x y',
    'gémini',
    '-x',
    '.x',
    'a'.repeat(129),
    'x\n',
  ])('refuses %j naming params.model', (model) => {
    const error = refusal({ model });
    expect(error.code).toBe('ERR_PARAMS_INVALID');
    expect(error.param).toBe('params.model');
  });

  it('refuses a missing or non-string model', () => {
    expect(refusal({}).param).toBe('params.model');
    expect(refusal({ model: 42 }).param).toBe('params.model');
  });
});
