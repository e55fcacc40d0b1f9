import { describe, expect, it } from 'vitest';
import { LoadBalancerError, portkeyLoadBalancer } from '../../lib/index.js';
import { resolveSettings } from '../../lib/settings.js';

function constructionError(options: unknown): LoadBalancerError {
  try {
    portkeyLoadBalancer(options as never);
  } catch (error) {
    if (error instanceof LoadBalancerError) return error;
    throw error;
  }
  throw new Error('expected a construction error');
}

describe('options', () => {
  it('treats undefined as absent: the defaults apply', () => {
    const explicit = resolveSettings({
      timeout: undefined,
      bodyLimit: undefined,
      random: undefined,
      config: undefined,
      store: undefined,
      storeTimeout: undefined,
      circuitBreaker: undefined,
    });
    const implicit = resolveSettings({});
    expect(explicit.timeout).toBe(600_000);
    expect(explicit.bodyLimit).toBe('10mb');
    expect(explicit.random).toBe(Math.random);
    const scalars = ({
      timeout,
      deadline,
      bodyLimit,
      backoff,
      random,
      clock,
      forwardedHeaders,
    }: typeof explicit) => ({
      timeout,
      deadline,
      bodyLimit,
      backoff,
      random,
      clock,
      forwardedHeaders,
    });
    expect(scalars(explicit)).toEqual(scalars(implicit));
    expect(explicit.health?.defaults).toEqual(implicit.health?.defaults);
  });

  it('shares one keep-alive agent per protocol', () => {
    const first = resolveSettings({});
    const second = resolveSettings({});
    expect(first.httpAgent).toBe(second.httpAgent);
    expect((first.httpAgent as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
    expect((first.httpsAgent as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
  });

  it('suggests the intended name for a misspelt option', () => {
    const error = constructionError({ timout: 5 });
    expect(error.code).toBe('ERR_OPTIONS_INVALID');
    expect(error.message).toBe('timout is not an option (did you mean "timeout"?)');
  });

  it('refuses a bad default config at startup with its path', () => {
    const error = constructionError({
      config: { mode: 'loadbalance', options: [{ provider: 'openai', weight: Number.NaN }] },
    });
    expect(error.code).toBe('ERR_OPTIONS_INVALID');
    expect(error.param).toBe('options.config.options[0].weight');
  });

  it('refuses unusable values with an example of a good one', () => {
    expect(constructionError({ timeout: -1 }).message).toContain('e.g. 60000');
    expect(constructionError({ random: 0.5 }).message).toContain('Math.random');
    expect(constructionError({ bodyLimit: -5 }).param).toBe('bodyLimit');
    expect(constructionError({ providers: { openai: { baseURL: 'ftp://x' } } }).param).toBe(
      'providers.openai.baseURL',
    );
    expect(
      constructionError({ providers: { openai: { baseURL: 'https://h/v1?x=1' } } }).message,
    ).toContain('https://api.example.com/v1');
    expect(constructionError({ providers: { opneai: {} } }).message).toContain(
      'did you mean "openai"?',
    );
  });
});

describe('header options', () => {
  it('refuses provider headers Node could not send, at construction', () => {
    for (const value of ['a\r\nx-injected: 1', 'a\u0000', 'caf\u0100']) {
      const error = constructionError({ providers: { openai: { headers: { 'x-team': value } } } });
      expect(error.code).toBe('ERR_OPTIONS_INVALID');
      expect(error.param).toBe('providers.openai.headers.x-team');
    }
    expect(
      constructionError({ providers: { anthropic: { headers: { 'bad name': 'v' } } } }).param,
    ).toBe('providers.anthropic.headers.bad name');
    expect(() =>
      portkeyLoadBalancer({ providers: { openai: { headers: { 'x-team': 'caf\u00e9\tok' } } } }),
    ).not.toThrow();
  });

  it('refuses an anthropic version that is not a header value', () => {
    expect(constructionError({ providers: { anthropic: { version: '2023\r\n' } } }).param).toBe(
      'providers.anthropic.version',
    );
  });

  it('refuses forwardHeaders that are not header names', () => {
    expect(constructionError({ forwardHeaders: ['x-ok', 'x bad\r\n'] }).param).toBe(
      'forwardHeaders[1]',
    );
  });

  it('refuses virtual keys and server configs whose keys are not header values', () => {
    const virtualKey = constructionError({
      virtualKeys: { prod: { provider: 'openai', apiKey: 'sk\r\nx: 1' } },
    });
    expect(virtualKey.code).toBe('ERR_OPTIONS_INVALID');
    expect(virtualKey.param).toBe('options.virtualKeys.prod.apiKey');
    const config = constructionError({ config: { provider: 'openai', openai_project: 'p\n' } });
    expect(config.param).toBe('options.config.openai_project');
  });
});

describe('routing options', () => {
  it('treats undefined routing options as absent', () => {
    const settings = resolveSettings({
      getMetadata: undefined,
      acceptMetadataHeader: undefined,
      circuitBreaker: { slowStartMs: undefined },
    });
    expect(settings.metadata).toEqual({ getMetadata: undefined, acceptHeader: true });
    expect(settings.health?.defaults.slowStartMs).toBe(30_000);
  });

  it('refuses unusable routing options with their names', () => {
    const cases: [unknown, string][] = [
      [{ getMetadata: 'user' }, 'getMetadata'],
      [{ acceptMetadataHeader: 'no' }, 'acceptMetadataHeader'],
      [{ circuitBreaker: { slowStartMs: -1 } }, 'circuitBreaker.slowStartMs'],
      [{ circuitBreaker: { slowStartMs: 1.5 } }, 'circuitBreaker.slowStartMs'],
      [
        { virtualKeys: { k: { provider: 'openai', apiKey: 'sk', tpm: 'lots' } } },
        'virtualKeys.k.tpm',
      ],
    ];
    for (const [options, param] of cases) {
      const error = constructionError(options);
      expect(error.code).toBe('ERR_OPTIONS_INVALID');
      expect(error.param).toBe(param);
    }
    expect(
      resolveSettings({ circuitBreaker: { slowStartMs: 0 } }).health?.defaults.slowStartMs,
    ).toBe(0);
  });
});
