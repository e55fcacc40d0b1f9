import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for an LLM provider: a real HTTP server on 127.0.0.1 that checks requests the
 * way the real API does and answers in its format. Used by the tests, the example app and the
 * benchmark; never a public address.
 */

const simulatorResponse = Symbol.for('express-portkey-loadbalancer.test.simulator-response');

/** One request as the simulator received it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query, e.g. `/v1/chat/completions`. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawBody: string;
  /** The body exactly as received (what a SigV4 signature covers). */
  readonly rawBytes: Buffer;
  /** The parsed JSON body, or undefined when it was not JSON. */
  readonly body: Record<string, unknown> | undefined;
  /** Resolves when the response to this request has closed (finished, or cut by the client). */
  readonly closed: Promise<void>;
  /** Whether the connection was cut before the simulator finished answering. */
  abortedByClient: boolean;
  /** Whether the response has closed (set synchronously, unlike `closed`). */
  done: boolean;
}

/** A scripted answer that replaces the simulator's normal behaviour for one request. */
export type Behaviour =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { hang: true }
  | { destroy: true }
  | { delayMs: number }
  /** A normal answer, changed as described (finish reason, text, a failure mid-stream). */
  | { answer: AnswerOverrides }
  /** Raw response pieces written one by one (split events, CRLF...); optionally cut after them. */
  | {
      stream: readonly (string | Buffer)[];
      pieceDelayMs?: number;
      cutAfter?: boolean;
      headers?: Record<string, string>;
    };

/**
 * Changes to one normal answer. Each simulator documents which it honours (OpenAI and Azure:
 * `finishReason` and `text`; Gemini and Bedrock: all three; Anthropic: none yet); none of them
 * skips the checks on the request.
 */
export interface AnswerOverrides {
  /** The provider's own finish reason, e.g. `SAFETY` (Gemini) or `guardrail_intervened` (Bedrock). */
  finishReason?: string;
  /** The answer text instead of `Hello from <provider> (<model>)`. */
  text?: string;
  /**
   * Streams only: after `afterEvents` events (default 1), send the provider's in-stream error and
   * end the stream. `type` is the provider's error name, e.g. `throttlingException` (Bedrock) or
   * `UNAVAILABLE` (Gemini).
   */
  streamError?: { type: string; message?: string; afterEvents?: number };
}

/** What a provider's handler sees and uses to answer. */
export interface Exchange {
  readonly request: RecordedRequest;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The scripted changes to this answer, if the test asked for any. */
  readonly overrides: AnswerOverrides | undefined;
  json(status: number, body: unknown, headers?: Record<string, string>): void;
  /** Writes server-sent events one by one, pausing `chunkDelayMs` between them. */
  sse(events: readonly string[]): Promise<void>;
  /** Writes a 200 stream of the given type piece by piece, pausing `chunkDelayMs` between. */
  stream(
    contentType: string,
    pieces: readonly (string | Uint8Array)[],
    headers?: Record<string, string>,
  ): Promise<void>;
}

export type Handler = (exchange: Exchange) => void | Promise<void>;

export interface SimulatorOptions {
  /** Keys the simulator accepts; undefined accepts any non-empty key (demo mode). */
  apiKeys?: readonly string[];
  /** Pause between streamed events, in milliseconds. Defaults to 0. */
  chunkDelayMs?: number;
}

export interface Simulator {
  /** The base URL to configure as the provider's `baseURL`. */
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Answers the next requests with these behaviours, in order, then behaves normally again. */
  script(...behaviours: Behaviour[]): void;
  /** Forgets recorded requests and scripted behaviours. */
  reset(): void;
  /** Currently open TCP connections. */
  connectionCount(): number;
  close(): Promise<void>;
}

export async function startSimulator(
  basePath: string,
  handler: Handler,
  options: SimulatorOptions = {},
): Promise<Simulator> {
  const requests: RecordedRequest[] = [];
  const scripted: Behaviour[] = [];
  const server: Server = createServer((req, res) => {
    void serve(req, res);
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Lets the test suite's leak scan tell a provider's answers from the middleware's.
    (res as unknown as Record<symbol, boolean>)[simulatorResponse] = true;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBytes = Buffer.concat(chunks);
    const rawBody = rawBytes.toString('utf8');
    let closedResolve: () => void = () => {};
    const record: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawBody,
      rawBytes,
      body: parseObject(rawBody),
      closed: new Promise<void>((resolve) => {
        closedResolve = resolve;
      }),
      abortedByClient: false,
      done: false,
    };
    res.once('close', () => {
      record.done = true;
      if (!res.writableFinished) record.abortedByClient = true;
      closedResolve();
    });
    requests.push(record);
    const behaviour = scripted.shift();
    let overrides: AnswerOverrides | undefined;
    if (behaviour !== undefined && 'answer' in behaviour) overrides = behaviour.answer;
    else if (behaviour !== undefined) {
      if ('hang' in behaviour) return;
      if ('destroy' in behaviour) {
        req.socket.destroy();
        return;
      }
      if ('stream' in behaviour) {
        await writePieces(res, behaviour);
        return;
      }
      if ('delayMs' in behaviour) {
        await sleep(behaviour.delayMs);
      } else {
        sendJson(res, behaviour.status, behaviour.body ?? {}, behaviour.headers);
        return;
      }
    }
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    try {
      await handler({
        request: record,
        res,
        url,
        overrides,
        json: (status, body, headers) => sendJson(res, status, body, headers),
        sse: (events) =>
          writeStream(
            res,
            { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
            events,
            options.chunkDelayMs ?? 0,
          ),
        stream: (contentType, pieces, headers) =>
          writeStream(
            res,
            { ...headers, 'content-type': contentType },
            pieces,
            options.chunkDelayMs ?? 0,
          ),
      });
    } catch (error) {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(error) } });
      else res.destroy();
    }
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${basePath}`,
    port,
    requests,
    script: (...behaviours) => {
      scripted.push(...behaviours);
    },
    reset: () => {
      requests.length = 0;
      scripted.length = 0;
    },
    connectionCount: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Whether the presented key is one the simulator accepts. */
export function keyAccepted(key: string | undefined, options: SimulatorOptions): boolean {
  if (key === undefined || key === '') return false;
  return options.apiKeys === undefined || options.apiKeys.includes(key);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

async function writeStream(
  res: ServerResponse,
  headers: Record<string, string>,
  events: readonly (string | Uint8Array)[],
  delayMs: number,
): Promise<void> {
  res.writeHead(200, headers);
  for (const [index, event] of events.entries()) {
    if (res.destroyed) return;
    if (index > 0 && delayMs > 0) await sleep(delayMs);
    res.write(event);
  }
  res.end();
}

async function writePieces(
  res: ServerResponse,
  behaviour: {
    stream: readonly (string | Buffer)[];
    pieceDelayMs?: number;
    cutAfter?: boolean;
    headers?: Record<string, string>;
  },
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', ...behaviour.headers });
  for (const piece of behaviour.stream) {
    if (res.destroyed) return;
    res.write(piece);
    await sleep(behaviour.pieceDelayMs ?? 5);
  }
  if (behaviour.cutAfter === true) res.socket?.destroy();
  else res.end();
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A percent-decoded path or segment, or undefined when its escapes are malformed. */
export function decodedPath(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
