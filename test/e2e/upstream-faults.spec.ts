import { Agent, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { type LoadBalancerOptions, portkeyLoadBalancer } from '../../lib/index.js';
import { idleSocketTimeoutMs } from '../../lib/settings.js';
import { keys, listen, type RunningServer } from '../helpers/app.js';
import { recorder } from '../helpers/event-recorder.js';
import {
  credentialOf,
  type FaultUpstream,
  startFaultUpstream,
  trickle,
  type UpstreamRequest,
} from '../helpers/fault-upstream.js';
import { chat } from '../helpers/fixtures.js';
import { registerSecret } from '../helpers/leak-detector.js';
import { anthropicEvent, chunksOf, dataOf } from '../helpers/sse.js';

/**
 * Providers that misbehave after they have begun to answer: trickling, echoing keys, closing
 * pooled connections, ending early, compressing unasked. Each upstream is the test's own.
 */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const openai = { provider: 'openai', api_key: keys.openai };
const anthropic = { provider: 'anthropic', api_key: keys.anthropic };

interface Harness {
  upstream: FaultUpstream;
  server: RunningServer;
  events: ReturnType<typeof recorder>;
  /** Errors that reached the host app's own error handler. */
  hostErrors: unknown[];
  post(config: unknown, body?: object, path?: string): Promise<Response>;
}

async function harness(
  handler: (request: UpstreamRequest) => void,
  options: LoadBalancerOptions = {},
): Promise<Harness> {
  const upstream = await startFaultUpstream(handler);
  const events = recorder();
  const hostErrors: unknown[] = [];
  const app = express();
  app.use(
    '/llm',
    portkeyLoadBalancer({
      circuitBreaker: false,
      on: events.listeners,
      ...options,
      providers: {
        openai: { baseURL: `${upstream.url}/v1` },
        anthropic: { baseURL: `${upstream.url}/v1` },
      },
    }),
  );
  app.use((error: unknown, _req: express.Request, res: express.Response, _next: unknown) => {
    hostErrors.push(error);
    res.status(500).send('host error page');
  });
  const server = await listen(app);
  closers.push(server.close, upstream.close);
  return {
    upstream,
    server,
    events,
    hostErrors,
    post: (config, body = chat, path = '/v1/chat/completions') =>
      fetch(`${server.url}/llm${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-portkey-config': JSON.stringify(config) },
        body: JSON.stringify(body),
      }),
  };
}

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

const message = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'hello' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
};

function chunk(content: string): string {
  return `data: ${JSON.stringify({
    id: 'c1',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  })}\n\n`;
}

/** The parts of an answer the tests read. */
interface Answer {
  error: { code: string; message: string };
  choices: { message: { content: string } }[];
}

/** A key as masked in relayed bytes: as long as it, its last four characters shown. */
function byteMask(key: string): string {
  return `${'*'.repeat(key.length - 4)}${key.slice(-4)}`;
}

const sse = { 'content-type': 'text/event-stream' };
const json = { 'content-type': 'application/json' };

describe('the deadline cuts a provider that trickles its answer', () => {
  const cases: [string, (request: UpstreamRequest) => void, unknown][] = [
    [
      'response headers',
      ({ req }) => {
        req.socket.write('HTTP/1.1 200 OK\r\n');
        void trickle(req.socket as never, `x-slow: ${'a'.repeat(300)}`, 100);
      },
      openai,
    ],
    [
      'an error body',
      ({ res }) => {
        res.writeHead(500, json);
        void trickle(res, JSON.stringify({ error: { message: 'slow '.repeat(40) } }), 100);
      },
      openai,
    ],
    [
      'a JSON answer passed through',
      ({ res }) => {
        res.writeHead(200, json);
        void trickle(res, JSON.stringify(completion), 100);
      },
      openai,
    ],
    [
      'a JSON answer to translate',
      ({ res }) => {
        res.writeHead(200, json);
        void trickle(res, JSON.stringify(message), 100);
      },
      anthropic,
    ],
  ];
  for (const [what, handler, target] of cases) {
    it(`ends ${what} that never completes with a 504 at the deadline`, async () => {
      const h = await harness(handler, { deadline: 400, timeout: 5_000 });
      const res = await h.post(target, { ...chat, max_tokens: 5 });
      expect(res.status).toBe(504);
      expect(((await res.json()) as Answer).error.code).toBe('ERR_UPSTREAM_TIMEOUT');
      expect(h.events.of('error').map((event) => event.code)).toEqual(['ERR_UPSTREAM_TIMEOUT']);
      expect(h.events.of('response')).toEqual([]);
    });
  }
});

describe('keys a provider echoes back never reach the client', () => {
  /** Echoes the credential it received in headers, bodies and streams, as `model` asks. */
  function echo({ req, res, body }: UpstreamRequest): void {
    const key = credentialOf(req);
    const { model, stream } = JSON.parse(body) as { model: string; stream?: boolean };
    if (req.url === '/v1/messages') {
      res.writeHead(200, { ...sse, 'x-echo': key });
      res.end(
        anthropicEvent('message_start', { message: { id: 'm', model: 'c', usage: {} } }) +
          anthropicEvent('error', {
            error: { type: 'authentication_error', message: `bad key ${key}` },
          }),
      );
      return;
    }
    if (model === 'unauthorised') {
      res.writeHead(401, { ...json, 'www-authenticate': `Bearer realm="${key}"` });
      res.end(JSON.stringify({ error: { message: `Incorrect API key: ${key}`, code: key } }));
      return;
    }
    if (stream === true) {
      res.writeHead(200, { ...sse, 'x-echo': key });
      // A few bytes at a time, so that the key straddles chunks.
      void trickle(res, `${chunk(`your key is ${key}`)}${chunk('!')}data: [DONE]\n\n`, 1, 7).then(
        () => res.end(),
      );
      return;
    }
    const answer = JSON.stringify({
      ...completion,
      choices: [
        { index: 0, message: { role: 'assistant', content: `key=${key}` }, finish_reason: 'stop' },
      ],
    });
    res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(answer), 'x-echo': key });
    res.end(answer);
  }

  it('in the headers and the JSON body of a passed-through 200', async () => {
    const h = await harness(echo);
    const res = await h.post(openai);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-echo')).toBe(`***${keys.openai.slice(-4)}`);
    const body = (await res.json()) as Answer;
    expect(body.choices[0]?.message.content).toBe(`key=${byteMask(keys.openai)}`);
  });

  it('in the headers and body of a 401', async () => {
    const h = await harness(echo);
    const res = await h.post(openai, { ...chat, model: 'unauthorised' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="***${keys.openai.slice(-4)}"`);
    expect(((await res.json()) as Answer).error.message).toBe(
      `Incorrect API key: ***${keys.openai.slice(-4)}`,
    );
  });

  it('in an OpenAI stream, even split across chunks', async () => {
    const h = await harness(echo);
    const res = await h.post(openai, { ...chat, stream: true });
    const events = chunksOf(dataOf(await res.text()));
    expect(events.at(-1)).toBe('[DONE]');
    const text = events
      .slice(0, -1)
      .map(
        (event) =>
          (event as { choices: { delta: { content: string } }[] }).choices[0]?.delta.content,
      )
      .join('');
    expect(text).toBe(`your key is ${byteMask(keys.openai)}!`);
  });

  it('in an Anthropic stream error event', async () => {
    const h = await harness(echo);
    const res = await h.post(anthropic, { ...chat, stream: true, max_tokens: 5 });
    expect(res.headers.get('x-echo')).toBe(`***${keys.anthropic.slice(-4)}`);
    const events = chunksOf(dataOf(await res.text()));
    // Stream bytes are masked in place, keeping their length.
    expect(events.at(-1)).toMatchObject({
      error: { message: `bad key ${byteMask(keys.anthropic)}` },
    });
    expect(h.events.of('error')[0]?.message).toBe(`bad key ***${keys.anthropic.slice(-4)}`);
  });

  it('when the key holds characters JSON escapes', async () => {
    const key = 'sk-quote"and\\back-0123456789abcdef';
    registerSecret(key);
    registerSecret(JSON.stringify(key).slice(1, -1));
    const h = await harness(echo);
    for (const model of ['gpt-4o', 'unauthorised']) {
      const res = await h.post({ provider: 'openai', api_key: key }, { ...chat, model });
      const text = await res.text();
      expect(() => JSON.parse(text)).not.toThrow();
      expect(text).toContain('***');
    }
  });

  it('for a server-held virtual key', async () => {
    const key = 'sk-virtual-echoed-0123456789abcdef';
    registerSecret(key);
    const h = await harness(echo, {
      virtualKeys: { prod: { provider: 'openai', apiKey: key } },
    });
    const res = await h.post({ virtual_key: 'prod' }, { ...chat, stream: true });
    expect(res.headers.get('x-echo')).toBe(`***${key.slice(-4)}`);
    expect(await res.text()).toContain(key.slice(-4));
  });
});

