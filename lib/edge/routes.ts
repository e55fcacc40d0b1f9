import type { ConfigSource } from '../config/config-resolver.js';
import {
  anthropicCountTokensApi,
  anthropicMessagesApi,
  type InboundApi,
  openAIResponsesApi,
} from '../inbound/inbound-api.js';
import { type Need, operationNeeds } from '../proxy/serving-targets.js';
import type { Operation } from '../types.js';

/** A route that calls a provider: what it serves and where its config comes from. */
export interface CallRoute {
  readonly kind: 'call';
  readonly operation: Operation;
  /** `body`: Portkey's original API (`{ config, params }`); `header`: OpenAI's (`x-portkey-config`). */
  readonly source: ConfigSource;
  /** What a target must serve to be chosen (an inbound route decides per request). */
  readonly need: Need;
  /** The client API of an inbound route (Anthropic Messages, OpenAI Responses). */
  readonly inbound: InboundApi | undefined;
}

/** `GET /v1/models`: the models the request's config can route to. */
export interface ModelListRoute {
  readonly kind: 'models';
}

export type Route = CallRoute | ModelListRoute;

function call(operation: Operation, source: ConfigSource): CallRoute {
  return { kind: 'call', operation, source, need: operationNeeds[operation], inbound: undefined };
}

function inbound(api: InboundApi): CallRoute {
  return {
    kind: 'call',
    operation: 'chat',
    source: 'header',
    need: operationNeeds.chat,
    inbound: api,
  };
}

const postRoutes = new Map<string, CallRoute>([
  ['/v1/chatComplete', call('chat', 'body')],
  ['/v1/complete', call('complete', 'body')],
  ['/v1/chat/completions', call('chat', 'header')],
  ['/v1/completions', call('complete', 'header')],
  ['/v1/embed', call('embed', 'body')],
  ['/v1/embeddings', call('embed', 'header')],
  ['/v1/messages', inbound(anthropicMessagesApi)],
  ['/v1/messages/count_tokens', inbound(anthropicCountTokensApi)],
  ['/v1/responses', inbound(openAIResponsesApi)],
]);

const modelList: ModelListRoute = { kind: 'models' };

/** The route a request is for, relative to the mount point; undefined for anything else. */
export function routeOf(method: string | undefined, url: string): Route | undefined {
  if (method === 'POST') return postRoutes.get(pathOf(url));
  return method === 'GET' && pathOf(url) === '/v1/models' ? modelList : undefined;
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
