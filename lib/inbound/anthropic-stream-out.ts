import { LoadBalancerError } from '../errors.js';
import { isRecord } from '../shared/values.js';
import { anthropicErrorTypeOfEvent } from './anthropic-errors-out.js';
import { anthropicUsageOf, messageIdOf, stopReasonOf } from './anthropic-messages-in.js';
import { OpenAIChunkStream } from './openai-chunk-stream.js';

type Json = Record<string, unknown>;

/**
 * An OpenAI `chat.completion.chunk` stream (with `stream_options.include_usage`, which
 * `anthropicToChatParams` asks for) as Anthropic's Messages event sequence: `message_start`,
 * per content block `content_block_start` / `content_block_delta` / `content_block_stop`, then
 * `message_delta` (stop_reason, usage) and `message_stop`. An OpenAI error event, or a stream
 * that ends before any `finish_reason` or `[DONE]`, becomes an Anthropic `error` event, the end
 * of the stream, and `failure`.
 */
export class OpenAIToAnthropicStream extends OpenAIChunkStream {
  #started = false;
  #stopReason: string | undefined;
  #usage: unknown;
  /** The content block being written to with text, if any. */
  #textBlock: number | undefined;
  /** OpenAI tool_calls index -> Anthropic content block index; open until the message ends. */
  readonly #toolBlocks = new Map<number, number>();
  #blocks = 0;

  protected get finishReasonSeen(): boolean {
    return this.#stopReason !== undefined;
  }

  protected onChunk(chunk: Json): void {
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

  protected finish(): void {
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
    this.ended = true;
  }

  protected fail(error: Json | undefined, code: string, message: string): void {
    const type = anthropicErrorTypeOfEvent(error?.type);
    this.failure = new LoadBalancerError(
      code === 'ERR_UPSTREAM_STREAM_INTERRUPTED' ? code : 'ERR_UPSTREAM_ERROR',
      message,
    );
    this.#emit('error', { type: 'error', error: { type, message } });
    this.ended = true;
  }

  #emit(event: string, data: Json): void {
    this.push(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
