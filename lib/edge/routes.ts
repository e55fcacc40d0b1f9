import type { ConfigSource } from '../config/config-resolver.js';
import type { Operation } from '../types.js';

/** What a route serves and where its config comes from. */
export interface Route {
  readonly operation: Operation;
  /** `body`: Portkey's original API (`{ config, params }`); `header`: OpenAI's (`x-portkey-config`). */
  readonly source: ConfigSource;
}

const routes = new Map<string, Route>([
  ['/v1/chatComplete', { operation: 'chat', source: 'body' }],
  ['/v1/complete', { operation: 'complete', source: 'body' }],
  ['/v1/chat/completions', { operation: 'chat', source: 'header' }],
  ['/v1/completions', { operation: 'complete', source: 'header' }],
  ['/v1/embed', { operation: 'embed', source: 'body' }],
  ['/v1/embeddings', { operation: 'embed', source: 'header' }],
]);

/** The route a request is for, relative to the mount point; undefined for anything else. */
export function routeOf(method: string | undefined, url: string): Route | undefined {
  return method === 'POST' ? routes.get(pathOf(url)) : undefined;
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
