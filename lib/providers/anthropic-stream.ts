import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { LoadBalancerError } from '../errors.js';
import { isRecord } from '../shared/values.js';
import { finishReasonOf, structuredOutputToolName, usageOf } from './anthropic-messages.js';
import { chunkEnvelope, deltaChunk, errorEvent, sseEvent } from './openai-chunks.js';
import type { StreamShape, StreamTranslator } from './provider.js';

type Json = Record<string, unknown>;

/**
 * Anthropic's Messages event stream as OpenAI `chat.completion.chunk` (or `text_completion`)
 * events, ending with `data: [DONE]`. An Anthropic `error` event, or a stream that ends before
 * `message_stop`, becomes an OpenAI error event and the end of the stream.
 */
export class AnthropicToOpenAIStream extends Transform implements StreamTranslator {
  failure: LoadBalancerError | undefined;
  readonly #parser: EventSourceParser;
  readonly #decoder = new StringDecoder('utf8');
  readonly #shape: StreamShape;
  #id = '';
  #model = '';
  readonly #created = Math.floor(Date.now() / 1000);
  #usage: Json = {};
  /** Anthropic content-block index -> OpenAI tool_calls index. */
  readonly #toolIndexes = new Map<number, number>();
  /** The content block of the structured-output tool, whose input is the answer's content. */
  #structuredIndex: number | undefined;
  #ended = false;

  constructor(shape: StreamShape) {
    super();
    this.#shape = shape;
    this.#parser = createParser({ onEvent: (event) => this.#onEvent(event) });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(this.#decoder.write(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(this.#decoder.end());
    if (!this.#ended) {
      this.#fail(
        'api_error',
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        'Provider anthropic ended the stream before message_stop',
      );
    }
    callback();
  }

  #onEvent(event: EventSourceMessage): void {
    if (this.#ended) return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!isRecord(data)) return;
    switch (event.event ?? data.type) {
      case 'message_start':
        this.#start(isRecord(data.message) ? data.message : {});
        return;
      case 'content_block_start':
        this.#blockStart(data);
        return;
      case 'content_block_delta':
        this.#blockDelta(data);
        return;
      case 'message_delta':
        this.#messageDelta(data);
        return;
      case 'message_stop':
        this.#stop();
        return;
      case 'error': {
        const error = isRecord(data.error) ? data.error : {};
        const type = String(error.type ?? 'api_error');
        this.#fail(type, type, String(error.message ?? 'Provider anthropic failed'));
        return;
      }
      default:
        // ping, content_block_stop and unknown events carry nothing for an OpenAI client.
        return;
    }
  }

  #start(message: Json): void {
    this.#id = String(message.id ?? '');
    this.#model = String(message.model ?? '');
    this.#usage = isRecord(message.usage) ? { ...message.usage } : {};
    this.#emitDelta({ role: 'assistant', content: '' }, null);
  }

  #blockStart(data: Json): void {
    const block = isRecord(data.content_block) ? data.content_block : {};
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') {
      this.#emitDelta({ content: block.text }, null);
    }
    if (block.type === 'tool_use' && block.name === structuredOutputToolName) {
      this.#structuredIndex = Number(data.index);
      return;
    }
    if (block.type === 'tool_use' && this.#shape.operation === 'chat') {
      const index = this.#toolIndexes.size;
      this.#toolIndexes.set(Number(data.index), index);
      this.#emitDelta(
        {
          tool_calls: [
            {
              index,
              id: block.id,
              type: 'function',
              function: { name: block.name, arguments: '' },
            },
          ],
        },
        null,
      );
    }
  }

  #blockDelta(data: Json): void {
    const delta = isRecord(data.delta) ? data.delta : {};
    if (delta.type === 'text_delta' && typeof delta.text === 'string') {
      this.#emitDelta({ content: delta.text }, null);
      return;
    }
    if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
      if (Number(data.index) === this.#structuredIndex) {
        this.#emitDelta({ content: delta.partial_json }, null);
        return;
      }
      const index = this.#toolIndexes.get(Number(data.index));
      if (index === undefined) return;
      this.#emitDelta(
        { tool_calls: [{ index, function: { arguments: delta.partial_json } }] },
        null,
      );
    }
  }

  #messageDelta(data: Json): void {
    if (isRecord(data.usage)) Object.assign(this.#usage, data.usage);
    const delta = isRecord(data.delta) ? data.delta : {};
    const answeredWithStructuredOutput =
      this.#structuredIndex !== undefined && this.#toolIndexes.size === 0;
    this.#emitDelta(
      {},
      answeredWithStructuredOutput && delta.stop_reason === 'tool_use'
        ? 'stop'
        : finishReasonOf(delta.stop_reason),
    );
  }

  #stop(): void {
    if (this.#shape.includeUsage) {
      this.#emit({ ...this.#envelope(), choices: [], usage: usageOf(this.#usage) });
    }
    this.push('data: [DONE]\n\n');
    this.#ended = true;
  }

  #fail(type: string, code: string, message: string): void {
    this.failure = new LoadBalancerError(
      code === 'ERR_UPSTREAM_STREAM_INTERRUPTED' ? code : 'ERR_UPSTREAM_ERROR',
      message,
    );
    this.push(errorEvent(type, code, message));
    this.#ended = true;
  }

  #envelope(): Json {
    return chunkEnvelope(this.#shape.operation, this.#id, this.#created, this.#model);
  }

  #emitDelta(delta: Json, finishReason: string | null): void {
    const chunk = deltaChunk(this.#shape.operation, this.#envelope(), delta, finishReason);
    if (chunk !== undefined) this.#emit(chunk);
  }

  #emit(chunk: Json): void {
    this.push(sseEvent(chunk));
  }
}
