import { LoadBalancerError } from '../errors.js';
import { isRecord } from '../shared/values.js';
import { OpenAIChunkStream } from './openai-chunk-stream.js';
import {
  functionCallItem,
  messageItem,
  responseEnvelope,
  responseIdOf,
  responseStatusOf,
  responsesUsageOf,
} from './responses-in.js';

type Json = Record<string, unknown>;

/** An output item being streamed: the message's text, or one function call's arguments. */
type OpenItem =
  | { kind: 'message'; id: string; outputIndex: number; text: string }
  | {
      kind: 'function_call';
      id: string;
      outputIndex: number;
      callId: unknown;
      name: unknown;
      arguments: string;
    };

/**
 * An OpenAI `chat.completion.chunk` stream (with `stream_options.include_usage`, which
 * `responsesToChatParams` asks for) as the Responses API's events, in the shapes the `openai`
 * SDK's `ResponseStream` accumulates: `response.created`, `response.in_progress`, per output item
 * `response.output_item.added` ... `response.output_item.done` (a message with one
 * `output_text` part, or a `function_call`), then `response.completed` (or `response.incomplete`
 * for `length` / `content_filter`). Every event carries `type` and `sequence_number`.
 *
 * An OpenAI error event, or a stream that ends before any `finish_reason` or `[DONE]`, becomes an
 * `error` event and `response.failed`, the end of the stream, and `failure`.
 */
export class ChatToResponsesStream extends OpenAIChunkStream {
  readonly #request: Json;
  readonly #createdAt: number;
  #id = '';
  #model: unknown;
  #sequence = 0;
  #started = false;
  #finishReason: unknown;
  #usage: unknown;
  /** Items already done, in output order. */
  readonly #output: Json[] = [];
  #message: Extract<OpenItem, { kind: 'message' }> | undefined;
  /** Chat tool_calls index -> the function call item it streams into. */
  readonly #calls = new Map<number, Extract<OpenItem, { kind: 'function_call' }>>();
  #items = 0;

  /** `request` is the client's Responses request, which the response object echoes. */
  constructor(request: Json, createdAt: number = Math.floor(Date.now() / 1000)) {
    super();
    this.#request = request;
    this.#createdAt = createdAt;
  }

  protected get finishReasonSeen(): boolean {
    return this.#finishReason !== undefined;
  }

