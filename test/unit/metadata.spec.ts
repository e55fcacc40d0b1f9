import { describe, expect, it } from 'vitest';
import { LoadBalancerError } from '../../lib/index.js';
import {
  mergeMetadata,
  metadataLimits,
  parseMetadataHeader,
  requestMetadata,
} from '../../lib/routing/metadata.js';

function refusal(run: () => unknown): LoadBalancerError {
  try {
    run();
  } catch (error) {
    if (error instanceof LoadBalancerError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('x-portkey-metadata', () => {
  it('reads a JSON object of strings; absent or empty is none', () => {
    expect(parseMetadataHeader('{"session_id":"a","tier":"pro"}')).toEqual({
      session_id: 'a',
      tier: 'pro',
    });
    expect(parseMetadataHeader(undefined)).toBeUndefined();
    expect(parseMetadataHeader('')).toBeUndefined();
  });

  it('refuses anything else with a 400 naming the header', () => {
    const bad: unknown[] = [
      'nope',
      'null',
      '"text"',
      '[]',
      '{"a":1}',
      '{"a":{"b":"c"}}',
      '{"":"x"}',
      JSON.stringify({ a: 'x'.repeat(metadataLimits.maxValueLength + 1) }),
      JSON.stringify({ ['k'.repeat(metadataLimits.maxKeyLength + 1)]: 'x' }),
      'x'.repeat(metadataLimits.maxHeaderLength + 1),
      ['{}', '{}'],
    ];
    for (const value of bad) {
      const error = refusal(() => parseMetadataHeader(value));
      expect(error.code).toBe('ERR_METADATA_INVALID');
      expect(error.status).toBe(400);
      expect(error.param).toBe('x-portkey-metadata');
    }
  });

  it('keeps a __proto__ key as plain data', () => {
    const parsed = parseMetadataHeader('{"__proto__":"x"}') as Record<string, string>;
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("merges the host's metadata over the header's, host keys winning", () => {
    expect(mergeMetadata({ a: '1', b: '2' }, { b: 'host' })).toEqual({ a: '1', b: 'host' });
    expect(mergeMetadata(undefined, { b: 'host' })).toEqual({ b: 'host' });
    expect(mergeMetadata({ a: '1' }, undefined)).toEqual({ a: '1' });
  });

  it('ignores the header when told to, and waits for an async getMetadata', async () => {
    const req = { headers: { 'x-portkey-metadata': '{"tier":"pro"}' } };
    expect(requestMetadata(req, { getMetadata: undefined, acceptHeader: false })).toBeUndefined();
    // Not even checked when ignored: a caller cannot make the request fail through it.
    const broken = { headers: { 'x-portkey-metadata': 'not json' } };
    expect(
      requestMetadata(broken, { getMetadata: undefined, acceptHeader: false }),
    ).toBeUndefined();
    const merged = await requestMetadata(req, {
      getMetadata: async () => ({ user: 'u1' }),
      acceptHeader: true,
    });
    expect(merged).toEqual({ tier: 'pro', user: 'u1' });
  });

  it('refuses a getMetadata result that is not an object of strings (a host bug: 500)', () => {
    const error = refusal(() =>
      requestMetadata({ headers: {} }, { getMetadata: () => ['x'], acceptHeader: true }),
    );
    expect(error.code).toBe('ERR_OPTIONS_INVALID');
    expect(error.param).toBe('getMetadata');
  });
});
