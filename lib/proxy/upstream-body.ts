import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/**
 * Reading a provider's answer. Upstreams are asked for `identity`, but some answer compressed
 * anyway (a CDN, a misconfigured proxy): such answers are inflated here, bounded like everything
 * else read, so that nothing downstream ever sees compressed bytes it did not ask for.
 */

/** Why reading an answer stopped early; `deadline` and `too-large` are ours, `cut` the provider's. */
export class UpstreamBodyError extends Error {
  constructor(readonly reason: 'deadline' | 'too-large' | 'cut' | 'undecodable') {
    super(`Provider answer ${reason}`);
  }
}

const inflaters: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * The answer's bytes as sent before any content coding: the upstream itself when it is not
 * compressed, an inflating stream when it is, undefined for a coding we cannot undo.
 */
export function decodedUpstream(upstream: IncomingMessage): Readable | undefined {
  const coding = upstream.headers['content-encoding'];
  if (coding === undefined || coding === 'identity' || coding === '') return upstream;
  const inflate = inflaters[coding.trim().toLowerCase()];
  if (inflate === undefined) return undefined;
  const inflater = inflate() as unknown as Readable;
  // pipeline, so that a provider that breaks off also breaks the inflater (rare: no hot path).
  pipeline(upstream, inflater as unknown as NodeJS.WritableStream, ignore);
  return inflater;
}

/**
 * Reads a whole answer, up to `limit` bytes after inflating. Rejects with an
 * {@link UpstreamBodyError}: `cut` when the provider broke off, `too-large` past the limit, or
 * whatever error the stream was destroyed with (the deadline's).
 */
export function readUpstreamBody(source: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        source.destroy(new UpstreamBodyError('too-large'));
        return;
      }
      chunks.push(chunk);
    });
    source.once('end', () => {
      done = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    source.once('error', (error) => {
      done = true;
      reject(error instanceof UpstreamBodyError ? error : bodyErrorOf(error));
    });
    source.once('close', () => {
      if (!done) reject(new UpstreamBodyError('cut'));
    });
  });
}

function bodyErrorOf(error: Error): UpstreamBodyError {
  // zlib's errors carry an errno and a Z_* code; anything else is the connection breaking.
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return new UpstreamBodyError(code.startsWith('Z_') ? 'undecodable' : 'cut');
}

const openBrace = 0x7b;
const closeBrace = 0x7d;
const openBracket = 0x5b;
const closeBracket = 0x5d;
const quote = 0x22;
const backslash = 0x5c;

/**
 * Whether `bytes` hold one complete JSON object or array, checked by nesting alone: a single
 * linear pass that catches a truncated answer without the cost of parsing it.
 */
export function isCompleteJson(bytes: Buffer): boolean {
  let depth = 0;
  let opened = false;
  let inString = false;
  const length = bytes.length;
  for (let index = 0; index < length; index++) {
    const byte = bytes[index] as number;
    if (inString) {
      if (byte === backslash) index++;
      else if (byte === quote) inString = false;
      continue;
    }
    if (byte === quote) inString = true;
    else if (byte === openBrace || byte === openBracket) {
      if (depth === 0 && opened) return false;
      depth++;
      opened = true;
    } else if (byte === closeBrace || byte === closeBracket) {
      depth--;
      if (depth < 0) return false;
    } else if (depth === 0 && byte > 0x20) return false;
  }
  return opened && depth === 0 && !inString;
}

function ignore(): void {
  // The reader of the inflater sees the error.
}
