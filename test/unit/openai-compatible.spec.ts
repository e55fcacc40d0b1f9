import { PassThrough, pipeline } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TargetNode } from '../../lib/config/config-tree.js';
import { didYouMean } from '../../lib/config/suggest.js';
import { errorCodes } from '../../lib/errors.js';
import { openaiCompatibleCatalog } from '../../lib/providers/openai-compatible/catalog.js';
import { compatibleErrorBody } from '../../lib/providers/openai-compatible/compatible-errors.js';
import {
  ErrorFrameStream,
  errorOf,
} from '../../lib/providers/openai-compatible/error-frame-stream.js';
import {
  deepseekRequest,
  groqRequest,
  mistralRequest,
} from '../../lib/providers/openai-compatible/quirks.js';
import { providerNamePattern, providerNames } from '../../lib/providers/provider-names.js';
import { checkProvidersOption, providerRules } from '../../lib/providers/provider-rules.js';
import { createProviderRegistry } from '../../lib/providers/registry.js';

const ask = [{ role: 'user', content: 'hi' }];

describe('the OpenAI-compatible catalog', () => {
  const names = openaiCompatibleCatalog.map((entry) => entry.name);

  it('holds Portkey names, each once, each in the provider list and the registry', () => {
    expect(names).toEqual([
      'groq',
      'together-ai',
      'mistral-ai',
      'deepseek',
      'fireworks-ai',
      'openrouter',
      'x-ai',
      'perplexity-ai',
      'deepinfra',
      'cerebras',
      'ollama',
    ]);
    expect(new Set(providerNames).size).toBe(providerNames.length);
    const registry = createProviderRegistry();
    for (const name of names) {
      expect(providerNames).toContain(name);
      expect(name).toMatch(new RegExp(providerNamePattern));
      expect(registry[name]?.name).toBe(name);
    }
  });

  it('gives every hosted provider an https base URL and a key; ollama neither', () => {
    for (const entry of openaiCompatibleCatalog) {
      if (entry.name === 'ollama') {
        expect(entry.baseURL).toBeUndefined();
        expect(entry.keyRequired).toBe(false);
        continue;
      }
      expect(entry.baseURL).toMatch(/^https:\/\/[a-z0-9.-]+(\/[a-z0-9/]*)?$/);
      expect(entry.keyRequired).toBe(true);
      expect(entry.operations).toContain('chat');
    }
  });

  it('builds adapters that send a bearer key to the base URL, overridable per provider', () => {
    const target = { credentials: { apiKey: 'gsk-test' } } as unknown as TargetNode;
    const registry = createProviderRegistry({
      groq: { baseURL: 'http://127.0.0.1:9/openai/v1', headers: { 'x-team': 'a' } },
    });
    const groq = registry.groq;
    expect(groq?.base(target)).toEqual({ origin: 'http://127.0.0.1:9', pathPrefix: '/openai/v1' });
    expect(groq?.headers(target)).toEqual({ 'x-team': 'a', authorization: 'Bearer gsk-test' });
    expect(groq?.endpoint('chat', target, {})).toBe('/chat/completions');
    expect(groq?.operations.has('embed')).toBe(false);
    expect(createProviderRegistry()['perplexity-ai']?.base(target)).toEqual({
      origin: 'https://api.perplexity.ai',
      pathPrefix: '',
    });
  });

  it('refuses an ollama target without a base URL, naming the fields that would give one', () => {
    const ollama = createProviderRegistry().ollama;
    expect(() => ollama?.base({} as TargetNode)).toThrow(/providers\.ollama\.baseURL/);
    expect(providerRules().hostRequired.has('ollama')).toBe(true);
    expect(
      providerRules({ ollama: { baseURL: 'http://127.0.0.1:11434/v1' } }).hostRequired.has(
        'ollama',
      ),
    ).toBe(false);
  });

  it('adds server-defined providers, and refuses one named like a built-in', () => {
    const providers = {
      'local-vllm': { type: 'openai-compatible' as const, baseURL: 'http://127.0.0.1:8000/v1' },
    };
    expect(() => checkProvidersOption(providers, didYouMean)).not.toThrow();
    expect(createProviderRegistry(providers)['local-vllm']?.streamTranslator).toBeDefined();
    expect(providerRules(providers).names.has('local-vllm')).toBe(true);
    const collision = { groq: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1' } };
    expect(() => checkProvidersOption(collision, didYouMean)).toThrow(
      expect.objectContaining({ code: 'ERR_OPTIONS_INVALID', param: 'providers.groq.type' }),
    );
    expect(() => checkProvidersOption({ grok: {} }, didYouMean)).toThrow(/did you mean "groq"/);
    expect(() =>
      checkProvidersOption({ 'my-llm': { type: 'openai-compatible' } }, didYouMean),
    ).toThrow(expect.objectContaining({ param: 'providers.my-llm.baseURL' }));
  });
});

describe('request quirks', () => {
  it('mistral-ai: renames max_completion_tokens, seed and tool_choice "required"', () => {
    const params = {
      model: 'mistral-large-latest',
      messages: ask,
      max_completion_tokens: 100,
      seed: 7,
      tool_choice: 'required',
    };
    expect(mistralRequest('chat', params)).toEqual({
      model: 'mistral-large-latest',
      messages: ask,
      max_tokens: 100,
      random_seed: 7,
      tool_choice: 'any',
    });
    // The caller's object is left alone; Mistral's own spelling wins; nothing to do: same object.
    expect(params.seed).toBe(7);
    expect(mistralRequest('chat', { max_completion_tokens: 5, max_tokens: 9 })).toEqual({
      max_tokens: 9,
    });
    const plain = { model: 'm', messages: ask, tool_choice: 'auto' };
    expect(mistralRequest('chat', plain)).toBe(plain);
  });

  it('deepseek: strips reasoning_content from assistant messages only', () => {
    const messages = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a', reasoning_content: 'thinking' },
      { role: 'user', content: 'q2', reasoning_content: 'kept: not an assistant turn' },
    ];
    const rewritten = deepseekRequest('chat', { model: 'deepseek-reasoner', messages });
    expect(rewritten.messages).toEqual([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
      { role: 'user', content: 'q2', reasoning_content: 'kept: not an assistant turn' },
    ]);
    expect(messages[1]).toHaveProperty('reasoning_content');
    const plain = { model: 'deepseek-chat', messages: ask };
    expect(deepseekRequest('chat', plain)).toBe(plain);
  });

  it('groq: drops logprobs, top_logprobs and logit_bias', () => {
    const params = {
      model: 'llama-3.3-70b-versatile',
      messages: ask,
      logprobs: true,
      top_logprobs: 2,
      logit_bias: { '50256': -100 },
      temperature: 0.1,
    };
    expect(groqRequest('chat', params)).toEqual({
      model: 'llama-3.3-70b-versatile',
      messages: ask,
      temperature: 0.1,
    });
    expect(params.logprobs).toBe(true);
    const plain = { model: 'm', messages: ask };
    expect(groqRequest('chat', plain)).toBe(plain);
  });

  it('is applied by the adapter of its provider only', () => {
    const registry = createProviderRegistry();
    const params = { model: 'm', messages: ask, seed: 1 };
    expect(registry['mistral-ai']?.requestBody('chat', params)).toEqual({
      model: 'm',
      messages: ask,
      random_seed: 1,
    });
    expect(registry['together-ai']?.requestBody('chat', params)).toBe(params);
  });
});

