import { LoadBalancerError } from '../errors.js';
import type { UpstreamBase } from './provider.js';

/**
 * Parses a trusted, server-configured base URL once. Only http(s), no credentials, query or
 * fragment: anything else is a construction error naming the option.
 */
export function parseBaseURL(baseURL: string, provider: string): UpstreamBase {
  return parseUpstreamURL(baseURL, `providers.${provider}.baseURL`, 'ERR_OPTIONS_INVALID');
}

/** A base URL from anywhere (option or `custom_host`), with the error code for its source. */
export function parseUpstreamURL(
  value: string,
  param: string,
  code: 'ERR_OPTIONS_INVALID' | 'ERR_CONFIG_INVALID',
): UpstreamBase {
  const url = upstreamURL(value, param, code);
  return { origin: url.origin, pathPrefix: url.pathname.replace(/\/+$/, '') };
}

/** Validates an upstream URL: http(s), no credentials, query or fragment. */
export function upstreamURL(
  value: string,
  param: string,
  code: 'ERR_OPTIONS_INVALID' | 'ERR_CONFIG_INVALID',
): URL {
  const invalid = (reason: string) =>
    new LoadBalancerError(
      code,
      `${param} ${reason}: got ${JSON.stringify(value)}; expected something like "https://api.example.com/v1"`,
      { param },
    );
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalid('must use http: or https:');
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw invalid('must not contain credentials, a query or a fragment');
  }
  return url;
}