  protected onChunk(chunk: Json): void {
    if (!this.#started) this.#start(chunk);
    if (isRecord(chunk.usage)) this.#usage = chunk.usage;
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (!isRecord(choice)) return;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    if (typeof delta.content === 'string' && delta.content !== '') this.#text(delta.content);
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) if (isRecord(call)) this.#toolCall(call);
    }
    if (typeof choice.finish_reason === 'string') this.#finishReason = choice.finish_reason;
  }

  #start(chunk: Json): void {
    this.#started = true;
    this.#id = responseIdOf(chunk.id);
    this.#model = chunk.model ?? this.#request.model;
    const response = this.#envelope('in_progress');
    this.#emit({ type: 'response.created', response });
    this.#emit({ type: 'response.in_progress', response });
  }

  #text(text: string): void {
    if (this.#message === undefined) {
      const item = {
        kind: 'message' as const,
        id: this.#itemId('msg'),
        outputIndex: this.#items++,
        text: '',
      };
      this.#message = item;
      this.#emit({
        type: 'response.output_item.added',
        output_index: item.outputIndex,
        item: { ...messageItem(item.id, '', 'in_progress'), content: [] },
      });
      this.#emit({
        type: 'response.content_part.added',
        item_id: item.id,
        output_index: item.outputIndex,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      });
    }
    this.#message.text += text;
    this.#emit({
      type: 'response.output_text.delta',
      item_id: this.#message.id,
      output_index: this.#message.outputIndex,
      content_index: 0,
      delta: text,
      logprobs: [],
    });
  }

  #toolCall(call: Json): void {
    const index = typeof call.index === 'number' ? call.index : this.#calls.size;
    const fn = isRecord(call.function) ? call.function : {};
    let item = this.#calls.get(index);
    if (item === undefined) {
      // Text after a tool call would be a new message item, so the current one is done.
      this.#closeMessage();
      item = {
        kind: 'function_call',
        id: this.#itemId('fc'),
        outputIndex: this.#items++,
        callId: call.id,
        name: fn.name,
        arguments: '',
      };
      this.#calls.set(index, item);
      this.#emit({
        type: 'response.output_item.added',
        output_index: item.outputIndex,
        item: functionCallItem(
          item.id,
          { call_id: item.callId, name: item.name, arguments: '' },
          'in_progress',
        ),
      });
    }
    if (typeof fn.arguments === 'string' && fn.arguments !== '') {
      item.arguments += fn.arguments;
      this.#emit({
        type: 'response.function_call_arguments.delta',
        item_id: item.id,
        output_index: item.outputIndex,
        delta: fn.arguments,
      });
    }
  }

  #closeMessage(): void {
    const message = this.#message;
    if (message === undefined) return;
    const where = { item_id: message.id, output_index: message.outputIndex, content_index: 0 };
    this.#emit({ type: 'response.output_text.done', ...where, text: message.text, logprobs: [] });
    const item = messageItem(message.id, message.text, 'completed');
    this.#emit({ type: 'response.content_part.done', ...where, part: (item.content as Json[])[0] });
    this.#emit({ type: 'response.output_item.done', output_index: message.outputIndex, item });
    this.#output[message.outputIndex] = item;
    this.#message = undefined;
  }

  #closeCalls(): void {
    for (const call of this.#calls.values()) {
      this.#emit({
        type: 'response.function_call_arguments.done',
        item_id: call.id,
        output_index: call.outputIndex,
        name: call.name,
        arguments: call.arguments,
      });
      const item = functionCallItem(
        call.id,
        { call_id: call.callId, name: call.name, arguments: call.arguments },
        'completed',
      );
      this.#emit({ type: 'response.output_item.done', output_index: call.outputIndex, item });
      this.#output[call.outputIndex] = item;
    }
    this.#calls.clear();
  }

  protected finish(): void {
    if (!this.#started) this.#start({});
    this.#closeMessage();
    this.#closeCalls();
    const { status, incomplete_details } = responseStatusOf(this.#finishReason);
    const response = {
      ...this.#envelope(String(status)),
      incomplete_details,
      output: this.#output.filter((item) => item !== undefined),
      usage: responsesUsageOf(this.#usage),
    };
    this.#emit({
      type: status === 'completed' ? 'response.completed' : 'response.incomplete',
      response,
    });
    this.ended = true;
  }

  protected fail(_error: Json | undefined, code: string, message: string): void {
    this.failure = new LoadBalancerError(
      code === 'ERR_UPSTREAM_STREAM_INTERRUPTED' ? code : 'ERR_UPSTREAM_ERROR',
      message,
    );
    // The SDK's stream must see response.created before anything else.
    if (!this.#started) this.#start({});
    this.#emit({ type: 'error', code, message, param: null });
    this.#emit({
      type: 'response.failed',
      response: {
        ...this.#envelope('failed'),
        error: { code: 'server_error', message },
        output: this.#output.filter((item) => item !== undefined),
      },
    });
    this.ended = true;
  }

  #envelope(status: string): Json {
    return responseEnvelope(
      { id: this.#id, model: this.#model, createdAt: this.#createdAt, request: this.#request },
      status,
    );
  }

  #itemId(prefix: string): string {
    return `${prefix}_${this.#id.slice('resp_'.length)}_${this.#items}`;
  }

  #emit(event: Json): void {
    const data = { ...event, sequence_number: this.#sequence++ };
    this.push(`event: ${String(event.type)}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
