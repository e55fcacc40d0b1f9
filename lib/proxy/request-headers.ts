import type { IncomingHttpHeaders } from 'node:http';
import { LoadBalancerError } from '../errors.js';
import { defaultForwardedHeaders, isForwardable } from '../security/header-policy.js';

/** Validates and lower-cases the server's extra forwarded headers; refuses credentials. */
export function resolveForwardedHeaders(extra: readonly string[] = []): readonly string[] {
  const names = new Set<string>(defaultForwardedHeaders);
  for (const raw of extra) {
    const name = String(raw).toLowerCase();
    if (!isForwardable(name)) {
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
 * The headers of an upstream call: allowlisted client headers (the server's, then the target's
 * `forward_headers`), then the provider's own headers (authentication), then the framing of the
 * prepared body. Later entries win.
 */
export function upstreamHeaders(
  client: IncomingHttpHeaders,
  forwarded: readonly string[],
  targetForwarded: readonly string[] | undefined,
  provider: Record<string, string>,
  contentLength: number,
): Record<string, string> {
  const headers: Record<string, string> = {};
  copyHeaders(client, forwarded, headers);
  if (targetForwarded !== undefined) copyHeaders(client, targetForwarded, headers);
  Object.assign(headers, provider);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(contentLength);
  // Responses are read back for errors and translation: ask for them uncompressed.
  headers['accept-encoding'] = 'identity';
  return headers;
}

function copyHeaders(
  client: IncomingHttpHeaders,
  names: readonly string[],
  into: Record<string, string>,
): void {
  for (const name of names) {
    const lower = name.toLowerCase();
    const value = client[lower];
    if (typeof value === 'string') into[lower] = value;
  }
}
