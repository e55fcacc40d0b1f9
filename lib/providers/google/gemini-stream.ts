import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { LoadBalancerError } from '../../errors.js';
import { isRecord } from '../../shared/values.js';
import { chunkEnvelope, deltaChunk, errorEvent, sseEvent } from '../openai-chunks.js';
import type { StreamShape, StreamTranslator } from '../provider.js';
import { errorTypeOf, googleErrorOf } from './gemini-errors.js';
import {
  type AnswerContext,
  candidateIndexOf,
  candidatesOf,
  finishReasonOf,
  modelOf,
  responseIdOf,
  translateParts,
  usageOf,
} from './gemini-response.js';

type Json = Record<string, unknown>;

/** What a translated stream needs besides the shape: the model asked for, and optionally `created`. */
export interface GeminiStreamOptions {
  model: string;
  /** `created` of every chunk, in seconds; defaults to now. */
  created?: number;
}

interface CandidateState {
  /** Function calls streamed so far: the next call's `tool_calls` index. */
  calls: number;
  finished: boolean;
}

/**
 * Gemini's `streamGenerateContent?alt=sse` stream as OpenAI `chat.completion.chunk` (or
 * `text_completion`) events ending with `data: [DONE]`.
 *
 * Gemini sends whole `GenerateContentResponse` frames (separated by `\r\n\r\n`), each with the
 * next parts of every candidate, and no end marker: the stream is complete when every
 * candidate has a `finishReason`, and the last frame's `usageMetadata` is the final usage. So
 * the finish chunks go out as the reasons arrive, and the usage chunk (when asked for) and
 * `[DONE]` when the stream ends. A frame `{"error": {...}}`, or an end before every candidate
 * finished, becomes an OpenAI error event and `failure`.
 *
 * Each function call arrives whole in one part, so it is sent as one tool call delta (id, name
 * and all its arguments), with the same id the non-streamed answer would give it.
 */
export class GeminiToOpenAIStream extends Transform implements StreamTranslator {
  failure: LoadBalancerError | undefined;
  readonly #parser: EventSourceParser;
  readonly #decoder = new StringDecoder('utf8');
  readonly #shape: StreamShape;
  readonly #context: AnswerContext;
  #id: string | undefined;
  #model = '';
  #usage: unknown;
  readonly #candidates = new Map<number, CandidateState>();
  #ended = false;
  #flushing = false;

  constructor(shape: StreamShape, options: GeminiStreamOptions) {
    super();
    this.#shape = shape;
    this.#context = {
      model: options.model,
      created: options.created ?? Math.floor(Date.now() / 1000),
    };
    this.#parser = createParser({ onEvent: (event) => this.#onEvent(event) });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(this.#decoder.write(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    // A last frame without its blank line is dispatched; one cut short is an interruption.
    this.#flushing = true;
    if (!this.#ended) this.#parser.feed(`${this.#decoder.end()}\n\n`);
    if (!this.#ended) this.#finish();
    callback();
  }

  #onEvent(event: EventSourceMessage): void {
    if (this.#ended) return;
    let frame: unknown;
    try {
      frame = JSON.parse(event.data);
    } catch {
      const code = this.#flushing
        ? 'ERR_UPSTREAM_STREAM_INTERRUPTED'
        : 'ERR_UPSTREAM_INVALID_RESPONSE';
      this.#fail(
        code,
        'api_error',
        code,
        this.#flushing
          ? 'Provider google ended the stream in the middle of an event'
          : 'Provider google sent a stream event that is not JSON',
      );
      return;
    }
    if (!isRecord(frame)) return;
    const error = googleErrorOf(frame);
    if (error !== undefined) {
      this.#fail(
        'ERR_UPSTREAM_ERROR',
        errorTypeOf(error.httpCode ?? 500),
        error.status ?? 'ERR_UPSTREAM_ERROR',
        error.message,
      );
      return;
    }
    this.#frame(frame);
  }

  #frame(frame: Json): void {
    this.#id ??= responseIdOf(frame, this.#context);
    this.#model = modelOf(frame, this.#context);
    if (frame.usageMetadata !== undefined) this.#usage = frame.usageMetadata;
    // A frame without candidates carries usage only, unless the prompt itself was blocked.
    const blocked =
      isRecord(frame.promptFeedback) && frame.promptFeedback.blockReason !== undefined;
    const candidates = Array.isArray(frame.candidates)
      ? frame.candidates.filter(isRecord)
      : blocked
        ? candidatesOf(frame)
        : [];
    candidates.forEach((candidate, position) => {
      this.#candidate(candidate, candidateIndexOf(candidate, position));
    });
  }

  #candidate(candidate: Json, index: number): void {
    let state = this.#candidates.get(index);
    if (state === undefined) {
      state = { calls: 0, finished: false };
      this.#candidates.set(index, state);
      this.#emitDelta(index, { role: 'assistant', content: '' }, null);
    }
    const content = isRecord(candidate.content) ? candidate.content : {};
    const { text, toolCalls } = translateParts(content.parts, this.#id ?? '', index, state.calls);
    if (text !== '') this.#emitDelta(index, { content: text }, null);
    if (toolCalls.length > 0 && this.#shape.operation === 'chat') {
      this.#emitDelta(
        index,
        {
          tool_calls: toolCalls.map((call, offset) => ({ index: state.calls + offset, ...call })),
        },
        null,
      );
    }
    state.calls += toolCalls.length;
    const finishReason = finishReasonOf(candidate.finishReason, state.calls > 0);
    if (finishReason !== null && !state.finished) {
      state.finished = true;
      this.#emitDelta(index, {}, finishReason);
    }
  }

  #finish(): void {
    const states = [...this.#candidates.values()];
    if (states.length === 0 || states.some((state) => !state.finished)) {
      this.#fail(
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        'api_error',
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        'Provider google ended the stream before a finishReason',
      );
      return;
    }
    if (this.#shape.includeUsage) {
      this.#emit({ ...this.#envelope(), choices: [], usage: usageOf(this.#usage) ?? null });
    }
    this.push('data: [DONE]\n\n');
    this.#ended = true;
  }

  #fail(
    failureCode:
      | 'ERR_UPSTREAM_ERROR'
      | 'ERR_UPSTREAM_STREAM_INTERRUPTED'
      | 'ERR_UPSTREAM_INVALID_RESPONSE',
    type: string,
    code: string,
    message: string,
  ): void {
    this.failure = new LoadBalancerError(failureCode, message);
    this.push(errorEvent(type, code, message));
    this.#ended = true;
  }

  #envelope(): Json {
    const id = this.#id ?? responseIdOf({}, this.#context);
    const model = this.#model || this.#context.model;
    return chunkEnvelope(this.#shape.operation, id, this.#context.created, model);
  }

  #emitDelta(index: number, delta: Json, finishReason: string | null): void {
    const chunk = deltaChunk(this.#shape.operation, this.#envelope(), delta, finishReason, index);
    if (chunk !== undefined) this.#emit(chunk);
  }

  #emit(chunk: Json): void {
    this.push(sseEvent(chunk));
  }
}