describe('pooled connections the provider closed', () => {
  it('are retried once on a new connection, without a retry or a health failure', async () => {
    // Closes every connection that comes back for a second request, as an idle-timeout would.
    const h = await harness(
      ({ req, res, earlierOnSocket }) => {
        if (earlierOnSocket > 0) {
          req.socket.destroy();
          return;
        }
        res.writeHead(200, json);
        res.end(JSON.stringify(completion));
      },
      { circuitBreaker: { failureThreshold: 2 } },
    );
    for (let index = 0; index < 6; index++) {
      const res = await h.post(openai);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-portkey-retry-attempt-count')).toBe('0');
    }
    const dropped = h.upstream.requests.filter((request) => request.earlierOnSocket > 0);
    expect(dropped.length).toBeGreaterThan(0);
    expect(h.events.of('error')).toEqual([]);
    expect(h.events.of('circuit-open')).toEqual([]);
    expect(h.events.of('attempt')).toHaveLength(6);
  });

  it('are closed by us before common provider keep-alive timeouts', () => {
    // Node's own HTTP servers (and many behind providers' CDNs) close idle connections at 5 s.
    expect(idleSocketTimeoutMs).toBeLessThan(5_000);
  });
});

describe('answers that end early', () => {
  it('an OpenAI stream that ends without [DONE] ends with an error event', async () => {
    const h = await harness(({ res }) => {
      res.writeHead(200, sse);
      res.end(chunk('Hel'));
    });
    const res = await h.post(openai, { ...chat, stream: true });
    const events = chunksOf(dataOf(await res.text()));
    expect(events[0]).toMatchObject({ id: 'c1' });
    expect(events.at(-1)).toMatchObject({ error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' } });
    expect(h.events.of('error').map((event) => event.code)).toEqual([
      'ERR_UPSTREAM_STREAM_INTERRUPTED',
    ]);
  });

  it('a 200 with truncated JSON is a 502', async () => {
    const h = await harness(({ res }) => {
      res.writeHead(200, json);
      res.end(JSON.stringify(completion).slice(0, 60));
    });
    const res = await h.post(openai);
    expect(res.status).toBe(502);
    expect(((await res.json()) as Answer).error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(h.events.of('error').map((event) => event.code)).toEqual([
      'ERR_UPSTREAM_INVALID_RESPONSE',
    ]);
    expect(h.events.of('response')).toEqual([]);
  });
});

describe('provider failures after the answer began are errors and breaker failures', () => {
  const breaker = { circuitBreaker: { failureThreshold: 1 } };

  it('a stream the provider resets', async () => {
    const h = await harness(({ res }) => {
      res.writeHead(200, sse);
      res.write(chunk('Hel'));
      setTimeout(() => res.socket?.destroy(), 20);
    }, breaker);
    const res = await h.post(openai, { ...chat, stream: true });
    const events = chunksOf(dataOf(await res.text()));
    expect(events.at(-1)).toMatchObject({ error: { code: 'ERR_UPSTREAM_STREAM_INTERRUPTED' } });
    expect(h.events.of('error').map((event) => event.code)).toEqual([
      'ERR_UPSTREAM_STREAM_INTERRUPTED',
    ]);
    expect(h.events.of('response')).toEqual([]);
    expect(h.events.of('circuit-open')).toHaveLength(1);
  });

  it('a stream that goes silent past the timeout', async () => {
    const h = await harness(
      ({ res }) => {
        res.writeHead(200, sse);
        res.write(chunk('Hel'));
      },
      { ...breaker, timeout: 300 },
    );
    const res = await h.post(openai, { ...chat, stream: true });
    const events = chunksOf(dataOf(await res.text()));
    expect(events.at(-1)).toMatchObject({ error: { code: 'ERR_UPSTREAM_TIMEOUT' } });
    expect(h.events.of('error').map((event) => event.code)).toEqual(['ERR_UPSTREAM_TIMEOUT']);
    expect(h.events.of('circuit-open')).toHaveLength(1);
  });

  it('an Anthropic 200 that is not a message', async () => {
    const h = await harness(({ res }) => {
      res.writeHead(200, json);
      res.end('this is not JSON');
    }, breaker);
    const res = await h.post(anthropic, { ...chat, max_tokens: 5 });
    expect(res.status).toBe(502);
    expect(h.events.of('error').map((event) => event.code)).toEqual([
      'ERR_UPSTREAM_INVALID_RESPONSE',
    ]);
    expect(h.events.of('response')).toEqual([]);
    expect(h.events.of('circuit-open')).toHaveLength(1);
  });

  it('an answer the provider resets mid-body is its failure, not the client leaving', async () => {
    const h = await harness(({ res }) => {
      res.writeHead(200, json);
      res.write(JSON.stringify(completion).slice(0, 40));
      setTimeout(() => res.socket?.destroy(), 20);
    }, breaker);
    const res = await h.post(openai);
    expect(res.status).toBe(502);
    const codes = h.events.of('error').map((event) => event.code);
    expect(codes).toEqual(['ERR_UPSTREAM_INVALID_RESPONSE']);
    expect(h.events.of('circuit-open')).toHaveLength(1);
  });
});

describe('compressed answers although identity was asked for', () => {
  /** A POST with no accept-encoding at all: a client that cannot inflate. */
  function plainPost(h: Harness, config: unknown, body: object) {
    return new Promise<{ status: number; headers: Record<string, unknown>; text: string }>(
      (resolve, reject) => {
        const req = httpRequest(
          `${h.server.url}/llm/v1/chat/completions`,
          {
            method: 'POST',
            agent: false,
            headers: {
              'content-type': 'application/json',
              'x-portkey-config': JSON.stringify(config),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (data: Buffer) => chunks.push(data));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text: Buffer.concat(chunks).toString('utf8'),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      },
    );
  }

  function gzipped(status: number, headers: Record<string, string>, text: string) {
    return ({ res }: UpstreamRequest) => {
      res.writeHead(status, { ...headers, 'content-encoding': 'gzip' });
      res.end(gzipSync(text));
    };
  }

  it('passes an OpenAI answer on inflated', async () => {
    const h = await harness(gzipped(200, json, JSON.stringify(completion)));
    const res = await plainPost(h, openai, chat);
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(res.text)).toEqual(completion);
  });

  it('translates an Anthropic answer', async () => {
    const h = await harness(gzipped(200, json, JSON.stringify(message)));
    const res = await plainPost(h, anthropic, { ...chat, max_tokens: 5 });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).choices[0].message.content).toBe('hello');
  });

  it("keeps the provider's message of an error", async () => {
    const error = { error: { message: 'quota gone', type: 'insufficient_quota', code: 'q' } };
    const h = await harness(gzipped(429, json, JSON.stringify(error)));
    const res = await plainPost(h, openai, chat);
    expect(res.status).toBe(429);
    expect(JSON.parse(res.text).error.message).toBe('quota gone');
  });

  it('relays a stream inflated', async () => {
    const h = await harness(gzipped(200, sse, `${chunk('Hi')}data: [DONE]\n\n`));
    const res = await plainPost(h, openai, { ...chat, stream: true });
    expect(res.headers['content-encoding']).toBeUndefined();
    const events = chunksOf(dataOf(res.text));
    expect(events).toEqual([expect.objectContaining({ id: 'c1' }), '[DONE]']);
  });

  it('answers 502 for corrupt compression', async () => {
    const h = await harness(({ res }) => {
      res.writeHead(200, { ...json, 'content-encoding': 'gzip' });
      res.end('not gzip at all');
    });
    const res = await plainPost(h, openai, chat);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.text).error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
  });
});

describe('errors while building the upstream request', () => {
  it('end as our JSON error, never in the host error handler', async () => {
    // Node throws while building a request it will not send (ERR_INVALID_CHAR, say).
    const refusingAgent = Object.assign(new Agent(), {
      addRequest(): void {
        throw new TypeError('Invalid character in header content ["authorization"]');
      },
    });
    const h = await harness(
      ({ res }) => {
        res.writeHead(200, json);
        res.end(JSON.stringify(completion));
      },
      { httpAgent: refusingAgent },
    );
    const answers = await Promise.all(Array.from({ length: 5 }, () => h.post(openai)));
    for (const res of answers) {
      expect(res.status).toBe(500);
      expect(((await res.json()) as Answer).error.code).toBe('ERR_INTERNAL');
    }
    expect(h.hostErrors).toEqual([]);
    expect(h.upstream.requests).toHaveLength(0);
    expect(h.events.of('error').map((event) => event.code)).toEqual(Array(5).fill('ERR_INTERNAL'));
  });
});
