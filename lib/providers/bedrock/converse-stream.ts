import { Transform, type TransformCallback } from 'node:stream';
import { EventStreamCodec, type Message } from '@smithy/core/event-streams';
import { LoadBalancerError } from '../../errors.js';
import { isRecord } from '../../shared/values.js';
import { chunkEnvelope, deltaChunk, errorEvent, sseEvent } from '../openai-chunks.js';
import type { StreamShape, StreamTranslator } from '../provider.js';
import { bedrockErrorType, bedrockExceptionName } from './bedrock-errors.js';
import { structuredOutputToolName } from './converse-request.js';
import { type CompletionContext, finishReasonOf, usageOf } from './converse-response.js';

type Json = Record<string, unknown>;

/** The content type of a Converse stream: binary event-stream frames, not SSE. */
export const bedrockStreamContentType = 'application/vnd.amazon.eventstream';

/** The codec the AWS SDK decodes with: it checks the prelude CRC32 and the message CRC32. */
const codec = new EventStreamCodec(
  (input: Uint8Array | string) =>
    typeof input === 'string' ? input : Buffer.from(input).toString('utf8'),
  (input: string) => new Uint8Array(Buffer.from(input, 'utf8')),
);

/** 4-byte total length, 4-byte headers length, 4-byte prelude CRC, then the message CRC. */
const preludeBytes = 12;
const minFrameBytes = preludeBytes + 4;
/** Bedrock's frames are far smaller; a larger length means the stream is not event-stream. */
const maxFrameBytes = 16 * 1024 * 1024;

/**
 * A Converse stream (`application/vnd.amazon.eventstream` bytes, split anywhere) as OpenAI
 * `chat.completion.chunk` (or `text_completion`) SSE events, ending with `data: [DONE]`.
 *
 * Frames are cut by their 4-byte total-length prelude and decoded with `@smithy/core`'s
 * event-stream codec, which checks both CRCs. An exception frame (`:message-type` `exception`,
 * such as `throttlingException`), a corrupt frame, or a stream that ends before `messageStop`
 * and `metadata` becomes an OpenAI error event and the end of the stream, with the reason in
 * `failure`.
 */
export class BedrockToOpenAIStream extends Transform implements StreamTranslator {
  failure: LoadBalancerError | undefined;
  readonly #shape: StreamShape;
  readonly #context: CompletionContext;
  #pending: Buffer = Buffer.alloc(0);
  /** Converse content-block index -> OpenAI tool_calls index. */
  readonly #toolIndexes = new Map<number, number>();
  /** The content block of the structured-output tool, whose input is the answer's content. */
  #structuredIndex: number | undefined;
  #stopped = false;
  #usage: unknown;
  #metadataSeen = false;
  #ended = false;

