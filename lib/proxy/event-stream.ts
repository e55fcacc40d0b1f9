import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { LoadBalancerError } from '../errors.js';
import type { ProviderAdapter, StreamTranslator } from '../providers/provider.js';
import { StreamScrubber } from '../security/secret-scrubber.js';
import type { Attempt } from './attempt.js';
import type { CallEvents } from './call-events.js';
import type { Delivery } from './upstream-response.js';

/** Headers that keep proxies and compression from buffering a stream. */
export const streamHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/** Whether an answer is its provider's stream (SSE, or a binary framing such as Bedrock's). */
export function isStreamAnswer(upstream: IncomingMessage, adapter: ProviderAdapter): boolean {
  const type = adapter.streamContentType ?? 'text/event-stream';
  return upstream.headers['content-type']?.startsWith(type) === true;
}

/** The bytes an OpenAI-style stream ends with when the provider finished it. */
const doneMarker = 'data: [DONE]';

/**
 * Relays a provider's event stream to the client event by event, translated when the provider
 * needs it and masked for the target's secrets. A stream that breaks off, goes silent past the
 * timeout or ends without its final event ends with an OpenAI-style error event, and the call
 * reports the provider's failure; if the client leaves, the upstream call is aborted (see the
 * proxy).
 */
export function relayEventStream(
  attempt: Attempt,
  upstream: IncomingMessage,
  source: Readable,
  res: ServerResponse,
  headers: Record<string, string | string[]>,
  delivery: Delivery,
): void {
  res.writeHead(200, { ...headers, ...streamHeaders });
  const { adapter, shape } = attempt.prepared;
  const translator = adapter.streamTranslator?.({
    ...shape,
    created: Math.floor(Date.now() / 1000),
    headers: upstream.headers,
  });
  if (translator === undefined) {
    void copyEvents(attempt, source, res, delivery, undefined);
    return;
  }
  void copyEvents(attempt, pipeline(source, translator, ignore), res, delivery, translator);
}

async function copyEvents(
  attempt: Attempt,
  source: Readable,
  res: ServerResponse,
  delivery: Delivery,
  translator: StreamTranslator | undefined,
): Promise<void> {
  const events = delivery.events;
  const wantsUsage = events?.wantsUsage === true;
  const secrets = attempt.prepared.secrets;
  const scrubber = secrets === undefined ? undefined : new StreamScrubber(secrets);
  let tail = '';
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (res.destroyed) return;
      events?.firstByte();
      if (wantsUsage) usageFromEvents(String(chunk), events);
      if (translator === undefined) tail = tailOf(tail, chunk);
      const flushed = res.write(scrubber === undefined ? chunk : scrubber.write(chunk));
      // A host's compression() buffers inside zlib: its flush() pushes the event out now.
      (res as ServerResponse & { flush?: () => void }).flush?.();
      if (!flushed) await drainedOrClosed(res);
    }
    const rest = scrubber?.end();
    if (rest !== undefined) res.write(rest);
    const failure = translator === undefined ? unfinished(attempt, tail) : translator.failure;
    if (failure !== undefined) {
      delivery.upstreamFailed(failure);
      if (translator === undefined) {
        res.end(errorEvent(failure.code, failure.message));
        return;
      }
    }
    res.end();
  } catch {
    if (res.destroyed || res.writableEnded) return;
    const failure = interruption(attempt);
    delivery.upstreamFailed(failure);
    res.end(errorEvent(failure.code, failure.message));
  }
}

/** The last bytes of a pass-through stream, enough to see whether it ended with `[DONE]`. */
function tailOf(tail: string, chunk: Buffer): string {
  const keep = 32;
  const text =
    chunk.length >= keep
      ? chunk.toString('latin1', chunk.length - keep)
      : tail + chunk.toString('latin1');
  return text.length > keep ? text.slice(-keep) : text;
}

function unfinished(attempt: Attempt, tail: string): LoadBalancerError | undefined {
  if (tail.trimEnd().endsWith(doneMarker)) return undefined;
  return new LoadBalancerError(
    'ERR_UPSTREAM_STREAM_INTERRUPTED',
    `Provider ${attempt.prepared.target.provider} ended the stream before data: [DONE]`,
  );
}

function interruption(attempt: Attempt): LoadBalancerError {
  const provider = attempt.prepared.target.provider;
  return attempt.timedOut
    ? new LoadBalancerError(
        'ERR_UPSTREAM_TIMEOUT',
        `Provider ${provider} went silent for ${attempt.timeout} ms in the middle of the stream`,
      )
    : new LoadBalancerError(
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        `Provider ${provider} broke off the stream`,
      );
}

/** The usage an OpenAI chunk carries (the last chunk, with `stream_options.include_usage`). */
function usageFromEvents(text: string, events: CallEvents | undefined): void {
  if (!text.includes('"usage"')) return;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:') || !line.includes('"usage"')) continue;
    try {
      events?.usage(JSON.parse(line.slice(5)));
    } catch {
      // A chunk split mid-event: usage is a best effort.
    }
  }
}

/** The OpenAI-style error event a broken stream ends with. */
function errorEvent(code: string, message: string): string {
  const error = { message, type: 'api_error', param: null, code };
  return `data: ${JSON.stringify({ error })}\n\n`;
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function ignore(): void {
  // Errors reach the reader of the pipeline's last stream.
}
