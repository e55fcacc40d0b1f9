import { validateHeaderName, validateHeaderValue } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TargetNode } from '../../lib/config/config-tree.js';
import { credentialSpecOf } from '../../lib/providers/credential-catalog.js';
import { type Credentials, secretValues } from '../../lib/providers/credentials.js';
import type { AnswerShape, ProviderAdapter } from '../../lib/providers/provider.js';
import type { Params } from '../../lib/types.js';
import { dataOf } from './sse.js';

/** What one adapter is run through the contract with: valid credentials and canned answers. */
export interface AdapterFixture {
  /** Credentials its targets carry in the contract's requests; every secret among them is unique. */
  readonly credentials: Credentials;
  readonly model: string;
  /** A successful answer to `{ model, messages: [user "Hi?"] }`, in the provider's shape, saying "Hi". */
  readonly chatAnswer: unknown;
  /** The provider's stream of that answer, as its bytes on the wire. */
  readonly streamBytes: Buffer;
  /** An error answer in the provider's shape. */
  readonly error: { status: number; body: unknown; headers: Record<string, string> };
  /** The strict simulator's check of a request body: a problem message, or undefined when valid. */
  readonly requestProblem?: (body: Record<string, unknown>) => unknown;
}

const chatParams: Params = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi?' },
  ],
  max_tokens: 20,
  temperature: 0.5,
};

function targetOf(adapter: ProviderAdapter, credentials: Credentials): TargetNode {
  return {
    kind: 'target',
    label: '0',
    weight: 1,
    provider: adapter.name,
    credentials,
    overrideParams: undefined,
    requestTimeout: undefined,
    retry: undefined,
    virtualKey: undefined,
    customHost: undefined,
    forwardHeaders: undefined,
    circuitBreaker: undefined,
    name: undefined,
    budget: undefined,
  };
}

function shapeOf(model: string, stream: boolean): AnswerShape {
  return {
    operation: 'chat',
    includeUsage: stream,
    model,
    encodingFormat: undefined,
    created: 1_700_000_000,
    headers: { 'x-amzn-requestid': 'req-1', 'request-id': 'req-1' },
  };
}

