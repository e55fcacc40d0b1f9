import { LoadBalancerError } from '../errors.js';
import type { ProviderName } from '../types.js';
import type { UpstreamBase } from './provider.js';

/**
 * Parses a trusted, server-configured base URL once. Only http(s), no credentials, query or
 * fragment: anything else is a construction error naming the option.
 */
export function parseBaseURL(baseURL: string, provider: ProviderName): UpstreamBase {
  const option = `providers.${provider}.baseURL`;
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw invalidBaseURL(option, baseURL, 'is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidBaseURL(option, baseURL, 'must use http: or https:');
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw invalidBaseURL(option, baseURL, 'must not contain credentials, a query or a fragment');
  }
  return { origin: url.origin, pathPrefix: url.pathname.replace(/\/+$/, '') };
}

function invalidBaseURL(option: string, value: string, reason: string): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_OPTIONS_INVALID',
    `${option} ${reason}: got ${JSON.stringify(value)}; expected something like "https://api.example.com/v1"`,
    { param: option },
  );
}
