import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A canned answer: status, content type and the body bytes, sent whatever the request. */
export interface CannedAnswer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * A server on 127.0.0.1 (port 0) that answers every request with `answer()` and keeps the last
 * request body, so that an official SDK can parse what a translator produced.
 */
export async function startCannedServer(
  answer: () => CannedAnswer,
): Promise<{ baseURL: string; lastBody: () => unknown; close: () => Promise<void> }> {
  let last: unknown;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      last = text === '' ? undefined : JSON.parse(text);
      const { status, contentType, body } = answer();
      res.writeHead(status, { 'content-type': contentType, connection: 'close' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}`,
    lastBody: () => last,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Writes the pieces to a translator one write each and returns its whole output as text. */
export async function runTranslator(
  stream: NodeJS.ReadWriteStream,
  pieces: readonly (string | Buffer)[],
): Promise<string> {
  const out: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => out.push(Buffer.from(chunk)));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const piece of pieces) stream.write(piece);
  stream.end();
  await ended;
  return Buffer.concat(out).toString('utf8');
}

/** The bytes of `text` cut into pieces of the given sizes in turn (so cuts fall inside characters). */
export function splitBytes(text: string, sizes: readonly number[]): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    pieces.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

/** Named server-sent events of a body: `event:` name and parsed `data:` JSON. */
export function namedEvents(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7) ?? '';
      const data = lines.find((line) => line.startsWith('data: '))?.slice(6) ?? '{}';
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

/**
 * An OpenAI chat stream for translator tests: `chunk()` builds one event of it, `usageChunk` is
 * its usage event (12 + 9 tokens), and `textStream` is a whole text answer ("Héllo, wörld 🌍").
 */
export function openAIStreamOf(model: string) {
  const envelope = { id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1, model };
  const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null): string =>
    `data: ${JSON.stringify({ ...envelope, choices: [{ index: 0, delta, finish_reason, logprobs: null }] })}\n\n`;
  const usageChunk = `data: ${JSON.stringify({
    ...envelope,
    choices: [],
    usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
  })}\n\n`;
  const textStream = [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Héllo, ' }),
    chunk({ content: 'wörld 🌍' }),
    chunk({}, 'stop'),
    usageChunk,
    'data: [DONE]\n\n',
  ].join('');
  return { chunk, usageChunk, textStream };
}