  constructor(shape: StreamShape, context: CompletionContext) {
    super();
    this.#shape = shape;
    this.#context = context;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#ended) {
      this.#pending =
        this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
      this.#readFrames();
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#ended) {
      this.#fail(
        'api_error',
        'ERR_UPSTREAM_STREAM_INTERRUPTED',
        this.#pending.length > 0
          ? 'Provider bedrock ended the stream in the middle of a frame'
          : 'Provider bedrock ended the stream before messageStop and metadata',
      );
    }
    callback();
  }

  #readFrames(): void {
    while (!this.#ended && this.#pending.length >= 4) {
      const length = this.#pending.readUInt32BE(0);
      if (length < minFrameBytes || length > maxFrameBytes) {
        this.#corrupt(`a frame length of ${length} bytes`);
        return;
      }
      if (this.#pending.length < length) return;
      const frame = this.#pending.subarray(0, length);
      this.#pending = this.#pending.subarray(length);
      let message: Message;
      try {
        message = codec.decode(frame);
      } catch {
        this.#corrupt('a frame whose checksum does not match');
        return;
      }
      this.#onMessage(message);
    }
  }

  #onMessage(message: Message): void {
    const header = (name: string) => {
      const value = message.headers[name]?.value;
      return value === undefined ? undefined : String(value);
    };
    const messageType = header(':message-type');
    if (messageType === 'exception' || messageType === 'error') {
      const payload = payloadOf(message);
      const exception =
        bedrockExceptionName(header(':exception-type') ?? header(':error-code')) ??
        'InternalServerException';
      const text = payload?.message ?? header(':error-message');
      this.#fail(
        bedrockErrorType(exception, 500),
        exception,
        typeof text === 'string' && text !== '' ? text : `Provider bedrock sent ${exception}`,
      );
      return;
    }
    if (messageType !== 'event') return;
    const payload = payloadOf(message);
    if (payload === undefined) {
      this.#corrupt('an event whose payload is not a JSON object');
      return;
    }
    this.#onEvent(header(':event-type'), payload);
  }

  #onEvent(type: string | undefined, payload: Json): void {
    switch (type) {
      case 'messageStart':
        this.#emitDelta({ role: 'assistant', content: '' }, null);
        return;
      case 'contentBlockStart':
        this.#blockStart(payload);
        return;
      case 'contentBlockDelta':
        this.#blockDelta(payload);
        return;
      case 'messageStop':
        this.#messageStop(payload);
        return;
      case 'metadata':
        this.#usage = payload.usage;
        this.#metadataSeen = true;
        this.#finishIfComplete();
        return;
      default:
        // contentBlockStop and unknown events carry nothing for an OpenAI client.
        return;
    }
  }

  #blockStart(payload: Json): void {
    const start = isRecord(payload.start) ? payload.start : {};
    const use = isRecord(start.toolUse) ? start.toolUse : undefined;
    if (use === undefined) return;
    const blockIndex = Number(payload.contentBlockIndex);
    if (use.name === structuredOutputToolName) {
      this.#structuredIndex = blockIndex;
      return;
    }
    if (this.#shape.operation !== 'chat') return;
    const index = this.#toolIndexes.size;
    this.#toolIndexes.set(blockIndex, index);
    this.#emitDelta(
      {
        tool_calls: [
          {
            index,
            id: use.toolUseId,
            type: 'function',
            function: { name: use.name, arguments: '' },
          },
        ],
      },
      null,
    );
  }

  #blockDelta(payload: Json): void {
    const delta = isRecord(payload.delta) ? payload.delta : {};
    if (typeof delta.text === 'string') {
      if (delta.text !== '') this.#emitDelta({ content: delta.text }, null);
      return;
    }
    const input = isRecord(delta.toolUse) ? delta.toolUse.input : undefined;
    if (typeof input !== 'string') return;
    const blockIndex = Number(payload.contentBlockIndex);
    if (blockIndex === this.#structuredIndex) {
      this.#emitDelta({ content: input }, null);
      return;
    }
    const index = this.#toolIndexes.get(blockIndex);
    if (index === undefined) return;
    this.#emitDelta({ tool_calls: [{ index, function: { arguments: input } }] }, null);
  }

  #messageStop(payload: Json): void {
    const answeredWithStructuredOutput =
      this.#structuredIndex !== undefined && this.#toolIndexes.size === 0;
    this.#emitDelta(
      {},
      answeredWithStructuredOutput && payload.stopReason === 'tool_use'
        ? 'stop'
        : finishReasonOf(payload.stopReason),
    );
    this.#stopped = true;
    this.#finishIfComplete();
  }

  /** Bedrock sends `metadata` (with usage) after `messageStop`: the stream is whole after both. */
  #finishIfComplete(): void {
    if (!this.#stopped || !this.#metadataSeen) return;
    if (this.#shape.includeUsage) {
      this.#emit({ ...this.#envelope(), choices: [], usage: usageOf(this.#usage) });
    }
    this.push('data: [DONE]\n\n');
    this.#ended = true;
  }

  #corrupt(what: string): void {
    this.#fail(
      'api_error',
      'ERR_UPSTREAM_INVALID_RESPONSE',
      `Provider bedrock sent ${what} in its event stream`,
    );
  }

  #fail(type: string, code: string, message: string): void {
    this.failure = new LoadBalancerError(
      code === 'ERR_UPSTREAM_STREAM_INTERRUPTED' || code === 'ERR_UPSTREAM_INVALID_RESPONSE'
        ? code
        : 'ERR_UPSTREAM_ERROR',
      message,
      { type },
    );
    this.push(errorEvent(type, code, message));
    this.#ended = true;
    this.#pending = Buffer.alloc(0);
  }

  #envelope(): Json {
    const { id, created, model } = this.#context;
    return chunkEnvelope(this.#shape.operation, id, created, model);
  }

  #emitDelta(delta: Json, finishReason: string | null): void {
    const chunk = deltaChunk(this.#shape.operation, this.#envelope(), delta, finishReason);
    if (chunk !== undefined) this.#emit(chunk);
  }

  #emit(chunk: Json): void {
    this.push(sseEvent(chunk));
  }
}

function payloadOf(message: Message): Json | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(message.body).toString('utf8'));
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
