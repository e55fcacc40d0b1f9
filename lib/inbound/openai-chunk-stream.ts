import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import type { LoadBalancerError } from '../errors.js';
import type { StreamTranslator } from '../providers/provider.js';
import { isRecord } from '../shared/values.js';

type Json = Record<string, unknown>;

/**
 * Reads an OpenAI chat-completion event stream, whatever the byte boundaries, and hands each
 * chunk, error and end to the inbound stream that re-expresses it (Anthropic events, Responses
 * events). A `finish_reason` without `[DONE]` is a complete answer from a lax provider; neither
 * is a cut stream.
 */
export abstract class OpenAIChunkStream extends Transform implements StreamTranslator {
  failure: LoadBalancerError | undefined;
  /** Set by `finish` and `fail`: nothing is read or written after the end. */
  protected ended = false;
  readonly #parser: EventSourceParser;
  readonly #decoder = new StringDecoder('utf8');

  constructor() {
    super();
    this.#parser = createParser({ onEvent: (event) => this.#onEvent(event) });
  }

  /** Whether a chunk carried a `finish_reason`. */
  protected abstract get finishReasonSeen(): boolean;
  protected abstract onChunk(chunk: Json): void;
  /** Writes the closing events; must set `ended`. */
  protected abstract finish(): void;
  /**
   * Writes the error events and sets `failure`; must set `ended`. `error` is the provider's
   * error object, undefined when the stream was cut.
   */
  protected abstract fail(error: Json | undefined, code: string, message: string): void;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.ended) this.#parser.feed(this.#decoder.write(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.ended) this.#parser.feed(`${this.#decoder.end()}\n\n`);
    if (!this.ended && this.finishReasonSeen) this.finish();
    if (!this.ended) {
      this.fail(
        undefined,
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        'The provider ended the stream before its last event',
      );
    }
    callback();
  }

  #onEvent(event: EventSourceMessage): void {
    if (this.ended) return;
    if (event.data.trim() === '[DONE]') {
      this.finish();
      return;
    }
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!isRecord(data)) return;
    if (isRecord(data.error) || event.event === 'error') {
      const error = isRecord(data.error) ? data.error : data;
      const message = typeof error.message === 'string' ? error.message : 'The provider failed';
      const code = typeof error.code === 'string' ? error.code : 'ERR_UPSTREAM_ERROR';
      this.fail(error, code, message);
      return;
    }
    this.onChunk(data);
  }
}
