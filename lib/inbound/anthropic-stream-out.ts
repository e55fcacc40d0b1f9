import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { LoadBalancerError } from '../errors.js';
import type { StreamTranslator } from '../providers/provider.js';
import { isRecord } from '../values.js';
import { anthropicErrorTypeOfEvent } from './anthropic-errors-out.js';
import { anthropicUsageOf, messageIdOf, stopReasonOf } from './anthropic-messages-in.js';

type Json = Record<string, unknown>;

/**
 * An OpenAI `chat.completion.chunk` stream (with `stream_options.include_usage`, which
 * `anthropicToChatParams` asks for) as Anthropic's Messages event sequence: `message_start`,
 * per content block `content_block_start` / `content_block_delta` / `content_block_stop`, then
 * `message_delta` (stop_reason, usage) and `message_stop`. An OpenAI error event, or a stream
 * that ends before any `finish_reason` or `[DONE]`, becomes an Anthropic `error` event, the end
 * of the stream, and `failure`.
 */
export class OpenAIToAnthropicStream extends Transform implements StreamTranslator {
  failure: LoadBalancerError | undefined;
  readonly #parser: EventSourceParser;
  readonly #decoder = new StringDecoder('utf8');
  #started = false;
  #ended = false;
  #stopReason: string | undefined;
  #usage: unknown;
  /** The content block being written to with text, if any. */
  #textBlock: number | undefined;
  /** OpenAI tool_calls index -> Anthropic content block index; open until the message ends. */
  readonly #toolBlocks = new Map<number, number>();
  #blocks = 0;

  constructor() {
    super();
    this.#parser = createParser({ onEvent: (event) => this.#onEvent(event) });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(this.#decoder.write(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#ended) this.#parser.feed(`${this.#decoder.end()}\n\n`);
    // A finish_reason without [DONE] is a complete answer from a lax provider; neither is a cut.
    if (!this.#ended && this.#stopReason !== undefined) this.#finish();
    if (!this.#ended) {
      this.#fail(
        'api_error',
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        'The provider ended the stream before its last event',
      );
    }
    callback();
  }

  #onEvent(event: EventSourceMessage): void {
    if (this.#ended) return;
    if (event.data.trim() === '[DONE]') {
      this.#finish();
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
      this.#fail(anthropicErrorTypeOfEvent(error.type), code, message);
      return;
    }
    this.#chunk(data);
  }

  #chunk(chunk: Json): void {
    if (!this.#started) this.#start(chunk);
    if (isRecord(chunk.usage)) this.#usage = chunk.usage;
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (!isRecord(choice)) return;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    if (typeof delta.content === 'string' && delta.content !== '') this.#text(delta.content);
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      this.#text(delta.refusal);
      this.#stopReason = 'refusal';
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) if (isRecord(call)) this.#toolCall(call);
    }
    if (typeof choice.finish_reason === 'string' && this.#stopReason !== 'refusal') {
      this.#stopReason = stopReasonOf(choice.finish_reason);
    }
  }

  #start(chunk: Json): void {
    this.#started = true;
    this.#emit('message_start', {
      type: 'message_start',
      message: {
        id: messageIdOf(chunk.id),
        type: 'message',
        role: 'assistant',
        model: chunk.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // Chat streams report usage only at the end: message_delta carries it.
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  #text(text: string): void {
    if (this.#textBlock === undefined) {
      this.#textBlock = this.#openBlock({ type: 'text', text: '' });
    }
    this.#emit('content_block_delta', {
      type: 'content_block_delta',
      index: this.#textBlock,
      delta: { type: 'text_delta', text },
    });
  }

  #toolCall(call: Json): void {
    const toolIndex = typeof call.index === 'number' ? call.index : this.#toolBlocks.size;
    const fn = isRecord(call.function) ? call.function : {};
    let block = this.#toolBlocks.get(toolIndex);
    if (block === undefined) {
      // Text after a tool call starts a new block, so the text block is done.
      this.#closeText();
      block = this.#openBlock({ type: 'tool_use', id: call.id, name: fn.name, input: {} });
      this.#toolBlocks.set(toolIndex, block);
    }
    if (typeof fn.arguments === 'string' && fn.arguments !== '') {
      this.#emit('content_block_delta', {
        type: 'content_block_delta',
        index: block,
        delta: { type: 'input_json_delta', partial_json: fn.arguments },
      });
    }
  }

  #openBlock(contentBlock: Json): number {
    const index = this.#blocks++;
    this.#emit('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: contentBlock,
    });
    return index;
  }

  #closeText(): void {
    if (this.#textBlock === undefined) return;
    this.#emit('content_block_stop', { type: 'content_block_stop', index: this.#textBlock });
    this.#textBlock = undefined;
  }

  #finish(): void {
    if (!this.#started) this.#start({});
    this.#closeText();
    for (const index of this.#toolBlocks.values()) {
      this.#emit('content_block_stop', { type: 'content_block_stop', index });
    }
    this.#toolBlocks.clear();
    const usage = anthropicUsageOf(this.#usage);
    this.#emit('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: this.#stopReason ?? 'end_turn', stop_sequence: null },
      usage,
    });
    this.#emit('message_stop', { type: 'message_stop' });
    this.#ended = true;
  }

  #fail(type: string, code: string, message: string): void {
    this.failure = new LoadBalancerError(
      code === 'ERR_UPSTREAM_STREAM_INTERRUPTED' ? code : 'ERR_UPSTREAM_ERROR',
      message,
    );
    this.#emit('error', { type: 'error', error: { type, message } });
    this.#ended = true;
  }

  #emit(event: string, data: Json): void {
    this.push(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
