import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { TargetNode } from '../config/config-tree.js';
import type { ProviderAdapter, StreamShape } from '../providers/provider.js';
import type { Operation } from '../types.js';

/** http-proxy's view of a target: parsed once per origin, never per request. */
export interface ProxyTarget {
  protocol: string;
  hostname: string;
  host: string;
  port: string;
  path: string;
}

/** Everything one proxied call needs, prepared before http-proxy-middleware runs. */
export interface Exchange {
  readonly traceId: string;
  readonly operation: Operation;
  /** How a translated stream should look (operation, usage chunk). */
  readonly streamShape: StreamShape;
  readonly target: TargetNode;
  readonly adapter: ProviderAdapter;
  readonly proxyTarget: ProxyTarget;
  readonly agent: Agent;
  /** Upstream path and query, e.g. `/v1/chat/completions`. */
  readonly upstreamPath: string;
  readonly upstreamHeaders: Record<string, string>;
  readonly body: PreparedBody;
  /** Milliseconds of upstream silence before the call is aborted. */
  readonly timeout: number;
  /** Headers this middleware adds to every answer of the call. */
  readonly responseHeaders: Record<string, string>;
  /** The client's URL, restored after http-proxy has read the rewritten one. */
  readonly clientUrl: string;
  upstreamRequest: ClientRequest | undefined;
  timedOut: boolean;
}

const exchangeKey = Symbol('portkeyLoadBalancer.exchange');

type WithExchange = { [exchangeKey]?: Exchange };

export function attachExchange(carrier: object, exchange: Exchange): void {
  (carrier as WithExchange)[exchangeKey] = exchange;
}

export function exchangeOf(carrier: IncomingMessage | ClientRequest | object): Exchange {
  const exchange = (carrier as WithExchange)[exchangeKey];
  if (exchange === undefined) throw new Error('No load-balancer exchange on this request');
  return exchange;
}

/**
 * The rewritten body in the one form http-proxy reads it (`buffer.pipe(proxyReq)`): written whole,
 * so that no `proxyReq` header juggling or stream re-reading is needed.
 */
export class PreparedBody {
  constructor(readonly bytes: Buffer) {}

  pipe<T extends NodeJS.WritableStream>(destination: T): T {
    destination.end(this.bytes);
    return destination;
  }
}