/** Runs an adapter through what the pipeline relies on, whatever the provider. */
export function describeAdapterContract(adapter: ProviderAdapter, fixture: AdapterFixture): void {
  const target = targetOf(adapter, fixture.credentials);
  const params = { ...chatParams, model: fixture.model };

  describe(`provider adapter contract: ${adapter.name}`, () => {
    it('declares its credentials once, every secret a server-only field with a schema', () => {
      expect(credentialSpecOf(adapter.name).fields).toEqual(adapter.credentials.fields);
      expect(Object.keys(adapter.credentials.fields).length).toBeGreaterThan(0);
      for (const field of Object.values(adapter.credentials.fields)) {
        expect(typeof field.schema).toBe('object');
        if (field.secret === true) expect(field.serverOnly).toBe(true);
      }
      expect(adapter.credentials.check?.(fixture.credentials, 'config') ?? []).toEqual([]);
      const secrets = secretValues(adapter.credentials, fixture.credentials);
      for (const [name, value] of Object.entries(fixture.credentials)) {
        const secret = adapter.credentials.fields[name]?.secret === true;
        expect(secrets.includes(value as string)).toBe(secret);
      }
    });

    it('serves chat, and only operations the pipeline knows', () => {
      expect(adapter.operations.has('chat')).toBe(true);
      for (const operation of adapter.operations) {
        expect(['chat', 'complete', 'embed']).toContain(operation);
      }
    });

    it('builds a chat request the strict simulator accepts, no secret in its path or body', () => {
      const base = adapter.base(target);
      expect(base.origin).toMatch(/^https?:\/\/[^/]+$/);
      for (const stream of [false, true]) {
        const merged = { ...params, stream };
        const path = adapter.endpoint('chat', target, merged);
        expect(path.startsWith('/')).toBe(true);
        expect(path.split(/[/?]/)).not.toContain('..');
        const body = adapter.requestBody('chat', merged) as Record<string, unknown>;
        const bytes = JSON.stringify(body);
        if (adapter.forwardsRequestBody === true) expect(body).toEqual(merged);
        const problem = fixture.requestProblem?.(JSON.parse(bytes) as Record<string, unknown>);
        expect(problem).toBeUndefined();
        for (const secret of secretValues(adapter.credentials, fixture.credentials)) {
          expect(path).not.toContain(secret);
          expect(bytes).not.toContain(secret);
        }
      }
      for (const [name, value] of Object.entries(adapter.headers(target))) {
        expect(() => validateHeaderName(name)).not.toThrow();
        expect(() => validateHeaderValue(name, value)).not.toThrow();
      }
    });

    it('signs (when it signs) over the final request, keeping every header it was given', async () => {
      if (adapter.sign === undefined) return;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...adapter.headers(target),
      };
      const body = Buffer.from(JSON.stringify(adapter.requestBody('chat', params)));
      const base = adapter.base(target);
      const request = {
        method: 'POST' as const,
        url: `${base.origin}${base.pathPrefix}${adapter.endpoint('chat', target, params)}`,
        headers,
        body,
      };
      const signed = await adapter.sign(request, target);
      expect(signed).toMatchObject(headers);
      const again = await adapter.sign({ ...request, body: Buffer.from(`${body} `) }, target);
      // A signature over the bytes changes with them.
      if (signed.authorization !== headers.authorization) {
        expect(again.authorization).not.toBe(signed.authorization);
      }
      const sent = JSON.stringify(signed);
      for (const [name, field] of Object.entries(adapter.credentials.fields)) {
        // A signing secret signs; it is never sent.
        if (name.toLowerCase().includes('secret') && field.secret === true) {
          expect(sent).not.toContain(fixture.credentials[name] as string);
        }
      }
    });

    it("translates a successful answer into a chat.completion (or passes OpenAI's through)", () => {
      const answer = adapter.responseBody(
        'chat',
        fixture.chatAnswer,
        shapeOf(fixture.model, false),
      );
      if (!adapter.translatesResponses) {
        expect(answer).toBe(fixture.chatAnswer);
        return;
      }
      const completion = answer as {
        object: string;
        choices: { message: { role: string; content: string }; finish_reason: string }[];
        usage?: { total_tokens: number };
      };
      expect(completion.object).toBe('chat.completion');
      expect(completion.choices[0]?.message).toMatchObject({ role: 'assistant', content: 'Hi' });
      expect(completion.choices[0]?.finish_reason).toBe('stop');
      expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    });

    it('decodes its stream into OpenAI chunks ending in [DONE] (or relays SSE as it is)', async () => {
      const translator = adapter.streamTranslator?.(shapeOf(fixture.model, true));
      if (translator === undefined) {
        expect(adapter.streamContentType ?? 'text/event-stream').toBe('text/event-stream');
        return;
      }
      const source = new PassThrough();
      const output: Buffer[] = [];
      translator.on('data', (chunk: Buffer) => output.push(chunk));
      const ended = new Promise((resolve) => translator.on('end', resolve));
      source.pipe(translator);
      // Split at every byte boundary's worst case: one byte at a time for the first frames.
      const bytes = fixture.streamBytes;
      for (let index = 0; index < Math.min(64, bytes.length); index++) {
        source.write(bytes.subarray(index, index + 1));
      }
      source.end(bytes.subarray(64));
      await ended;
      const frames = dataOf(Buffer.concat(output).toString('utf8'));
      expect(frames.at(-1)).toBe('[DONE]');
      const chunks = frames.slice(0, -1).map((frame) => JSON.parse(frame));
      const text = chunks.map((chunk) => chunk.choices?.[0]?.delta?.content ?? '').join('');
      expect(text).toBe('Hi');
      expect(chunks.some((chunk) => chunk.usage?.total_tokens > 0)).toBe(true);
      expect(translator.failure).toBeUndefined();
    });

    it('normalises an error answer into the OpenAI error shape', () => {
      const { status, body, headers } = fixture.error;
      const normalised = adapter.errorBody(status, body, headers);
      expect(normalised.error.message).toEqual(expect.any(String));
      expect(normalised.error.message.length).toBeGreaterThan(0);
      expect(normalised.error.type).toEqual(expect.any(String));
      const garbage = adapter.errorBody(502, undefined, {});
      expect(garbage.error.message).toEqual(expect.any(String));
    });
  });
}
