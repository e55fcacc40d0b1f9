import { Agent } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { portkeyLoadBalancer } from '../../lib/index.js';
import type { RecordedRequest } from '../../simulators/index.js';
import {
  createApp,
  keys,
  listen,
  type Providers,
  type RunningServer,
  simulatorOptions,
  startProviders,
} from '../helpers/app.js';

let providers: Providers;
let server: RunningServer;
const agent = new Agent({ keepAlive: true });
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);

beforeAll(async () => {
  providers = await startProviders(100);
  server = await listen(
    createApp('/llm', portkeyLoadBalancer(simulatorOptions(providers, { httpAgent: agent }))),
  );
  process.on('warning', onWarning);
});
afterAll(async () => {
  process.off('warning', onWarning);
  await server.close();
  await providers.close();
  agent.destroy();
});
beforeEach(() => providers.reset());

const config = JSON.stringify({ provider: 'openai', api_key: keys.openai });

function send(body: Record<string, unknown>, signal: AbortSignal) {
  return fetch(`${server.url}/llm/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-portkey-config': config },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...body }),
    signal,
  });
}

async function until<T>(probe: () => T | undefined, what: string, limitMs = 3000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves true if the upstream request closed within the bound, false otherwise. */
function closedWithin(record: RecordedRequest, ms: number): Promise<boolean> {
  return Promise.race([
    record.closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);
}

describe('client aborts', () => {
  it('aborts the upstream call when the client leaves before the provider answered', async () => {
    providers.openai.script({ hang: true });
    const controller = new AbortController();
    const pending = send({}, controller.signal).catch((error: unknown) => error);
    const record = await until(() => providers.openai.requests[0], 'the upstream request');
    controller.abort();
    await pending;
    expect(await closedWithin(record, 1000)).toBe(true);
    expect(record.abortedByClient).toBe(true);
  });

  it('aborts the upstream stream when the client leaves mid-stream', async () => {
    const controller = new AbortController();
    const res = await send({ stream: true }, controller.signal);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    const record = await until(() => providers.openai.requests[0], 'the upstream request');
    controller.abort();
    expect(await closedWithin(record, 1000)).toBe(true);
    expect(record.abortedByClient).toBe(true);
  });

  it('leaks no sockets or listeners over many aborted requests', async () => {
    for (let round = 0; round < 40; round++) {
      providers.openai.script({ hang: true });
      const controller = new AbortController();
      const pending = send({}, controller.signal).catch(() => undefined);
      const record = await until(() => providers.openai.requests[round], 'the upstream request');
      controller.abort();
      await pending;
      await record.closed;
    }
    expect(providers.openai.requests.every((record) => record.abortedByClient)).toBe(true);
    await until(
      () => (providers.openai.connectionCount() === 0 ? true : undefined),
      'upstream connections to close',
    );
    const inUse = () => Object.values(agent.sockets).flat().length;
    await until(() => (inUse() === 0 ? true : undefined), 'the agent to release its sockets').catch(
      () => undefined,
    );
    expect(inUse()).toBe(0);
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual(
      [],
    );
    // And the middleware still serves.
    const res = await send({}, new AbortController().signal);
    expect(res.status).toBe(200);
  });
});

describe('a client that leaves before its call starts', () => {
  it('is never sent upstream when it left while the host was still deciding its metadata', async () => {
    let release: () => void = () => undefined;
    const decided = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived = false;
    let clientClosed = false;
    const errors: string[] = [];
    const slowHost = await listen(
      createApp(
        '/llm',
        portkeyLoadBalancer(
          simulatorOptions(providers, {
            getMetadata: async (req) => {
              arrived = true;
              req.socket.once('close', () => {
                clientClosed = true;
              });
              await decided;
              return { plan: 'pro' };
            },
            on: { error: (event) => errors.push(event.code) },
          }),
        ),
      ),
    );
    try {
      const controller = new AbortController();
      const answer = fetch(`${slowHost.url}/llm/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-portkey-config': config },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
        signal: controller.signal,
      }).catch(() => undefined);
      await until(() => (arrived ? true : undefined), 'the request to arrive');
      controller.abort();
      await answer;
      await until(() => (clientClosed ? true : undefined), 'the server to see the client leave');
      release();
      await until(() => errors[0], 'the call to give up');
      expect(errors).toEqual(['ERR_CLIENT_CLOSED']);
      expect(providers.openai.requests).toHaveLength(0);
    } finally {
      await slowHost.close();
    }
  });
});
