import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoadBalancerError } from '../errors.js';
import { hopByHopHeaders } from '../header-policy.js';
import { redactSecrets } from '../redact.js';
import type { Attempt } from './attempt.js';
import type { CallEvents } from './call-events.js';
import { isEventStream, relayEventStream } from './event-stream.js';
import { sendError, sendJson, sendJsonText } from './send-error.js';

/** Upstream response headers that stay between us and the provider. */
const droppedResponseHeaders = new Set<string>([
  ...hopByHopHeaders,
  'location',
  'set-cookie',
  'strict-transport-security',
  'alt-svc',
]);

/** Headers that describe a body we replace. */
const bodyHeaders = new Set(['content-length', 'content-type', 'content-encoding']);

const maxErrorBodyBytes = 1024 * 1024;
const maxTranslatedBodyBytes = 64 * 1024 * 1024;

/** Answers the client from a provider response: passed through, translated, or as an error. */
export function handleUpstreamResponse(
  attempt: Attempt,
  upstream: IncomingMessage,
  res: ServerResponse,
  ourHeaders: Record<string, string>,
  events?: CallEvents,
): void {
  const { adapter, operation, target } = attempt.prepared;
  const status = upstream.statusCode ?? 502;
  const succeeded = status >= 200 && status < 300;
  if (status >= 300 && status < 400) {
    // Redirects are never followed, nor passed on: a provider must not steer anyone elsewhere.
    upstream.resume();
    sendError(
      res,
      new LoadBalancerError(
        'ERR_UPSTREAM_INVALID_RESPONSE',
        `Provider ${target.provider} answered with a redirect (${status}), which is never followed`,
      ),
      ourHeaders,
    );
    return;
  }
  if (succeeded && isEventStream(upstream)) {
    relayEventStream(
      attempt,
      upstream,
      res,
      answerHeaders(upstream, ourHeaders, bodyHeaders),
      events,
    );
    return;
  }
  if (succeeded && !adapter.translatesResponses) {
    passThrough(upstream, res, status, answerHeaders(upstream, ourHeaders, undefined), events);
    return;
  }
  const limit = succeeded ? maxTranslatedBodyBytes : maxErrorBodyBytes;
  readBody(upstream, limit)
    .then(
      (bytes) => {
        const body = parseJson(bytes);
        if (succeeded) {
          if (body === undefined) throw invalidResponse(target.provider);
          const translated = adapter.responseBody(operation, body);
          events?.firstByte();
          events?.usage(translated);
          sendJson(res, status, translated, answerHeaders(upstream, ourHeaders, bodyHeaders));
        } else {
          // The provider may echo a key back in any field: redact the whole serialised body.
          const error = JSON.stringify(adapter.errorBody(status, body));
          const payload = redactSecrets(error, [target.apiKey]);
          events?.firstByte();
          sendJsonText(res, status, payload, answerHeaders(upstream, ourHeaders, bodyHeaders));
        }
      },
      () => sendError(res, invalidResponse(target.provider), ourHeaders),
    )
    .catch((error: unknown) => {
      const failure = error instanceof LoadBalancerError ? error : invalidResponse(target.provider);
      sendError(res, failure, ourHeaders);
    });
}

function passThrough(
  upstream: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string | string[]>,
  events: CallEvents | undefined,
): void {
  res.writeHead(status, headers);
  events?.firstByte();
  if (events?.wantsUsage === true) sniffUsage(upstream, events);
  // pipe(), not pipeline(): pipeline's per-call AbortController cost an eighth of the CPU of a
  // request. An upstream that dies mid-body cuts the client connection, never leaves it hanging.
  upstream.once('error', () => res.destroy());
  upstream.once('close', () => {
    if (!upstream.complete) res.destroy();
  });
  upstream.pipe(res);
}

/** Reads usage from a passed-through JSON body as it flows by, without holding it up. */
function sniffUsage(upstream: IncomingMessage, events: CallEvents): void {
  const chunks: Buffer[] = [];
  let size = 0;
  upstream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxErrorBodyBytes) chunks.push(chunk);
  });
  upstream.once('end', () => {
    if (size <= maxErrorBodyBytes) events.usage(parseJson(Buffer.concat(chunks)));
  });
}

/** Provider headers worth keeping (request ids, rate limits, retry-after) plus ours. */
function answerHeaders(
  upstream: IncomingMessage,
  ourHeaders: Record<string, string>,
  alsoDrop: ReadonlySet<string> | undefined,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in upstream.headers) {
    if (droppedResponseHeaders.has(name) || alsoDrop?.has(name)) continue;
    const value = upstream.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return Object.assign(headers, ourHeaders);
}

function readBody(stream: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.destroy(new Error('Provider response body too large'));
        return;
      }
      chunks.push(chunk);
    });
    stream.once('end', () =>
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)),
    );
    stream.once('error', reject);
    stream.once('aborted', () => reject(new Error('Provider response aborted')));
  });
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function invalidResponse(provider: string): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_UPSTREAM_INVALID_RESPONSE',
    `Provider ${provider} answered with a body that could not be read`,
  );
}
