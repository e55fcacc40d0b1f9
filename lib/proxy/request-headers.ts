import type { IncomingHttpHeaders } from 'node:http';
import { LoadBalancerError } from '../errors.js';

/** Client headers every provider may see: content negotiation and tracing, nothing that identifies. */
export const defaultForwardedHeaders = [
  'accept',
  'accept-language',
  'user-agent',
  'traceparent',
  'tracestate',
] as const;

/** Headers that never leave, whatever `forwardHeaders` says: credentials, hop-by-hop, framing. */
const neverForwarded = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
  'content-encoding',
  'accept-encoding',
]);

/** Validates and lower-cases the server's extra forwarded headers; refuses credentials. */
export function resolveForwardedHeaders(extra: readonly string[] = []): readonly string[] {
  const names = new Set<string>(defaultForwardedHeaders);
  for (const raw of extra) {
    const name = String(raw).toLowerCase();
    if (neverForwarded.has(name) || name.startsWith('x-portkey-')) {
      throw new LoadBalancerError(
        'ERR_OPTIONS_INVALID',
        `forwardHeaders may not include "${name}": credentials, x-portkey-* and hop-by-hop headers are never forwarded`,
        { param: 'forwardHeaders' },
      );
    }
    names.add(name);
  }
  return [...names];
}

/**
 * The headers of an upstream call: allowlisted client headers, then the provider's own headers
 * (authentication), then the framing of the prepared body. Later entries win.
 */
export function upstreamHeaders(
  client: IncomingHttpHeaders,
  forwarded: readonly string[],
  provider: Record<string, string>,
  contentLength: number,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of forwarded) {
    const value = client[name];
    if (typeof value === 'string') headers[name] = value;
  }
  Object.assign(headers, provider);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(contentLength);
  // Responses are read back for errors and translation: ask for them uncompressed.
  headers['accept-encoding'] = 'identity';
  return headers;
}
