import { describe, expect, it } from 'vitest';
import { AnthropicToOpenAIStream } from '../../lib/providers/anthropic-stream.js';
import type { StreamShape } from '../../lib/providers/provider.js';
import { anthropicEvent, chunksOf, dataOf } from '../helpers/sse.js';

const chat: StreamShape = { operation: 'chat', includeUsage: false };

/** Feeds the pieces to a fresh translator, one write each, and returns it with its whole output. */
async function translate(pieces: readonly (string | Buffer)[], shape: StreamShape = chat) {
  const stream = new AnthropicToOpenAIStream(shape);
  const out: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => out.push(Buffer.from(chunk)));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const piece of pieces) stream.write(piece);
  stream.end();
  await ended;
  const text = Buffer.concat(out).toString('utf8');
  return { stream, text, chunks: chunksOf(dataOf(text)) };
}

type Chunk = Record<string, unknown> & { choices: Record<string, unknown>[] };

/** The JSON chunks (without `[DONE]`). */
function jsonChunks(chunks: ReturnType<typeof chunksOf>): Chunk[] {
  return chunks.filter((chunk): chunk is Chunk => chunk !== '[DONE]');
}

function contentOf(chunks: ReturnType<typeof chunksOf>): string {
  return jsonChunks(chunks)
    .map((chunk) => {
      const choice = chunk.choices[0] as
        | { delta?: { content?: string }; text?: string }
        | undefined;
      return choice?.delta?.content ?? choice?.text ?? '';
    })
    .join('');
}

const start = anthropicEvent('message_start', {
  message: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-3-5-haiku-latest',
    content: [],
    usage: { input_tokens: 12, output_tokens: 1, cache_read_input_tokens: 3 },
  },
});
const textBlock = (index: number) =>
  anthropicEvent('content_block_start', { index, content_block: { type: 'text', text: '' } });
const textDelta = (index: number, text: string) =>
  anthropicEvent('content_block_delta', { index, delta: { type: 'text_delta', text } });
const blockStop = (index: number) => anthropicEvent('content_block_stop', { index });
const messageDelta = (stopReason: string, outputTokens = 5) =>
  anthropicEvent('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: outputTokens },
  });
const stop = anthropicEvent('message_stop', {});

const textAnswer = (text: string) => [
  start,
  textBlock(0),
  anthropicEvent('ping', {}),
  ...text.split(/(?= )/).map((word) => textDelta(0, word)),
  blockStop(0),
  messageDelta('end_turn'),
  stop,
];

