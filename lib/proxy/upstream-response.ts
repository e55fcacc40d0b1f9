import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { LoadBalancerError } from '../errors.js';
import { hopByHopHeaders } from '../security/header-policy.js';
import type { SecretForms } from '../security/secret-scrubber.js';
import type { Attempt } from './attempt.js';
import type { CallEvents } from './call-events.js';
import { isStreamAnswer, relayEventStream } from './event-stream.js';
import { sendError, sendJsonText } from './send-error.js';
import {
  decodedUpstream,
  isCompleteJson,
  readUpstreamBody,
  UpstreamBodyError,
} from './upstream-body.js';

/** Upstream response headers that stay between us and the provider. */
const droppedResponseHeaders = new Set<string>([
  ...hopByHopHeaders,
  'location',
  'set-cookie',
  'strict-transport-security',
  'alt-svc',
]);

/** Headers that describe a body we send ourselves (re-framed, inflated or translated). */
const bodyHeaders = new Set(['content-length', 'content-type', 'content-encoding']);

const maxErrorBodyBytes = 1024 * 1024;
const maxSuccessBodyBytes = 64 * 1024 * 1024;

/** What answering from a provider response needs from its call. */
export interface Delivery {
  /** The headers this middleware adds to the answer. */
  readonly answerHeaders: Record<string, string>;
  readonly events: CallEvents | undefined;
  /** The answer being read whole, so that the call's deadline can cut it; unset once read. */
  reading: Readable | undefined;
  /**
   * The provider failed after it began to answer (broke off, went silent, sent something
   * unreadable): reported as the call's error and to the breaker. The client is answered apart.
   */
  upstreamFailed(error: LoadBalancerError): void;
}

/**
 * Answers the client from a provider response: a stream relayed event by event, anything else
 * read whole (so that a truncated or compressed answer is caught before the client sees it),
 * then passed on, translated, or normalised as an error. Every byte and header the provider
 * sent is masked for the target's secrets.
 */
export function handleUpstreamResponse(
  attempt: Attempt,
  upstream: IncomingMessage,
  res: ServerResponse,
  delivery: Delivery,
): void {
  const { target, secrets } = attempt.prepared;
  const status = upstream.statusCode ?? 502;
  const succeeded = status >= 200 && status < 300;
  if (status >= 300 && status < 400) {
    // Redirects are never followed, nor passed on: a provider must not steer anyone elsewhere.
    upstream.resume();
    fail(
      res,
      delivery,
      new LoadBalancerError(
        'ERR_UPSTREAM_INVALID_RESPONSE',
        `Provider ${target.provider} answered with a redirect (${status}), which is never followed`,
      ),
    );
    return;
  }
  const source = decodedUpstream(upstream);
  if (source === undefined) {
    upstream.resume();
    fail(res, delivery, invalidResponse(target.provider, 'in a content coding it cannot undo'));
    return;
  }
  if (succeeded && isStreamAnswer(upstream, attempt.prepared.adapter)) {
    relayEventStream(
      attempt,
      upstream,
      source,
      res,
      answerHeaders(upstream, delivery.answerHeaders, bodyHeaders, secrets),
      delivery,
    );
    return;
  }
  delivery.reading = source;
  readUpstreamBody(source, succeeded ? maxSuccessBodyBytes : maxErrorBodyBytes)
    .then((bytes) => {
      delivery.reading = undefined;
      if (succeeded) answerSuccess(attempt, upstream, res, delivery, bytes);
      else answerError(attempt, upstream, res, delivery, bytes);
    })
    .catch((error: unknown) => {
      delivery.reading = undefined;
      fail(res, delivery, readFailure(error, attempt, succeeded));
    });
}