describe('host error bodies', () => {
  it('keep the message whatever shape the host words it in', () => {
    const cases: [unknown, string][] = [
      [{ error: { message: 'Invalid API Key', type: 'invalid_request_error' } }, 'Invalid API Key'],
      [{ message: 'Unauthorized', type: 'invalid_request_error', code: 'x' }, 'Unauthorized'],
      [{ error: 'Incorrect API key provided', code: 'permission' }, 'Incorrect API key provided'],
      [{ object: 'error', message: 'model not found', type: 'NotFoundError' }, 'model not found'],
      [{ detail: 'Invalid token' }, 'Invalid token'],
    ];
    for (const [body, message] of cases) {
      const mapped = compatibleErrorBody('x-ai', 401, body);
      expect(mapped.error.message).toBe(message);
      expect(mapped.error).not.toHaveProperty('object');
    }
    expect(compatibleErrorBody('x-ai', 502, '<html>').error.code).toBe('ERR_UPSTREAM_ERROR');
  });
});

/** Runs SSE text through the error-frame stream, returning what comes out and the failure. */
async function throughErrorFrames(...pieces: string[]) {
  const translator = new ErrorFrameStream('openrouter');
  const source = new PassThrough();
  const out: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pipeline(source, translator, (error) => (error ? reject(error) : resolve()));
  });
  translator.on('data', (chunk: Buffer) => out.push(String(chunk)));
  for (const piece of pieces) source.write(piece);
  source.end();
  await done;
  return { text: out.join(''), failure: translator.failure };
}

describe('error-frame streams', () => {
  const chunk = (content: string) =>
    `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })}\n\n`;

  it('relays chunks and comment lines whatever the byte boundaries, and ends at [DONE]', async () => {
    const whole = `: OPENROUTER PROCESSING\n\n${chunk('Hel')}${chunk('lo')}data: [DONE]\n\n`;
    const { text, failure } = await throughErrorFrames(
      whole.slice(0, 7),
      whole.slice(7, 40),
      whole.slice(40),
    );
    expect(failure).toBeUndefined();
    expect(text).toBe(whole);
  });

  it('turns an error frame into an OpenAI error event and a failure, and stops there', async () => {
    const frame = `data: ${JSON.stringify({ error: { code: 502, message: 'Provider returned error' } })}\n\n`;
    const { text, failure } = await throughErrorFrames(
      chunk('Hel'),
      frame,
      chunk('ignored'),
      'data: [DONE]\n\n',
    );
    expect(failure?.code).toBe('ERR_UPSTREAM_ERROR');
    expect(errorCodes[failure?.code ?? 'ERR_INTERNAL']).toBe(502);
    expect(failure?.message).toContain('Provider returned error');
    expect(text).toBe(
      `${chunk('Hel')}data: ${JSON.stringify({ error: { message: 'Provider returned error', type: 'api_error', param: null, code: '502' } })}\n\n`,
    );
  });

  it("reads vLLM's object: error frames, and fails a stream cut before [DONE]", async () => {
    const vllm = await throughErrorFrames(
      chunk('a'),
      `data: {"object":"error","message":"out of memory","type":"InternalServerError","code":500}\n\n`,
    );
    expect(vllm.failure?.message).toContain('out of memory');
    const cut = await throughErrorFrames(chunk('a'));
    expect(cut.failure?.code).toBe('ERR_UPSTREAM_STREAM_INTERRUPTED');
    expect(cut.text).toContain('"code":"ERR_UPSTREAM_STREAM_INTERRUPTED"');
  });

  it('does not mistake a chunk that quotes the word error for an error frame', () => {
    expect(errorOf(JSON.stringify({ choices: [{ delta: { content: '"error"' } }] }))).toBe(
      undefined,
    );
    expect(errorOf(JSON.stringify({ error: null, choices: [] }))).toBeUndefined();
    expect(errorOf('{"error":{"message":"x"}}')).toEqual({ message: 'x' });
  });
});
