import { LoadBalancerError } from '../errors.js';
import { isPromise } from '../shared/values.js';
import type { MaybePromise } from '../types.js';

/**
 * Request metadata (Portkey's `x-portkey-metadata`): a flat JSON object of string values that
 * conditional routing and sticky sessions read, and that events and the dry run report. It comes
 * from the request header and from the host's `getMetadata(req)`; the host's keys win over the
 * header's, and `acceptMetadataHeader: false` ignores the header so that a caller cannot set
 * any of it. The header is never forwarded (no `x-portkey-*` header is).
 */

/** The metadata of one request: own string properties only. */
export type Metadata = Readonly<Record<string, string>>;

export const metadataHeader = 'x-portkey-metadata';

/** Bounds on the header and on what the host returns. */
export const metadataLimits = {
  /** Characters of the header value. */
  maxHeaderLength: 8192,
  maxKeys: 64,
  maxKeyLength: 128,
  maxValueLength: 1024,
} as const;

/** Where a request's metadata comes from: resolved once per middleware. */
export interface MetadataSource<Req> {
  /** The host's metadata for a request (may be async); undefined for none. */
  readonly getMetadata: ((req: Req) => MaybePromise<unknown>) | undefined;
  /** Whether the `x-portkey-metadata` header is read at all. */
  readonly acceptHeader: boolean;
}

/**
 * The request's metadata: the header's (checked: a 400 naming the header when it is not a JSON
 * object of strings within {@link metadataLimits}), then the host's over it. Undefined when
 * neither gives any: the common case costs one header lookup.
 */
export function requestMetadata<Req extends { headers: Record<string, unknown> }>(
  req: Req,
  source: MetadataSource<Req>,
): MaybePromise<Metadata | undefined> {
  const fromHeader = source.acceptHeader
    ? parseMetadataHeader(req.headers[metadataHeader])
    : undefined;
  if (source.getMetadata === undefined) return fromHeader;
  const host = source.getMetadata(req);
  const merge = (value: unknown) => mergeMetadata(fromHeader, hostMetadata(value));
  return isPromise(host) ? host.then(merge) : merge(host);
}

/** The header's metadata, or undefined when it is absent or empty. */
export function parseMetadataHeader(value: unknown): Metadata | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw invalid('must be sent once');
  if (value.length > metadataLimits.maxHeaderLength) {
    throw invalid(`must be at most ${metadataLimits.maxHeaderLength} characters`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalid('must be a JSON object of string values, e.g. {"session_id":"abc"}');
  }
  const problem = metadataProblem(parsed);
  if (problem !== undefined) throw invalid(problem);
  return parsed as Metadata;
}

/** What is wrong with a metadata object, or undefined when it is valid. */
export function metadataProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be a JSON object of string values, e.g. {"session_id":"abc"}';
  }
  const entries = Object.entries(value);
  if (entries.length > metadataLimits.maxKeys) {
    return `must have at most ${metadataLimits.maxKeys} keys`;
  }
  for (const [key, item] of entries) {
    if (key.length === 0 || key.length > metadataLimits.maxKeyLength) {
      return `keys must be 1 to ${metadataLimits.maxKeyLength} characters`;
    }
    if (typeof item !== 'string') return `value of ${JSON.stringify(key)} must be a string`;
    if (item.length > metadataLimits.maxValueLength) {
      return `value of ${JSON.stringify(key)} must be at most ${metadataLimits.maxValueLength} characters`;
    }
  }
  return undefined;
}

/** Header metadata with the host's over it (host keys win); undefined when both are. */
export function mergeMetadata(
  fromHeader: Metadata | undefined,
  fromHost: Metadata | undefined,
): Metadata | undefined {
  if (fromHost === undefined) return fromHeader;
  if (fromHeader === undefined) return fromHost;
  return { ...fromHeader, ...fromHost };
}

/** What `getMetadata` returned, checked like the header: a host bug is a 500, not a silent miss. */
function hostMetadata(value: unknown): Metadata | undefined {
  if (value === undefined || value === null) return undefined;
  const problem = metadataProblem(value);
  if (problem !== undefined) {
    throw new LoadBalancerError('ERR_OPTIONS_INVALID', `getMetadata's result ${problem}`, {
      param: 'getMetadata',
    });
  }
  // A copy: the host may keep and change its object.
  return { ...(value as Metadata) };
}

function invalid(reason: string): LoadBalancerError {
  return new LoadBalancerError('ERR_METADATA_INVALID', `${metadataHeader} ${reason}`, {
    param: metadataHeader,
  });
}
