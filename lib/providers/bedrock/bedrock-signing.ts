import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { LoadBalancerError } from '../../errors.js';
import { isBedrockRegion } from './bedrock-target.js';

/** AWS credentials, with Portkey's `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Set for temporary credentials; sent as `x-amz-security-token` (and signed). */
  sessionToken?: string | undefined;
}

/** A Bedrock request to sign: exactly what will be sent. */
export interface BedrockSigningRequest {
  method: string;
  /** The full URL, its path already encoded (see `bedrockConversePath`). */
  url: string;
  /** Headers that will be sent and should be signed, such as `content-type`. */
  headers: Record<string, string>;
  /** The final body bytes: the signature covers exactly these. */
  body: string | Uint8Array;
  credentials: AwsCredentials;
  /** The region the credential scope names; it must match the endpoint's. */
  region: string;
  /** The clock (ms since the epoch). Defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Signs a Bedrock request with SigV4 (service `bedrock`, `@smithy/signature-v4` with SHA-256)
 * over the final body bytes, and returns every header to send: the given ones, `host`,
 * `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` for temporary credentials, and
 * `authorization`. Send them unchanged with exactly that body; headers added later are not
 * signed, which AWS accepts.
 *
 * The secret access key never appears in what is returned; the access key id does (in the
 * `authorization` credential scope) and so does the session token (AWS requires it as a
 * header), so both must be redacted wherever headers are logged.
 */
export async function signBedrockRequest(
  request: BedrockSigningRequest,
): Promise<Record<string, string>> {
  const { credentials, region } = request;
  if (!isBedrockRegion(region)) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      'The Bedrock region must look like us-east-1, eu-central-1 or us-gov-west-1',
      { param: 'aws_region' },
    );
  }
  assertCredentials(credentials);
  const url = new URL(request.url);
  const signer = new SignatureV4({
    service: 'bedrock',
    region,
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken }),
    },
    sha256: Hash.bind(null, 'sha256'),
    // Non-S3 services sign each path segment encoded once more, as the AWS SDK does.
    uriEscapePath: true,
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  headers.host = url.host;
  const signed = await signer.sign(
    {
      method: request.method.toUpperCase(),
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query: queryOf(url),
      headers,
      body: typeof request.body === 'string' ? request.body : new Uint8Array(request.body),
    },
    { signingDate: new Date((request.now ?? Date.now)()) },
  );
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) result[name] = String(value);
  return result;
}

/** The headers for a Bedrock API key, which is sent as a bearer token and needs no signature. */
export function bedrockApiKeyHeaders(apiKey: string): Record<string, string> {
  if (!visibleAscii.test(apiKey)) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      'The Bedrock API key must be a non-empty string of visible ASCII characters',
      { param: 'api_key' },
    );
  }
  return { authorization: `Bearer ${apiKey}` };
}

const visibleAscii = /^[\x21-\x7e]+$/;

/** Refuses credentials that could not form valid headers, without repeating their values. */
function assertCredentials(credentials: AwsCredentials): void {
  const fields: [string, unknown][] = [
    ['aws_access_key_id', credentials.accessKeyId],
    ['aws_secret_access_key', credentials.secretAccessKey],
  ];
  if (credentials.sessionToken !== undefined) {
    fields.push(['aws_session_token', credentials.sessionToken]);
  }
  for (const [param, value] of fields) {
    if (typeof value !== 'string' || !visibleAscii.test(value)) {
      throw new LoadBalancerError(
        'ERR_PARAMS_INVALID',
        `The Bedrock credential ${param} must be a non-empty string of visible ASCII characters`,
        { param },
      );
    }
  }
}

function queryOf(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const previous = query[name];
    query[name] = previous === undefined ? value : [...[previous].flat(), value];
  }
  return query;
}
