import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { simulatorResponse } from './leak-detector.js';

/** What a fault upstream knows of the request it is answering. */
export interface UpstreamRequest {
  req: IncomingMessage;
  res: ServerResponse;
  body: string;
  /** Requests this connection carried before this one. */
  earlierOnSocket: number;
}

export interface FaultUpstream {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Requests that reached the handler. */
  readonly requests: UpstreamRequest[];
  close(): Promise<void>;
}

/**
 * A misbehaving provider of the test's own on 127.0.0.1: each request is read whole and handed
 * to `handler`, which answers as badly as the test needs. Its answers are the provider's, so the
 * leak scan skips them (an echoing upstream may say the key; the middleware must not).
 */
export async function startFaultUpstream(
  handler: (request: UpstreamRequest) => void,
): Promise<FaultUpstream> {
  const requests: UpstreamRequest[] = [];
  const perSocket = new WeakMap<Socket, number>();
  const server: Server = createServer((req, res) => {
    (res as unknown as Record<symbol, boolean>)[simulatorResponse] = true;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const earlierOnSocket = perSocket.get(req.socket) ?? 0;
      perSocket.set(req.socket, earlierOnSocket + 1);
      const request = { req, res, body: Buffer.concat(chunks).toString('utf8'), earlierOnSocket };
      requests.push(request);
      handler(request);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Writes `text` a few bytes at a time, `everyMs` apart; resolves when done or the client left. */
export async function trickle(
  res: ServerResponse,
  text: string,
  everyMs: number,
  bytesPerWrite = 1,
): Promise<void> {
  for (let at = 0; at < text.length && !res.destroyed; at += bytesPerWrite) {
    res.write(text.slice(at, at + bytesPerWrite));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The credential a request carried, whichever header the provider uses. */
export function credentialOf(req: IncomingMessage): string {
  const authorization = req.headers.authorization;
  if (typeof authorization === 'string') return authorization.replace(/^Bearer /, '');
  const key = req.headers['x-api-key'] ?? req.headers['api-key'];
  return typeof key === 'string' ? key : '';
}
