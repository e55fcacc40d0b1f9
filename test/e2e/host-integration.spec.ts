import http from 'node:http';
import { gzipSync } from 'node:zlib';
import express, { type RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import { createApp, keys, listen, simulatorOptions, useProviders } from '../helpers/app.js';
import { sequenceRandom } from '../helpers/random.js';
import { seedAzureOpenAIBody, seedOpenAIAnthropicBody } from '../helpers/seed.js';

const providers = useProviders();

const requireAuth: RequestHandler = (req, res, next) => {
  if (req.headers['x-host-auth'] === 'let-me-in') {
    next();
    return;
  }
  res.status(401).json({ error: 'host auth required' });
};

function openaiOnly() {
  return {
    ...seedAzureOpenAIBody(),
    config: { mode: 'single', options: [{ provider: 'openai', apiKey: keys.openai }] },
  };
}

describe('composition with the host app', () => {
  const app = () =>
    createApp(
      '/internal/llm',
      requireAuth,
      rateLimit({ windowMs: 60_000, limit: 3, standardHeaders: 'draft-6', legacyHeaders: false }),
      portkeyLoadBalancer(simulatorOptions(providers, { random: sequenceRandom(0.1) })),
    );

  it('runs behind the host auth: refused requests never reach a provider', async () => {
    const res = await request(app())
      .post('/internal/llm/v1/chatComplete')
      .send(seedOpenAIAnthropicBody());
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'host auth required' });
    expect(providers.requestCount()).toBe(0);
  });

  it('keeps the rate limiter headers on its answers and lets the limiter refuse', async () => {
    const instance = app();
    const send = () =>
      request(instance)
        .post('/internal/llm/v1/chatComplete')
        .set('x-host-auth', 'let-me-in')
        .send(seedOpenAIAnthropicBody());
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-limit']).toBe('3');
    expect(first.headers['ratelimit-remaining']).toBe('2');
    expect(first.headers['x-portkey-provider']).toBe('openai');
    await send();
    await send();
    const limited = await send();
    expect(limited.status).toBe(429);
    expect(providers.requestCount()).toBe(3);
  });

  it('leaves other paths and methods to the host app', async () => {
    const instance = app();
    const get = await request(instance)
      .get('/internal/llm/v1/chat/completions')
      .set('x-host-auth', 'let-me-in');
    expect(get.status).toBe(404);
    expect(get.body).toEqual({ host: 'not found' });
    const other = await request(instance)
      .post('/internal/llm/v1/models')
      .set('x-host-auth', 'let-me-in')
      .send({});
    expect(other.body).toEqual({ host: 'not found' });
    const outside = await request(instance).post('/v1/chat/completions').send({});
    expect(outside.body).toEqual({ host: 'not found' });
    expect(providers.requestCount()).toBe(0);
  });

  it('works at the root and with a trailing slash', async () => {
    const root = createApp('/', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(root).post('/v1/chatComplete/').send(openaiOnly());
    expect(res.status).toBe(200);
  });
});

