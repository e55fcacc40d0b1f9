import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { LoadBalancerError } from '../errors.js';
import type { NativeOperation, ProviderAdapter, StreamTranslator } from '../providers/provider.js';
import { StreamScrubber } from '../security/secret-scrubber.js';
import type { Attempt } from './attempt.js';
import type { CallEvents } from './call-events.js';
import { errorShapeOf } from './send-error.js';
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

/** The first id of a Responses stream: its `response.created` event's response. */
const answerIdPattern = /"id":"(resp_[^"]+)"/;

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
  const { adapter, shape, native, inbound } = attempt.prepared;
  if (native !== undefined) {
    void copyEvents(attempt, source, res, delivery, undefined);
    return;
  }
  const created = Math.floor(Date.now() / 1000);
  // The provider's stream as OpenAI chunks, then (inbound routes) as the client API's events.
  const own = adapter.streamTranslator?.({ ...shape, created, headers: upstream.headers });
  const outer = inbound?.streamTranslator(created);
  if (own === undefined && outer === undefined) {
    void copyEvents(attempt, source, res, delivery, undefined);
    return;
  }
  if (own === undefined || outer === undefined) {
    const translator = (own ?? outer) as StreamTranslator;
    void copyEvents(attempt, pipeline(source, translator, ignore), res, delivery, translator);
    return;
  }
  void copyEvents(attempt, pipeline(source, own, outer, ignore), res, delivery, {
    // The provider's own failure first: the outer translator only saw its error event.
    get failure() {
      return own.failure ?? outer.failure;
    },
  });
}

async function copyEvents(
  attempt: Attempt,
  source: Readable,
  res: ServerResponse,
  delivery: Delivery,
  translator: Pick<StreamTranslator, 'failure'> | undefined,
): Promise<void> {
  const events = delivery.events;
  const wantsUsage = events?.wantsUsage === true;
  const secrets = attempt.prepared.secrets;
  const scrubber = secrets === undefined ? undefined : new StreamScrubber(secrets);
  let tail = '';
  // A stored answer's id comes first (Responses' `response.created`): looked for until found.
  let onAnswerId = attempt.prepared.onAnswerId;
  const native = attempt.prepared.native;
  // Native streams are scanned, across chunk boundaries, for how they end.
  const scan =
    onAnswerId !== undefined || native?.streamEnd !== undefined ? new StreamScan() : undefined;
  const seen = { end: false, failure: false };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (res.destroyed) return;
      events?.firstByte();
      if (scan !== undefined) {
        const text = scan.next(chunk);
        if (onAnswerId !== undefined) {
          const id = answerIdPattern.exec(text)?.[1];
          if (id !== undefined) {
            onAnswerId(id);
            onAnswerId = undefined;
          }
        }
        if (native !== undefined) noteStreamEvents(native, text, seen);
      }
      if (wantsUsage) usageFromEvents(String(chunk), events);
      if (translator === undefined) tail = tailOf(tail, chunk);
      const flushed = res.write(scrubber === undefined ? chunk : scrubber.write(chunk));
      // A host's compression() buffers inside zlib: its flush() pushes the event out now.
      (res as ServerResponse & { flush?: () => void }).flush?.();
      if (!flushed) await drainedOrClosed(res);
    }
    const rest = scrubber?.end();
    if (rest !== undefined) res.write(rest);
    const failure = translator === undefined ? unfinished(attempt, tail, seen) : translator.failure;
    if (failure !== undefined) {
      delivery.upstreamFailed(failure);
      if (translator === undefined && !seen.failure) {
        res.end(errorEvent(res, failure));
        return;
      }
    }
    res.end();
  } catch {
    if (res.destroyed || res.writableEnded) return;
    const failure = interruption(attempt);
    delivery.upstreamFailed(failure);
    res.end(errorEvent(res, failure));
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

/** What a native stream has shown so far of how it ends. */
interface StreamEnding {
  end: boolean;
  failure: boolean;
}

function noteStreamEvents(native: NativeOperation, text: string, seen: StreamEnding): void {
  if (!seen.end && native.streamEnd?.some((marker) => text.includes(marker)) === true) {
    seen.end = true;
  }
  if (!seen.failure && native.streamFailure !== undefined && text.includes(native.streamFailure)) {
    seen.failure = true;
  }
}

/**
 * A stream's text chunk by chunk, each with the end of the one before it, so that a marker or
 * an id split across two chunks is still found.
 */
class StreamScan {
  #carry = '';

  next(chunk: Buffer): string {
    const text = this.#carry + chunk.toString('latin1');
    this.#carry = text.slice(-scanOverlap);
    return text;
  }
}

/** Longer than any marker or id looked for (ids are at most 200 characters). */
const scanOverlap = 256;

function unfinished(
  attempt: Attempt,
  tail: string,
  seen: StreamEnding,
): LoadBalancerError | undefined {
  const { native, target } = attempt.prepared;
  if (native !== undefined) {
    // The failure event has been relayed as it is: the client sees it; the call reports it.
    if (seen.failure) {
      return new LoadBalancerError(
        'ERR_UPSTREAM_ERROR',
        `Provider ${target.provider} reported in its stream that the answer failed`,
      );
    }
    // A native stream ends as its API ends one (Anthropic's message_stop), or is not checked.
    if (native.streamEnd === undefined || seen.end) return undefined;
    return new LoadBalancerError(
      'ERR_UPSTREAM_STREAM_INTERRUPTED',
      `Provider ${target.provider} ended the stream before its last event`,
    );
  }
  if (tail.trimEnd().endsWith(doneMarker)) return undefined;
  return new LoadBalancerError(
    'ERR_UPSTREAM_STREAM_INTERRUPTED',
    `Provider ${target.provider} ended the stream before data: [DONE]`,
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

/** The error event a broken stream ends with: OpenAI's, or the route's own shape. */
function errorEvent(res: ServerResponse, failure: LoadBalancerError): string {
  const error = { message: failure.message, type: 'api_error', param: null, code: failure.code };
  const shape = errorShapeOf(res);
  if (shape !== undefined) return shape.event(failure.status, { error });
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
