import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodedUpstream,
  isCompleteJson,
  readUpstreamBody,
  UpstreamBodyError,
} from '../../lib/proxy/upstream-body.js';

const complete = (text: string) => isCompleteJson(Buffer.from(text, 'utf8'));

describe('isCompleteJson', () => {
  it('accepts complete objects and arrays', () => {
    expect(complete('{}')).toBe(true);
    expect(complete('[]')).toBe(true);
    expect(complete('{"id":"chatcmpl-1","choices":[{"index":0}]}')).toBe(true);
    expect(complete('[1,2,{"a":[3]}]')).toBe(true);
  });

  it('accepts deep nesting', () => {
    expect(complete(`${'{"a":['.repeat(50)}1${']}'.repeat(50)}`)).toBe(true);
    expect(complete(`${'{"a":['.repeat(50)}1${']}'.repeat(49)}`)).toBe(false);
  });

  it('refuses every truncation of a complete answer', () => {
    const answer = '{"choices":[{"message":{"content":"a {b} [c] \\"d\\""}}],"usage":{"n":1}}';
    expect(complete(answer)).toBe(true);
    for (let length = 0; length < answer.length; length++) {
      expect(complete(answer.slice(0, length)), answer.slice(0, length)).toBe(false);
    }
  });

  it('ignores braces and brackets inside strings', () => {
    expect(complete('{"a":"}"}')).toBe(true);
    expect(complete('{"a":"{{[["}')).toBe(true);
    expect(complete('{"a":"}]"')).toBe(false);
    expect(complete('["]"]')).toBe(true);
  });

  it('follows escaped quotes and backslashes', () => {
    expect(complete('{"a":"say \\"hi\\""}')).toBe(true);
    // The quote after an escaped backslash ends the string.
    expect(complete('{"a":"\\\\"}')).toBe(true);
    // An escaped quote does not: the string, and the object, are still open.
    expect(complete('{"a":"\\"}')).toBe(false);
    expect(complete('{"a":"\\u007d"}')).toBe(true);
  });

  it('allows whitespace around the value', () => {
    expect(complete(' \n\t{"a": 1}\r\n ')).toBe(true);
  });

  it('refuses two top-level values', () => {
    expect(complete('{}{}')).toBe(false);
    expect(complete('{} []')).toBe(false);
    expect(complete('{"a":1}\n{"a":2}')).toBe(false);
    expect(complete('{} "x"')).toBe(false);
    expect(complete('"x" {}')).toBe(false);
    expect(complete('{} 1')).toBe(false);
    expect(complete('1 {}')).toBe(false);
  });

  it('refuses what is not an object or array', () => {
    expect(complete('')).toBe(false);
    expect(complete('   ')).toBe(false);
    expect(complete('"text"')).toBe(false);
    expect(complete('42')).toBe(false);
    expect(complete('null')).toBe(false);
    expect(complete('}{')).toBe(false);
    expect(complete('<html>{}</html>')).toBe(false);
  });

  it('counts multi-byte UTF-8 as string content', () => {
    expect(complete('{"a":"日本語 👋 }"}')).toBe(true);
  });
});

describe('readUpstreamBody', () => {
  it('reads a whole answer given in pieces', async () => {
    const body = await readUpstreamBody(
      Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]),
      100,
    );
    expect(body.toString()).toBe('{"a":1}');
  });

  it('reads an answer of exactly the limit', async () => {
    const body = await readUpstreamBody(Readable.from([Buffer.alloc(60), Buffer.alloc(40)]), 100);
    expect(body).toHaveLength(100);
  });

  it('rejects with too-large past the limit and stops the source', async () => {
    const source = Readable.from([Buffer.alloc(60), Buffer.alloc(41), Buffer.alloc(10)]);
    const error = await readUpstreamBody(source, 100).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamBodyError);
    expect((error as UpstreamBodyError).reason).toBe('too-large');
    expect(source.destroyed).toBe(true);
  });

  it('rejects with cut when the source closes before its end', async () => {
    const source = new PassThrough();
    const reading = readUpstreamBody(source, 100);
    source.write('{"a":');
    source.destroy();
    await expect(reading).rejects.toMatchObject({ reason: 'cut' });
  });

  it('rejects with cut when the connection fails', async () => {
    const source = new PassThrough();
    const reading = readUpstreamBody(source, 100);
    source.write('{"a":');
    source.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(reading).rejects.toMatchObject({ reason: 'cut' });
  });

  it('passes on the UpstreamBodyError the stream was destroyed with (the deadline)', async () => {
    const source = new PassThrough();
    const reading = readUpstreamBody(source, 100);
    source.destroy(new UpstreamBodyError('deadline'));
    await expect(reading).rejects.toMatchObject({ reason: 'deadline' });
  });
});

/** A stand-in for the provider's answer: its body bytes and a content-encoding. */
function upstream(body: Buffer, encoding?: string): IncomingMessage {
  const stream = Readable.from([body]);
  return Object.assign(stream, {
    headers: encoding === undefined ? {} : { 'content-encoding': encoding },
  }) as unknown as IncomingMessage;
}

describe('decodedUpstream', () => {
  const json = Buffer.from(JSON.stringify({ text: 'héllo '.repeat(200) }));

  it('returns the answer itself when it is not compressed', () => {
    for (const encoding of [undefined, '', 'identity', 'Identity ']) {
      const answer = upstream(json, encoding);
      expect(decodedUpstream(answer), String(encoding)).toBe(answer);
    }
  });

  for (const [encoding, compress] of [
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
    [' GZIP ', gzipSync],
  ] as const) {
    it(`inflates ${encoding.trim()} (${JSON.stringify(encoding)})`, async () => {
      const compressed = compress(json);
      expect(compressed.equals(json)).toBe(false);
      const decoded = decodedUpstream(upstream(compressed, encoding));
      expect(decoded).toBeDefined();
      const body = await readUpstreamBody(decoded as Readable, 1_000_000);
      expect(body.equals(json)).toBe(true);
    });
  }

  it('bounds the inflated size, not the compressed one', async () => {
    const bomb = gzipSync(Buffer.alloc(1_000_000));
    expect(bomb.length).toBeLessThan(10_000);
    const decoded = decodedUpstream(upstream(bomb, 'gzip')) as Readable;
    await expect(readUpstreamBody(decoded, 100_000)).rejects.toMatchObject({ reason: 'too-large' });
  });

  it('reports bytes that are not what their coding says as undecodable', async () => {
    const decoded = decodedUpstream(upstream(json, 'gzip')) as Readable;
    await expect(readUpstreamBody(decoded, 1_000_000)).rejects.toMatchObject({
      reason: 'undecodable',
    });
  });

  it('returns undefined for a coding it cannot undo', () => {
    for (const encoding of [
      'compress',
      'zstd',
      'gzip, br',
      'constructor',
      '__proto__',
      'toString',
    ]) {
      expect(decodedUpstream(upstream(json, encoding)), encoding).toBeUndefined();
    }
  });
});