function answerSuccess(
  attempt: Attempt,
  upstream: IncomingMessage,
  res: ServerResponse,
  delivery: Delivery,
  bytes: Buffer,
): void {
  const { adapter, operation, target, secrets, shape } = attempt.prepared;
  const status = upstream.statusCode ?? 200;
  const events = delivery.events;
  if (!adapter.translatesResponses) {
    if (!isCompleteJson(bytes)) {
      fail(res, delivery, invalidResponse(target.provider, 'that ended before its JSON did'));
      return;
    }
    if (events?.wantsUsage === true) events.usage(parseJson(bytes));
    events?.firstByte();
    secrets?.maskBuffer(bytes);
    const headers = answerHeaders(upstream, delivery.answerHeaders, bodyHeaders, secrets);
    headers['content-type'] = upstream.headers['content-type'] ?? 'application/json';
    headers['content-length'] = String(bytes.length);
    res.writeHead(status, headers);
    res.end(bytes);
    return;
  }
  const body = parseJson(bytes);
  let translated: unknown;
  try {
    translated =
      body === undefined
        ? undefined
        : adapter.responseBody(operation, body, {
            ...shape,
            created: Math.floor(Date.now() / 1000),
            headers: upstream.headers,
          });
  } catch {
    translated = undefined;
  }
  if (translated === undefined) {
    fail(res, delivery, invalidResponse(target.provider, 'that could not be read'));
    return;
  }
  events?.firstByte();
  events?.usage(translated);
  sendMasked(res, status, JSON.stringify(translated), upstream, delivery, secrets);
}

function answerError(
  attempt: Attempt,
  upstream: IncomingMessage,
  res: ServerResponse,
  delivery: Delivery,
  bytes: Buffer,
): void {
  const { adapter, secrets } = attempt.prepared;
  const status = upstream.statusCode ?? 502;
  // The provider may echo a key back in any field: the whole serialised body is masked.
  const error = JSON.stringify(adapter.errorBody(status, parseJson(bytes), upstream.headers));
  delivery.events?.firstByte();
  sendMasked(res, status, error, upstream, delivery, secrets);
}

function sendMasked(
  res: ServerResponse,
  status: number,
  payload: string,
  upstream: IncomingMessage,
  delivery: Delivery,
  secrets: SecretForms | undefined,
): void {
  sendJsonText(
    res,
    status,
    secrets === undefined ? payload : secrets.maskText(payload),
    answerHeaders(upstream, delivery.answerHeaders, bodyHeaders, secrets),
  );
}

/** Reports a provider fault and answers with it (or cuts an answer that had begun). */
function fail(res: ServerResponse, delivery: Delivery, error: LoadBalancerError): void {
  delivery.upstreamFailed(error);
  sendError(res, error, delivery.answerHeaders);
}

function readFailure(error: unknown, attempt: Attempt, succeeded: boolean): LoadBalancerError {
  const { provider } = attempt.prepared.target;
  const reason = error instanceof UpstreamBodyError ? error.reason : 'cut';
  switch (reason) {
    case 'deadline':
      return new LoadBalancerError(
        'ERR_UPSTREAM_TIMEOUT',
        `Provider ${provider} did not finish its answer within the deadline`,
      );
    case 'too-large':
      return invalidResponse(
        provider,
        `larger than ${succeeded ? maxSuccessBodyBytes : maxErrorBodyBytes} bytes`,
      );
    case 'undecodable':
      return invalidResponse(provider, 'whose compression is corrupt');
    case 'cut':
      return attempt.timedOut
        ? new LoadBalancerError(
            'ERR_UPSTREAM_TIMEOUT',
            `Provider ${provider} went silent for ${attempt.timeout} ms in the middle of its answer`,
          )
        : invalidResponse(provider, 'that broke off before it ended');
  }
}

/** Provider headers worth keeping (request ids, rate limits, retry-after), masked, plus ours. */
function answerHeaders(
  upstream: IncomingMessage,
  ourHeaders: Record<string, string>,
  alsoDrop: ReadonlySet<string> | undefined,
  secrets: SecretForms | undefined,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in upstream.headers) {
    if (droppedResponseHeaders.has(name) || alsoDrop?.has(name)) continue;
    const value = upstream.headers[name];
    if (value === undefined) continue;
    headers[name] =
      secrets === undefined
        ? value
        : typeof value === 'string'
          ? secrets.maskText(value)
          : value.map((item) => secrets.maskText(item));
  }
  return Object.assign(headers, ourHeaders);
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function invalidResponse(provider: string, what: string): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_UPSTREAM_INVALID_RESPONSE',
    `Provider ${provider} answered with a body ${what}`,
  );
}
