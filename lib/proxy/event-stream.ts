import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { Attempt } from './attempt.js';
import type { CallEvents } from './call-events.js';

/** Headers that keep proxies and compression from buffering a stream. */
export const streamHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

export function isEventStream(upstream: IncomingMessage): boolean {
  return upstream.headers['content-type']?.startsWith('text/event-stream') === true;
}

/**
 * Relays a provider's event stream to the client event by event, translated when the provider
 * needs it. If the provider's stream breaks off, the client gets an OpenAI-style error event and
 * a cleanly ended stream; if the client leaves, the upstream call is aborted (see the proxy).
 */
export function relayEventStream(
  attempt: Attempt,
  upstream: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string | string[]>,
  events?: CallEvents,
): void {
  res.writeHead(upstream.statusCode ?? 200, { ...headers, ...streamHeaders });
  const { adapter, streamShape } = attempt.prepared;
  const translator = adapter.streamTranslator?.(streamShape);
  const source: Readable =
    translator === undefined ? upstream : pipeline(upstream, translator, ignore);
  void copyEvents(attempt, source, res, events);
}

async function copyEvents(
  attempt: Attempt,
  source: Readable,
  res: ServerResponse,
  events: CallEvents | undefined,
): Promise<void> {
  const wantsUsage = events?.wantsUsage === true;
  try {
    for await (const chunk of source) {
      if (res.destroyed) return;
      events?.firstByte();
      if (wantsUsage) usageFromEvents(String(chunk), events);
      const flushed = res.write(chunk);
      // A host's compression() buffers inside zlib: its flush() pushes the event out now.
      (res as ServerResponse & { flush?: () => void }).flush?.();
      if (!flushed) await drainedOrClosed(res);
    }
    res.end();
  } catch {
    if (res.destroyed || res.writableEnded) return;
    res.end(interruptedEvent(attempt));
  }
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

function interruptedEvent(attempt: Attempt): string {
  const provider = attempt.prepared.target.provider;
  const message = attempt.timedOut
    ? `Provider ${provider} went silent for ${attempt.timeout} ms in the middle of the stream`
    : `Provider ${provider} broke off the stream`;
  const error = {
    message,
    type: 'api_error',
    param: null,
    code: 'ERR_UPSTREAM_STREAM_INTERRUPTED',
  };
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
