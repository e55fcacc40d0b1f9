import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configLimits } from '../../lib/config/limits.js';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  createApp,
  keys,
  type Providers,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';
import { seedOpenAIAnthropicBody } from '../helpers/seed.js';

/**
 * Property-based tests: whatever a client sends, the middleware answers (never crashes or
 * hangs), never answers a 5xx of its own, never contacts a provider for input it refuses, never
 * returns a key, and never touches Object.prototype. Hostile sizes (header-value characters,
 * nesting depth, target counts) must also be refused with a small answer listing a capped
 * number of problems: the work per request is bounded by what it produces, not timed.
 */

let providers: Providers;
let app: ReturnType<typeof createApp>;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  providers = await startProviders();
  app = createApp(
    '/llm',
    portkeyLoadBalancer(simulatorOptions(providers, { circuitBreaker: false, bodyLimit: '256kb' })),
  );
  process.on('unhandledRejection', onUnhandled);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await providers.close();
});

const runs = { numRuns: 120, seed: 20261124 };

/** Checks the answer to one fuzzed request. */
function checkAnswer(res: request.Response, before: number) {
  const ours = res.headers['x-portkey-provider'] === undefined;
  if (ours) {
    // Our own answers: JSON errors, 4xx, and no provider contacted.
    expect(res.status, res.text).toBeLessThan(500);
    expect(res.body.error.code).toMatch(/^ERR_/);
    expect(providers.requestCount()).toBe(before);
  }
  for (const key of Object.values(keys)) expect(res.text).not.toContain(key);
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

/** `depth` nested arrays around `leaf`, as JSON text (deep values cannot be serialised). */
function nestedJson(depth: number, leaf = '1'): string {
  return `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
}

/** A JSON string literal with only printable ASCII, so it can travel in a header too. */
function escaped(text: string): string {
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const anyJson = fc.jsonValue({ maxDepth: 6 });
const pollutingKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'polluted');
const nastyObject = fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), pollutingKeys), anyJson, {
  maxKeys: 6,
});

describe('fuzzing', () => {
  it('survives arbitrary JSON bodies on every route', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/llm/v1/chatComplete', '/llm/v1/complete', '/llm/v1/embed'),
        fc.oneof(anyJson, nastyObject),
        async (path, body) => {
          const before = providers.requestCount();
          const res = await request(app)
            .post(path)
            .set('content-type', 'application/json')
            .send(JSON.stringify(body));
          checkAnswer(res, before);
        },
      ),
      runs,
    );
  });

  it('survives arbitrary x-portkey-config headers', async () => {
    const header = fc.oneof(
      fc.json({ maxDepth: 6 }),
      fc.string({ maxLength: 200 }).map((text) => text.replace(/[^\x20-\x7e]/g, '')),
      nastyObject.map((value) => JSON.stringify(value)),
    );
    await fc.assert(
      fc.asyncProperty(header, async (config) => {
        const before = providers.requestCount();
        const res = await request(app)
          .post('/llm/v1/chat/completions')
          .set('x-portkey-config', config === '' ? ' ' : config)
          .send({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
        checkAnswer(res, before);
      }),
      runs,
    );
  });

  it('survives mutated valid configs', async () => {
    const fields = [
      'mode',
      'options',
      'provider',
      'apiKey',
      'weight',
      'override_params',
      'resourceName',
      'deploymentId',
      'apiVersion',
      'retry',
      'strategy',
      'targets',
      'virtual_key',
      'custom_host',
      '__proto__',
    ];
    const mutation = fc.record({
      option: fc.nat({ max: 2 }),
      field: fc.constantFrom(...fields),
      value: fc.oneof(
        anyJson,
        fc.constantFrom(-1, 0, 1e300, '', 'azure-openai', 'evil.invalid/#', '%2e%2e', [], {}, null),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const body = seedOpenAIAnthropicBody() as unknown as {
          config: Record<string, unknown> & { options: Record<string, unknown>[] };
        };
        for (const { option, field, value } of mutations) {
          const options: unknown = body.config.options;
          const target: unknown =
            option === 2 ? body.config : Array.isArray(options) ? options[option] : undefined;
          if (typeof target === 'object' && target !== null)
            Object.defineProperty(target, field, {
              value,
              enumerable: true,
              configurable: true,
              writable: true,
            });
        }
        const before = providers.requestCount();
        const res = await request(app)
          .post('/llm/v1/chatComplete')
          .set('content-type', 'application/json')
          .send(JSON.stringify(body));
        checkAnswer(res, before);
      }),
      runs,
    );
  });

  it('refuses hostile header values, depth and target counts cheaply and without a call', async () => {
    // Characters Node refuses in a header value, mixed with ones it accepts.
    const headerChar = fc.constantFrom(
      'a',
      'Z',
      '0',
      '-',
      ' ',
      '\t',
      '\u00e9',
      '\r',
      '\n',
      '\u0000',
      '\u007f',
      '\u0100',
      '\u{1f600}',
    );
    const input = fc.record({
      route: fc.constantFrom('body', 'header'),
      targets: fc.oneof(fc.nat({ max: 40 }), fc.integer({ min: 33, max: 3000 })),
      field: fc.constantFrom('api_key', 'openai_organization', 'openai_project'),
      value: fc.string({ unit: headerChar, minLength: 1, maxLength: 12 }),
      depth: fc.oneof(fc.nat({ max: 20 }), fc.integer({ min: 100, max: 5000 })),
      deepIn: fc.constantFrom('params', 'override_params', 'mode'),
    });
    await fc.assert(
      fc.asyncProperty(input, async ({ route, targets, field, value, depth, deepIn }) => {
        const count = route === 'header' ? Math.min(targets, 60) : targets;
        const deep = nestedJson(depth);
        const target = `{"provider":"openai","api_key":"${keys.openai}",${JSON.stringify(field)}:${escaped(value)}${deepIn === 'override_params' ? `,"override_params":{"x":${deep}}` : ''}}`;
        const mode =
          deepIn === 'mode' && depth > 0 ? nestedJson(depth, '"fallback"') : '"fallback"';
        const config =
          count === 0
            ? target
            : `{"strategy":{"mode":${mode}},"targets":[${Array(count).fill(target).join(',')}]}`;
        // Node caps request headers at 16 KB (a 431 before the middleware runs).
        fc.pre(route === 'body' || config.length < 8000);
        const params = `{"model":"m","messages":[{"role":"user","content":"hi"}]${deepIn === 'params' ? `,"metadata":{"x":${deep}}` : ''}}`;
        const invalid =
          /[^\t\x20-\x7e\u0080-\u00ff]/.test(value) ||
          count > configLimits.maxTargets ||
          depth > configLimits.maxNesting ||
          (deepIn === 'mode' && depth > 0 && count > 0);
        const before = providers.requestCount();
        const pending =
          route === 'body'
            ? request(app)
                .post('/llm/v1/chatComplete')
                .set('content-type', 'application/json')
                .send(`{"config":${config},"params":${params}}`)
            : request(app)
                .post('/llm/v1/chat/completions')
                .set('x-portkey-config', config)
                .set('content-type', 'application/json')
                .send(params);
        const res = await pending;
        checkAnswer(res, before);
        // Bounded work, measured by what was produced: a small answer, a capped problem list.
        expect(res.text.length).toBeLessThan(8192);
        if (invalid) {
          // 413 when the body limit refuses it first: also before any parsing work.
          expect([400, 413], res.text).toContain(res.status);
          expect(res.headers['x-portkey-provider']).toBeUndefined();
          expect(providers.requestCount()).toBe(before);
          const listed = String(res.body.error.message)
            .split('; ')
            .filter((part) => !/^and \d+ more problems$/.test(part));
          expect(listed.length).toBeLessThanOrEqual(configLimits.maxReportedProblems);
        }
      }),
      { ...runs, numRuns: 80 },
    );
  });

  it('survives random header sets', async () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
    const value = fc.string({ maxLength: 60 }).map((text) => text.replace(/[^\x20-\x7e]/g, ''));
    const headers = fc.dictionary(
      fc.oneof(
        name,
        fc.constantFrom(
          'x-portkey-config',
          'content-type',
          'expect',
          'transfer-encoding',
          'content-encoding',
          'x-portkey-trace-id',
        ),
      ),
      value,
      { maxKeys: 6 },
    );
    await fc.assert(
      fc.asyncProperty(headers, async (extra) => {
        const before = providers.requestCount();
        let pending = request(app).post('/llm/v1/chatComplete');
        for (const [header, text] of Object.entries(extra)) {
          if (header === 'transfer-encoding' || header === 'expect' || header === 'content-length')
            continue;
          pending = pending.set(header, text);
        }
        const res = await pending.send(JSON.stringify(seedOpenAIAnthropicBody()));
        const provider = res.headers['x-portkey-provider'];
        if (provider === undefined) checkAnswer(res, before);
        else expect(res.status).toBeLessThan(500);
      }),
      { ...runs, numRuns: 60 },
    );
    expect(unhandled).toEqual([]);
  });
});
