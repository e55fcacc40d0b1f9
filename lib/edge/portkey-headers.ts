import type { IncomingHttpHeaders } from 'node:http';
import { didYouMean } from '../config/suggest.js';
import { LoadBalancerError } from '../errors.js';

/**
 * The `x-portkey-*` request headers this middleware acts on. Any other one that would change
 * routing is refused, so that a caller never believes a setting took effect when it did not.
 */
const supportedHeaders = [
  'x-portkey-config',
  'x-portkey-virtual-key',
  'x-portkey-provider',
  'x-portkey-trace-id',
  'x-portkey-dry-run',
  'x-portkey-metadata',
];

/**
 * Headers that say something about the client and change nothing here: Portkey's own API key
 * (a host authenticates its callers itself) and what the `portkey-ai` SDK sends on every request.
 */
const ignoredHeaders = [
  'x-portkey-api-key',
  'x-portkey-package-version',
  'x-portkey-runtime',
  'x-portkey-runtime-version',
  'x-portkey-strict-open-ai-compliance',
];

const known = new Set([...supportedHeaders, ...ignoredHeaders]);

/** Throws ERR_HEADER_UNSUPPORTED for an `x-portkey-*` header this middleware does not honour. */
export function refuseUnsupportedPortkeyHeaders(headers: IncomingHttpHeaders): void {
  for (const name in headers) {
    // Node lower-cases header names; a first-character test keeps this loop cheap.
    if (name.charCodeAt(0) !== 120 || !name.startsWith('x-portkey-') || known.has(name)) continue;
    throw new LoadBalancerError(
      'ERR_HEADER_UNSUPPORTED',
      `${name} is not supported by this load balancer${didYouMean(name, supportedHeaders)}: it would have no effect. The x-portkey-* headers it honours are ${supportedHeaders.join(', ')}`,
      { param: name },
    );
  }
}
