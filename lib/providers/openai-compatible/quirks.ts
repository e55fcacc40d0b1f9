import { isRecord } from '../../shared/values.js';
import type { Operation, Params } from '../../types.js';
import type { RequestQuirk } from './catalog.js';

/**
 * Request rewrites of the OpenAI-compatible providers: pure functions of the merged params that
 * return the params unchanged (the same object) when nothing applies, so that the common case
 * costs a few property reads.
 */
export type RequestRewrite = (operation: Operation, params: Params) => Params;

/**
 * Mistral names three OpenAI fields its own way and refuses the OpenAI names: `max_tokens`
 * for `max_completion_tokens`, `random_seed` for `seed`, and `"any"` for `tool_choice:
 * "required"`. A field the request already gives in Mistral's spelling wins.
 */
export function mistralRequest(_operation: Operation, params: Params): Params {
  const renames = 'max_completion_tokens' in params || 'seed' in params;
  if (!renames && params.tool_choice !== 'required') return params;
  const { max_completion_tokens, seed, ...rest } = params;
  const rewritten: Params = rest;
  if (max_completion_tokens !== undefined)
    rewritten.max_tokens = rest.max_tokens ?? max_completion_tokens;
  if (seed !== undefined) rewritten.random_seed = rest.random_seed ?? seed;
  if (rest.tool_choice === 'required') rewritten.tool_choice = 'any';
  return rewritten;
}

/**
 * DeepSeek's reasoner answers carry `reasoning_content`, and DeepSeek refuses (400) a request
 * whose assistant messages send it back: clients that append the whole answer to the history
 * do exactly that, so it is stripped.
 */
export function deepseekRequest(_operation: Operation, params: Params): Params {
  const messages = params.messages;
  if (!Array.isArray(messages) || !messages.some(carriesReasoning)) return params;
  return {
    ...params,
    messages: messages.map((message) => {
      if (!carriesReasoning(message)) return message;
      const { reasoning_content: _dropped, ...rest } = message;
      return rest;
    }),
  };
}

function carriesReasoning(message: unknown): message is Record<string, unknown> {
  return isRecord(message) && message.role === 'assistant' && 'reasoning_content' in message;
}

/** What Groq refuses with a 400 that OpenAI accepts. */
export const groqUnsupported = ['logprobs', 'logit_bias', 'top_logprobs'] as const;

/**
 * Groq refuses `logprobs`, `logit_bias` and `top_logprobs`. They are dropped rather than
 * refused: in a load-balanced config one Groq target must not fail requests the other targets
 * serve, and OpenAI's answer shape already allows `logprobs: null`, which is what the client
 * gets from Groq.
 */
export function groqRequest(_operation: Operation, params: Params): Params {
  if (!groqUnsupported.some((name) => name in params)) return params;
  const rewritten = { ...params };
  for (const name of groqUnsupported) delete rewritten[name];
  return rewritten;
}

/** The rewrite of each named quirk. */
export const requestRewrites: Readonly<Record<RequestQuirk, RequestRewrite>> = {
  'mistral-ai': mistralRequest,
  deepseek: deepseekRequest,
  groq: groqRequest,
};
