import type { ConfigSource } from '../config/config-resolver.js';
import { type Need, operationNeeds } from '../proxy/serving-targets.js';
import type { Operation } from '../types.js';

/** What a route serves and where its config comes from. */
export interface Route {
  readonly operation: Operation;
  /** `body`: Portkey's original API (`{ config, params }`); `header`: OpenAI's (`x-portkey-config`). */
  readonly source: ConfigSource;
  /** What a target must serve to be chosen. */
  readonly need: Need;
}

const routes = new Map<string, Route>([
  ['/v1/chatComplete', { operation: 'chat', source: 'body', need: operationNeeds.chat }],
  ['/v1/complete', { operation: 'complete', source: 'body', need: operationNeeds.complete }],
  ['/v1/chat/completions', { operation: 'chat', source: 'header', need: operationNeeds.chat }],
  ['/v1/completions', { operation: 'complete', source: 'header', need: operationNeeds.complete }],
  ['/v1/embed', { operation: 'embed', source: 'body', need: operationNeeds.embed }],
  ['/v1/embeddings', { operation: 'embed', source: 'header', need: operationNeeds.embed }],
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
