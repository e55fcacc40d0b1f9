import { gzipSync } from 'node:zlib';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import {
  azureDeployment,
  createApp,
  keys,
  listen,
  simulatorOptions,
  useProviders,
} from '../helpers/app.js';

/**
 * A target that needs no rewrite (OpenAI's shape, no `override_params`) gets the bytes the client
 * sent, not a re-serialisation; every other target gets its own body, serialised once.
 */

const providers = useProviders();

const openai = { provider: 'openai', api_key: keys.openai };
// Spacing, key order and a number JSON.stringify would write differently: only untouched bytes keep them.
const clientBytes =
  '{ "messages" : [ {"role":"user","content":"Say hi"} ],\n  "model":"gpt-4o-mini", "temperature": 1.0e0 }';

function app(options = {}) {
  return createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, options)));
}

function post(path: string, config: unknown, body: string | Buffer, target = app()) {
  return request(target)
    .post(path)
    .set('content-type', 'application/json')
    .set('x-portkey-config', JSON.stringify(config))
    .send(body);
}

describe('request bodies that need no rewrite', () => {
  it('reach OpenAI as the exact bytes the client sent, with a matching content-length', async () => {
    const res = await post('/llm/v1/chat/completions', openai, clientBytes);
    expect(res.status).toBe(200);
    const sent = providers.openai.requests[0];
    expect(sent?.rawBody).toBe(clientBytes);
    expect(sent?.headers['content-length']).toBe(String(Buffer.byteLength(clientBytes)));
  });

  it('reach Azure as the exact bytes, in its deployment path', async () => {
    const azure = { provider: 'azure-openai', api_key: keys.azure, ...azureDeployment };
    const res = await post('/llm/v1/chat/completions', azure, clientBytes);
    expect(res.status).toBe(200);
    expect(providers.azure.requests[0]?.rawBody).toBe(clientBytes);
  });

  it('are inflated once when the client compressed them, then forwarded as they read', async () => {
    const server = await listen(app());
    try {
      const res = await fetch(`${server.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'x-portkey-config': JSON.stringify(openai),
        },
        body: gzipSync(clientBytes),
      });
      expect(res.status).toBe(200);
    } finally {
      await server.close();
    }
    const sent = providers.openai.requests[0];
    expect(sent?.rawBody).toBe(clientBytes);
    expect(sent?.headers['content-encoding']).toBeUndefined();
  });

  it('keep the same bytes across a burst of concurrent requests, each its own', async () => {
    const target = app();
    const bodies = Array.from(
      { length: 20 },
      (_, index) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"n${index}"}]  }`,
    );
    const answers = await Promise.all(
      bodies.map((body) => post('/llm/v1/chat/completions', openai, body, target)),
    );
    expect(answers.every((res) => res.status === 200)).toBe(true);
    const received = providers.openai.requests.map((sent) => sent.rawBody).sort();
    expect(received).toEqual([...bodies].sort());
  });
});

describe('request bodies that need a rewrite', () => {
  it('are re-serialised with override_params merged over the client params', async () => {
    const res = await post(
      '/llm/v1/chat/completions',
      { ...openai, override_params: { temperature: 0.2 } },
      clientBytes,
    );
    expect(res.status).toBe(200);
    const sent = providers.openai.requests[0];
    expect(sent?.rawBody).not.toBe(clientBytes);
    expect(sent?.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0.2 });
  });

  it('are translated for Anthropic', async () => {
    const res = await post(
      '/llm/v1/chat/completions',
      { provider: 'anthropic', api_key: keys.anthropic },
      clientBytes,
    );
    expect(res.status).toBe(200);
    expect(providers.anthropic.requests[0]?.body).toMatchObject({ max_tokens: 4096 });
  });

  it('are built from the params on the Portkey route, where the body holds more than params', async () => {
    const res = await request(app())
      .post('/llm/v1/chatComplete')
      .send({ config: openai, params: JSON.parse(clientBytes) });
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.body).toEqual(JSON.parse(clientBytes));
  });

  it('are serialised from what the host parsed when its express.json() ran first', async () => {
    const host = express();
    host.use(express.json());
    host.use('/llm', portkeyLoadBalancer(simulatorOptions(providers)));
    const res = await post('/llm/v1/chat/completions', openai, clientBytes, host as never);
    expect(res.status).toBe(200);
    expect(providers.openai.requests[0]?.body).toEqual(JSON.parse(clientBytes));
  });
});