describe('AnthropicToOpenAIStream', () => {
  it('turns text deltas into chat.completion.chunk events ending with [DONE]', async () => {
    const { stream, chunks } = await translate(textAnswer('Hello there, world'));
    expect(stream.failure).toBeUndefined();
    expect(chunks.at(-1)).toBe('[DONE]');
    const json = jsonChunks(chunks);
    for (const chunk of json) {
      expect(chunk).toMatchObject({
        id: 'msg_1',
        object: 'chat.completion.chunk',
        model: 'claude-3-5-haiku-latest',
      });
    }
    expect(json[0]?.choices[0]).toEqual({
      index: 0,
      delta: { role: 'assistant', content: '' },
      finish_reason: null,
      logprobs: null,
    });
    expect(json.slice(1, -1).map((chunk) => chunk.choices[0]?.delta)).toEqual([
      { content: 'Hello' },
      { content: ' there,' },
      { content: ' world' },
    ]);
    expect(json.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(json.some((chunk) => 'usage' in chunk)).toBe(false);
  });

  it('maps stop reasons to finish reasons', async () => {
    const { chunks } = await translate([start, textBlock(0), messageDelta('max_tokens'), stop]);
    expect(jsonChunks(chunks).at(-1)?.choices[0]?.finish_reason).toBe('length');
  });

  it('streams tool_use blocks as delta.tool_calls, numbered from 0', async () => {
    const { stream, chunks } = await translate([
      start,
      textBlock(0),
      textDelta(0, 'Let me look.'),
      blockStop(0),
      anthropicEvent('content_block_start', {
        index: 1,
        content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
      }),
      anthropicEvent('content_block_delta', {
        index: 1,
        delta: { type: 'input_json_delta', partial_json: '{"city":' },
      }),
      anthropicEvent('content_block_delta', {
        index: 1,
        delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
      }),
      blockStop(1),
      messageDelta('tool_use'),
      stop,
    ]);
    expect(stream.failure).toBeUndefined();
    const deltas = jsonChunks(chunks).map((chunk) => chunk.choices[0]?.delta);
    expect(deltas).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Let me look.' },
      {
        tool_calls: [
          {
            index: 0,
            id: 'toolu_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      {},
    ]);
    expect(jsonChunks(chunks).at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('adds a usage chunk with no choices before [DONE] when includeUsage is set', async () => {
    const { chunks } = await translate(textAnswer('Hi'), { operation: 'chat', includeUsage: true });
    expect(chunks.at(-1)).toBe('[DONE]');
    const usage = chunks.at(-2) as Chunk;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({
      prompt_tokens: 15,
      completion_tokens: 5,
      total_tokens: 20,
      prompt_tokens_details: { cached_tokens: 3, cache_creation_tokens: 0 },
    });
    // Only one chunk carries usage.
    expect(jsonChunks(chunks).filter((chunk) => 'usage' in chunk)).toHaveLength(1);
  });

  it('turns an error event into an OpenAI error event and sets failure', async () => {
    const { stream, chunks } = await translate([
      start,
      textBlock(0),
      textDelta(0, 'Hel'),
      anthropicEvent('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      // Anything after the error is dropped.
      textDelta(0, 'lo'),
      stop,
    ]);
    expect(chunks.at(-1)).toEqual({
      error: {
        message: 'Overloaded',
        type: 'overloaded_error',
        param: null,
        code: 'overloaded_error',
      },
    });
    expect(chunks).not.toContain('[DONE]');
    expect(contentOf(chunks.slice(0, -1))).toBe('Hel');
    expect(stream.failure).toMatchObject({ code: 'ERR_UPSTREAM_ERROR', message: 'Overloaded' });
  });

  it('reports a stream that ends before message_stop as interrupted', async () => {
    const { stream, chunks } = await translate([start, textBlock(0), textDelta(0, 'Hel')]);
    expect(chunks.at(-1)).toMatchObject({
      error: { type: 'api_error', code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' },
    });
    expect(chunks).not.toContain('[DONE]');
    expect(stream.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
    expect(stream.failure?.message).toContain('before message_stop');
  });

  it('reports an empty stream as interrupted', async () => {
    const { stream, chunks } = await translate([]);
    expect(chunks).toHaveLength(1);
    expect(stream.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
  });

  it('reassembles events split at every byte boundary, multi-byte UTF-8 included', async () => {
    const text = 'Grüße 👋 café — 日本語';
    const whole = Buffer.from(textAnswer(text).join(''), 'utf8');
    const expected = await translate([whole]);
    expect(contentOf(expected.chunks)).toBe(text);
    const bytes = [...whole].map((byte) => Buffer.from([byte]));
    const oneByOne = await translate(bytes);
    expect(oneByOne.stream.failure).toBeUndefined();
    expect(oneByOne.chunks).toEqual(expected.chunks);
    // Odd-sized pieces that cut inside multi-byte characters, `event:` lines and `data:` lines.
    for (const size of [2, 3, 5, 7, 13]) {
      const pieces: Buffer[] = [];
      for (let offset = 0; offset < whole.length; offset += size) {
        pieces.push(whole.subarray(offset, offset + size));
      }
      const split = await translate(pieces);
      expect(split.chunks, `pieces of ${size} bytes`).toEqual(expected.chunks);
    }
  });

  it('accepts CRLF line endings', async () => {
    const crlf = [start, textBlock(0), textDelta(0, 'Hi'), messageDelta('end_turn'), stop].map(
      (event) => event.replace(/\n/g, '\r\n'),
    );
    const { stream, chunks } = await translate(crlf);
    expect(stream.failure).toBeUndefined();
    expect(contentOf(chunks)).toBe('Hi');
    expect(chunks.at(-1)).toBe('[DONE]');
  });

  it('writes text_completion chunks with text for the completions operation', async () => {
    const { stream, chunks } = await translate(textAnswer('Once upon'), {
      operation: 'complete',
      includeUsage: false,
    });
    expect(stream.failure).toBeUndefined();
    expect(chunks.at(-1)).toBe('[DONE]');
    const json = jsonChunks(chunks);
    // No role chunk: a text completion has no message.
    expect(json.map((chunk) => chunk.choices[0])).toEqual([
      { index: 0, text: 'Once', finish_reason: null, logprobs: null },
      { index: 0, text: ' upon', finish_reason: null, logprobs: null },
      { index: 0, text: '', finish_reason: 'stop', logprobs: null },
    ]);
    for (const chunk of json) expect(chunk.object).toBe('text_completion');
  });
});
