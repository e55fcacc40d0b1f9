import { answerOpenAI, mask, openAIRequestProblem } from './openai.js';
import {
  type Exchange,
  isRecord,
  keyAccepted,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator-server.js';

/**
 * OpenAI-compatible hosts (Groq, Mistral, DeepSeek, OpenRouter, Ollama, vLLM...): OpenAI's
 * routes under each host's own base path, a bearer key, OpenAI's answers (shared with the OpenAI
 * simulator), and what each host does differently: the fields it refuses with a 400, the shape
 * of its error bodies, OpenRouter's SSE comment lines and in-stream error frames.
 */

/** How a host words an error body. */
type ErrorShape =
  /** `{ "error": { "message", "type", "param", "code" } }`, as OpenAI. */
  | 'openai'
  /** `{ "message", "type", "param", "code" }` at the top level (Mistral, Cerebras). */
  | 'flat'
  /** `{ "error": "<message>", "code": "<reason>" }` (xAI). */
  | 'string'
  /** `{ "object": "error", "message", "type", "param", "code" }` (vLLM). */
  | 'vllm';

/** A request problem: what the host says, and which field it names. */
interface Problem {
  message: string;
  param: string | null;
}

/** One host's behaviour. */
export interface CompatibleProfile {
  /** The provider name answers carry (`Hello from groq (...)`). */
  readonly name: string;
  /** The path of the host's public base URL (`/openai/v1` for Groq, empty for DeepSeek). */
  readonly basePath: string;
  /** Whether a bearer key is checked; false for hosts run without one (Ollama). */
  readonly keyRequired: boolean;
  readonly errorShape: ErrorShape;
  /** What the host refuses that OpenAI accepts. */
  readonly refuse?: (body: Record<string, unknown>) => Problem | undefined;
  /** SSE comment lines sent before the first event and between events (OpenRouter). */
  readonly comment?: string;
  /**
   * How an in-stream error (the `streamError` answer override) is framed: OpenRouter's
   * `{"error": {...}}` or vLLM's `{"object": "error", ...}`. Absent: the override is ignored.
   */
  readonly streamErrorFrame?: 'error' | 'object-error';
}

const refusedByMistral = (body: Record<string, unknown>): Problem | undefined => {
  for (const name of ['max_completion_tokens', 'seed']) {
    if (name in body) return { message: `Extra inputs are not permitted: ${name}`, param: name };
  }
  if (body.tool_choice === 'required') {
    return {
      message: "Input should be 'auto', 'none' or 'any'",
      param: 'tool_choice',
    };
  }
  return undefined;
};

const refusedByDeepSeek = (body: Record<string, unknown>): Problem | undefined => {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const index = messages.findIndex(
    (message) =>
      isRecord(message) && message.role === 'assistant' && 'reasoning_content' in message,
  );
  if (index === -1) return undefined;
  return {
    message:
      'The reasoning_content is an intermediate result for display purposes only and will not be included in the context for inference. Please remove the reasoning_content from your input and try again.',
    param: `messages[${index}].reasoning_content`,
  };
};

const refusedByGroq = (body: Record<string, unknown>): Problem | undefined => {
  const name = ['logprobs', 'logit_bias', 'top_logprobs'].find((field) => field in body);
  return name === undefined
    ? undefined
    : { message: `\`${name}\` is not supported with this model`, param: name };
};

/** The built-in hosts' profiles, by Portkey's provider name, plus a vLLM server. */
export const compatibleProfiles = {
  groq: {
    name: 'groq',
    basePath: '/openai/v1',
    keyRequired: true,
    errorShape: 'openai',
    refuse: refusedByGroq,
  },
  'together-ai': { name: 'together-ai', basePath: '/v1', keyRequired: true, errorShape: 'openai' },
  'mistral-ai': {
    name: 'mistral-ai',
    basePath: '/v1',
    keyRequired: true,
    errorShape: 'flat',
    refuse: refusedByMistral,
  },
  deepseek: {
    name: 'deepseek',
    basePath: '',
    keyRequired: true,
    errorShape: 'openai',
    refuse: refusedByDeepSeek,
  },
  'fireworks-ai': {
    name: 'fireworks-ai',
    basePath: '/inference/v1',
    keyRequired: true,
    errorShape: 'openai',
  },
  openrouter: {
    name: 'openrouter',
    basePath: '/api/v1',
    keyRequired: true,
    errorShape: 'openai',
    comment: ': OPENROUTER PROCESSING',
    streamErrorFrame: 'error',
  },
  'x-ai': { name: 'x-ai', basePath: '/v1', keyRequired: true, errorShape: 'string' },
  'perplexity-ai': { name: 'perplexity-ai', basePath: '', keyRequired: true, errorShape: 'openai' },
  deepinfra: { name: 'deepinfra', basePath: '/v1/openai', keyRequired: true, errorShape: 'openai' },
  cerebras: { name: 'cerebras', basePath: '/v1', keyRequired: true, errorShape: 'flat' },
  ollama: { name: 'ollama', basePath: '/v1', keyRequired: false, errorShape: 'openai' },
  vllm: {
    name: 'vllm',
    basePath: '/v1',
    keyRequired: false,
    errorShape: 'vllm',
    streamErrorFrame: 'object-error',
  },
} as const satisfies Record<string, CompatibleProfile>;

export type CompatibleProfileName = keyof typeof compatibleProfiles;

export interface CompatibleSimulatorOptions extends SimulatorOptions {
  /** The host to behave like: a built-in profile's name or a profile of its own. */
  profile: CompatibleProfileName | CompatibleProfile;
}

const operations: Record<string, string> = {
  '/chat/completions': 'chat',
  '/completions': 'complete',
  '/embeddings': 'embed',
};

/**
 * An OpenAI-compatible host at `http://127.0.0.1:<port><basePath>`. Honours the `text` and
 * `finishReason` answer overrides, and `streamError` on profiles with in-stream error frames
 * (the error frame is sent after `afterEvents` events, default 1, then `[DONE]`, as the hosts do).
 */
export function startOpenAICompatibleSimulator(
  options: CompatibleSimulatorOptions,
): Promise<Simulator> {
  const profile: CompatibleProfile =
    typeof options.profile === 'string' ? compatibleProfiles[options.profile] : options.profile;
  return startSimulator(
    profile.basePath,
    async (exchange) => {
      const path = exchange.url.pathname.slice(profile.basePath.length);
      const operation = exchange.url.pathname.startsWith(profile.basePath)
        ? operations[path]
        : undefined;
      if (exchange.request.method !== 'POST' || operation === undefined) {
        sendError(exchange, profile, 404, {
          message: `Unknown request URL: ${exchange.request.method} ${exchange.url.pathname}`,
          param: null,
        });
        return;
      }
      const auth = exchange.request.headers.authorization;
      const key = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      if (profile.keyRequired && !keyAccepted(key, options)) {
        sendError(
          exchange,
          profile,
          401,
          { message: `Invalid API key provided: ${mask(key)}`, param: null },
          'invalid_api_key',
        );
        return;
      }
      const body = exchange.request.body;
      const problem =
        openAIRequestProblem(operation, body, true) ??
        (body === undefined ? undefined : profile.refuse?.(body));
      if (problem !== undefined) {
        sendError(exchange, profile, 400, problem);
        return;
      }
      await answerOpenAI(
        withStreamQuirks(exchange, profile),
        operation,
        profile.name,
        String(body?.model),
      );
    },
    options,
  );
}

/** The exchange with its event list changed as the host streams: comment lines, an error frame. */
function withStreamQuirks(exchange: Exchange, profile: CompatibleProfile): Exchange {
  const failure =
    profile.streamErrorFrame === undefined ? undefined : exchange.overrides?.streamError;
  if (profile.comment === undefined && failure === undefined) return exchange;
  return {
    ...exchange,
    sse: (events) => {
      let sent = [...events];
      if (failure !== undefined) {
        const error = {
          message: failure.message ?? 'Provider returned error',
          type: failure.type,
          code: 502,
        };
        const frame =
          profile.streamErrorFrame === 'error' ? { error } : { object: 'error', ...error };
        // Both hosts still end the stream with [DONE]: only the frame tells the failure.
        sent = [
          ...sent.slice(0, failure.afterEvents ?? 1),
          `data: ${JSON.stringify(frame)}\n\n`,
          'data: [DONE]\n\n',
        ];
      }
      if (profile.comment !== undefined) {
        const comment = `${profile.comment}\n\n`;
        sent = sent.flatMap((event, index) => (index < 2 ? [comment, event] : [event]));
      }
      return exchange.sse(sent);
    },
  };
}

function sendError(
  exchange: Exchange,
  profile: CompatibleProfile,
  status: number,
  problem: Problem,
  code: string | null = null,
): void {
  const type = status === 401 ? 'authentication_error' : 'invalid_request_error';
  const fields = { message: problem.message, type, param: problem.param, code };
  switch (profile.errorShape) {
    case 'openai':
      exchange.json(status, { error: fields });
      return;
    case 'flat':
      exchange.json(status, fields);
      return;
    case 'string':
      exchange.json(status, { error: problem.message, code: code ?? type });
      return;
    case 'vllm':
      exchange.json(status, { object: 'error', ...fields });
      return;
  }
}