describe('bodies the host app already parsed', () => {
  it('uses the body from a global express.json()', async () => {
    const app = express();
    app.use(express.json());
    app.use('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.body?.messages).toEqual(openaiOnly().params.messages);
  });

  it('uses a body from a global express.text()', async () => {
    const app = express();
    app.use(express.text({ type: '*/*' }));
    app.use('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'text/plain')
      .send(JSON.stringify(openaiOnly()));
    expect(res.status).toBe(200);
  });

  it('reads a gzip-compressed body and refuses unknown encodings with 415', async () => {
    const app = createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const zipped = gzipSync(JSON.stringify(openaiOnly()));
    // A non-JSON type: superagent would serialise a Buffer as JSON otherwise.
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/octet-stream')
      .set('content-encoding', 'gzip')
      .send(zipped);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const odd = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'application/json')
      .set('content-encoding', 'compress')
      .send('{}');
    expect(odd.status).toBe(415);
    expect(odd.body.error.code).toBe('ERR_BODY_UNSUPPORTED_ENCODING');
  });

  it('answers our error shape for bad JSON that a global express.text() read', async () => {
    const app = express();
    app.use(express.text({ type: '*/*' }));
    app.use('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('content-type', 'text/plain')
      .send('{nope');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_BODY_INVALID_JSON');
  });
});

describe('request header hygiene', () => {
  it('forwards only allowlisted client headers plus the provider credentials', async () => {
    const app = createApp(
      '/llm',
      portkeyLoadBalancer(simulatorOptions(providers, { forwardHeaders: ['X-Request-Id'] })),
    );
    const res = await request(app)
      .post('/llm/v1/chatComplete')
      .set('authorization', 'Bearer host-session-token')
      .set('cookie', 'session=abc')
      .set('x-api-key', 'client-x-api-key')
      .set('api-key', 'client-api-key')
      .set('x-portkey-api-key', 'portkey-key')
      .set('x-portkey-trace-id', 'trace-123')
      .set('x-host-auth', 'let-me-in')
      .set('x-request-id', 'req-42')
      .set('user-agent', 'test-agent/1.0')
      .set('accept', 'application/json')
      .set('connection', 'close')
      .send(openaiOnly());
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-trace-id']).toBe('trace-123');
    const sent = providers.openai.requests[0]?.headers ?? {};
    expect(Object.keys(sent).sort()).toEqual(
      [
        'accept',
        'accept-encoding',
        'authorization',
        'connection',
        'content-length',
        'content-type',
        'host',
        'user-agent',
        'x-request-id',
      ].sort(),
    );
    expect(sent.authorization).toBe(`Bearer ${keys.openai}`);
    expect(sent['x-request-id']).toBe('req-42');
    expect(sent['user-agent']).toBe('test-agent/1.0');
    // The keep-alive agent's own header, not the client's `close`.
    expect(sent.connection).toBe('keep-alive');
    expect(sent.host).toBe(new URL(providers.openai.url).host);
  });

  it('refuses to be configured to forward credentials', () => {
    expect(() => portkeyLoadBalancer({ forwardHeaders: ['Authorization'] })).toThrow(
      /never forwarded/,
    );
    expect(() => portkeyLoadBalancer({ forwardHeaders: ['x-portkey-config'] })).toThrow(
      /never forwarded/,
    );
  });

  it('keeps the host app view of the request intact', async () => {
    let seen: { url: string; originalUrl: string; auth: string | undefined } | undefined;
    const app = express();
    app.use((req, res, next) => {
      res.on('finish', () => {
        seen = { url: req.url, originalUrl: req.originalUrl, auth: req.headers.authorization };
      });
      next();
    });
    app.use('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    await request(app)
      .post('/llm/v1/chatComplete')
      .set('authorization', 'Bearer host')
      .send(openaiOnly());
    // Not the upstream path nor the upstream headers: Express's own mount-relative url.
    expect(seen).toEqual({
      url: '/v1/chatComplete',
      originalUrl: '/llm/v1/chatComplete',
      auth: 'Bearer host',
    });
  });

  it('handles Expect: 100-continue and a chunked request body', async () => {
    const server = await listen(
      createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers))),
    );
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${server.url}/llm/v1/chatComplete`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            expect: '100-continue',
            'transfer-encoding': 'chunked',
          },
        });
        req.on('continue', () => {
          const body = JSON.stringify(openaiOnly());
          req.write(body.slice(0, 20));
          req.end(body.slice(20));
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => {
            text += chunk.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
      });
      expect(answer.status).toBe(200);
      const sent = providers.openai.requests[0]?.headers ?? {};
      expect(sent.expect).toBeUndefined();
      expect(sent['transfer-encoding']).toBeUndefined();
      expect(Number(sent['content-length'])).toBe(
        Buffer.byteLength(providers.openai.requests[0]?.rawBody ?? ''),
      );
    } finally {
      await server.close();
    }
  });
});

describe('provider failures', () => {
  const app = (extra = {}) =>
    createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, extra)));

  it('passes an OpenAI 429 through with its status, body and retry-after', async () => {
    providers.openai.script({
      status: 429,
      body: {
        error: {
          message: 'Rate limit reached',
          type: 'requests',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
      headers: { 'retry-after': '7', 'x-ratelimit-remaining-requests': '0', 'set-cookie': 'cf=1' },
    });
    const res = await request(app()).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(429);
    expect(res.body).toEqual({
      error: {
        message: 'Rate limit reached',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['x-portkey-provider']).toBe('openai');
  });

  it('turns an Anthropic error into the OpenAI shape with its status', async () => {
    providers.anthropic.script({
      status: 529,
      body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
    const res = await request(app({ random: sequenceRandom(0.9) }))
      .post('/llm/v1/chatComplete')
      .send(seedOpenAIAnthropicBody());
    expect(res.status).toBe(529);
    expect(res.body).toEqual({
      error: {
        message: 'Overloaded',
        type: 'overloaded_error',
        param: null,
        code: 'overloaded_error',
      },
    });
  });

  it('answers the Anthropic contract errors as the OpenAI shape', async () => {
    const body = seedOpenAIAnthropicBody();
    body.config.options[1] = {
      ...body.config.options[1],
      apiKey: 'sk-ant-wrong-0123456789',
    } as never;
    const res = await request(app({ random: sequenceRandom(0.9) }))
      .post('/llm/v1/chatComplete')
      .send(body);
    expect(res.status).toBe(401);
    expect(res.body.error).toEqual({
      message: 'invalid x-api-key',
      type: 'authentication_error',
      param: null,
      code: 'authentication_error',
    });
  });

  it('answers 502 for a successful Anthropic answer that is not a message', async () => {
    providers.anthropic.script({ status: 200, body: '<html>maintenance</html>' });
    const res = await request(app({ random: sequenceRandom(0.9) }))
      .post('/llm/v1/chatComplete')
      .send(seedOpenAIAnthropicBody());
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(res.headers['x-portkey-provider']).toBe('anthropic');
  });

  it('gives a non-JSON provider error the same shape', async () => {
    providers.openai.script({ status: 502, body: '<html>Bad gateway</html>' });
    const res = await request(app()).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(502);
    expect(res.body).toEqual({
      error: {
        message: 'Provider openai answered with status 502',
        type: 'api_error',
        param: null,
        code: 'ERR_UPSTREAM_ERROR',
      },
    });
  });

  it('masks a key that a provider echoes back', async () => {
    providers.openai.script({
      status: 401,
      body: {
        error: {
          message: `Bad key ${keys.openai}`,
          type: 'invalid_request_error',
          detail: keys.openai,
        },
      },
    });
    const res = await request(app()).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(401);
    expect(res.text).not.toContain(keys.openai);
    expect(res.body.error.message).toBe(`Bad key ***${keys.openai.slice(-4)}`);
  });

  it('answers 502 for an unreachable provider', async () => {
    const closed = await listen(express());
    const port = new URL(closed.url).port;
    await closed.close();
    const instance = createApp(
      '/llm',
      portkeyLoadBalancer({ providers: { openai: { baseURL: `http://127.0.0.1:${port}/v1` } } }),
    );
    const res = await request(instance).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(502);
    expect(res.body.error).toEqual({
      message: 'Provider openai could not be reached (ECONNREFUSED)',
      type: 'api_error',
      param: null,
      code: 'ERR_UPSTREAM_UNREACHABLE',
    });
    expect(res.headers['x-portkey-provider']).toBe('openai');
  });

  it('answers 502 when the provider drops the connection', async () => {
    // Twice: a request that meets a dropped pooled connection is sent once more on a new one.
    providers.openai.script({ destroy: true }, { destroy: true });
    const res = await request(app()).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_UPSTREAM_UNREACHABLE');
  });

  it('answers 504 when the provider stays silent past the timeout', async () => {
    providers.openai.script({ hang: true });
    const res = await request(app({ timeout: 150 }))
      .post('/llm/v1/chatComplete')
      .send(openaiOnly());
    expect(res.status).toBe(504);
    expect(res.body.error).toEqual({
      message: 'Provider openai did not answer within 150 ms',
      type: 'timeout_error',
      param: null,
      code: 'ERR_UPSTREAM_TIMEOUT',
    });
  });

  it("honours a target's request_timeout", async () => {
    providers.openai.script({ hang: true });
    const res = await request(app())
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({ provider: 'openai', api_key: keys.openai, request_timeout: 100 }),
      )
      .send({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(504);
    expect(res.body.error.message).toContain('100 ms');
  });

  it('keeps serving after failures', async () => {
    const res = await request(app()).post('/llm/v1/chatComplete').send(openaiOnly());
    expect(res.status).toBe(200);
  });
});
