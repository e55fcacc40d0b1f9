/**
 * The OpenAI-compatible providers: same wire format as OpenAI (`/chat/completions`,
 * `/completions`, `/embeddings`, a bearer key), each described by one entry. Adding such a
 * provider is one entry here (and its simulator profile and tests); the registry, the provider
 * list, the config schema and the `providers` option follow from it.
 *
 * Static data only, importing nothing: `provider-names.ts` (read by the schema and the public
 * types) derives from it without pulling in any adapter code. Quirks are named here and
 * implemented in `quirks.ts`.
 */

/** What an OpenAI-compatible provider may serve. Mirrors `Operation` in `types.ts`. */
export type CompatibleOperation = 'chat' | 'complete' | 'embed';

/** A rewrite of the OpenAI request body the provider needs (see `quirks.ts`). */
export type RequestQuirk = 'mistral-ai' | 'deepseek' | 'groq';

/**
 * How the provider's streams are read. `error-frames`: a stream may carry an error as a frame
 * (`data: {"error": {...}}` or vLLM's `{"object": "error", ...}`) after a 200, which must fail
 * the call, and SSE comment lines that are relayed as they are.
 */
export type StreamQuirk = 'error-frames';

/** One OpenAI-compatible provider. */
export interface CompatibleEntry {
  /** Portkey's provider name, used as `provider` in configs and as `providers.<name>`. */
  readonly name: string;
  /** The public API's base URL; undefined when the server (or an allowed `custom_host`) must set it. */
  readonly baseURL: string | undefined;
  /** Whether a target must carry a key (`api_key` or a virtual key's). */
  readonly keyRequired: boolean;
  readonly operations: readonly CompatibleOperation[];
  readonly requestQuirk?: RequestQuirk;
  readonly streamQuirk?: StreamQuirk;
}

export const openaiCompatibleCatalog = [
  {
    name: 'groq',
    baseURL: 'https://api.groq.com/openai/v1',
    keyRequired: true,
    operations: ['chat'],
    requestQuirk: 'groq',
  },
  {
    name: 'together-ai',
    baseURL: 'https://api.together.xyz/v1',
    keyRequired: true,
    operations: ['chat', 'complete', 'embed'],
  },
  {
    name: 'mistral-ai',
    baseURL: 'https://api.mistral.ai/v1',
    keyRequired: true,
    operations: ['chat', 'embed'],
    requestQuirk: 'mistral-ai',
  },
  {
    name: 'deepseek',
    baseURL: 'https://api.deepseek.com',
    keyRequired: true,
    operations: ['chat'],
    requestQuirk: 'deepseek',
  },
  {
    name: 'fireworks-ai',
    baseURL: 'https://api.fireworks.ai/inference/v1',
    keyRequired: true,
    operations: ['chat', 'complete', 'embed'],
  },
  {
    name: 'openrouter',
    baseURL: 'https://openrouter.ai/api/v1',
    keyRequired: true,
    operations: ['chat', 'complete'],
    streamQuirk: 'error-frames',
  },
  { name: 'x-ai', baseURL: 'https://api.x.ai/v1', keyRequired: true, operations: ['chat'] },
  {
    name: 'perplexity-ai',
    baseURL: 'https://api.perplexity.ai',
    keyRequired: true,
    operations: ['chat'],
  },
  {
    name: 'deepinfra',
    baseURL: 'https://api.deepinfra.com/v1/openai',
    keyRequired: true,
    operations: ['chat', 'complete', 'embed'],
  },
  {
    name: 'cerebras',
    baseURL: 'https://api.cerebras.ai/v1',
    keyRequired: true,
    operations: ['chat', 'complete'],
  },
  {
    name: 'ollama',
    baseURL: undefined,
    keyRequired: false,
    operations: ['chat', 'complete', 'embed'],
  },
] as const satisfies readonly CompatibleEntry[];

/** The name of a built-in OpenAI-compatible provider. */
export type CompatibleProviderName = (typeof openaiCompatibleCatalog)[number]['name'];
