import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { LoadBalancerError } from '../../errors.js';
import { isRecord } from '../../shared/values.js';
import type { StreamTranslator } from '../provider.js';

/**
 * An OpenAI-shaped stream relayed event by event, for providers that report an error during
 * generation inside a 200 stream: OpenRouter's `data: {"error": {...}}` frame, vLLM's
 * `data: {"object": "error", "message": ...}`. Such a frame becomes an OpenAI error event,
 * ends the stream and sets `failure`, so the call reports it (`error` event, breaker) instead
 * of relaying it as an ordinary chunk. A stream that ends without `data: [DONE]` fails the same
 * way. Comment lines (`: OPENROUTER PROCESSING`, sent as keep-alives) are relayed as they are:
 * SSE clients ignore them, and they keep idle proxies from closing the connection.
 */
export class ErrorFrameStream extends Transform implements StreamTranslator {
  failure: LoadBalancerError | undefined;
  readonly #parser: EventSourceParser;
  readonly #decoder = new StringDecoder('utf8');
  readonly #provider: string;
  #ended = false;

  constructor(provider: string) {
    super();
    this.#provider = provider;
    this.#parser = createParser({
      onEvent: (event) => this.#onEvent(event),
      onComment: (comment) => {
        if (!this.#ended) this.push(`: ${comment}\n\n`);
      },
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(this.#decoder.write(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(`${this.#decoder.end()}\n\n`);
    if (!this.#ended) {
      this.#fail(
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        `Provider ${this.#provider} ended the stream before data: [DONE]`,
        undefined,
      );
    }
    callback();
  }

  #onEvent(event: EventSourceMessage): void {
    if (this.#ended) return;
    const error = errorOf(event.data);
    if (error !== undefined) {
      const message = typeof error.message === 'string' ? error.message : 'The provider failed';
      this.#fail(
        'ERR_UPSTREAM_ERROR',
        `Provider ${this.#provider} failed during the stream: ${message}`,
        error,
      );
      return;
    }
    const name = event.event === undefined ? '' : `event: ${event.event}\n`;
    const data = event.data
      .split('\n')
      .map((line) => `data: ${line}\n`)
      .join('');
    this.push(`${name}${data}\n`);
    if (event.data.trim() === '[DONE]') this.#ended = true;
  }

  /** Ends the stream with an OpenAI error event, carrying the provider's fields when it sent some. */
  #fail(
    code: 'ERR_UPSTREAM_ERROR' | 'ERR_UPSTREAM_STREAM_INTERRUPTED',
    message: string,
    error: Record<string, unknown> | undefined,
  ): void {
    this.#ended = true;
    this.failure = new LoadBalancerError(code, message);
    const providerCode = error?.code;
    const body = {
      error: {
        message: typeof error?.message === 'string' ? error.message : message,
        type: typeof error?.type === 'string' ? error.type : 'api_error',
        param: typeof error?.param === 'string' ? error.param : null,
        code:
          typeof providerCode === 'string' || typeof providerCode === 'number'
            ? String(providerCode)
            : code,
      },
    };
    this.push(`data: ${JSON.stringify(body)}\n\n`);
  }
}

/** The error a frame carries (`{"error": {...}}` or `{"object": "error", ...}`), if it is one. */
export function errorOf(data: string): Record<string, unknown> | undefined {
  // Most frames are chunks: no parse unless the word is there.
  if (!data.includes('"error"')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed)) return undefined;
  if (isRecord(parsed.error)) return parsed.error;
  return parsed.object === 'error' ? parsed : undefined;
}
