import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `npm start` as a newcomer runs it: no provider keys, so it must start its own simulators. */
const root = fileURLToPath(new URL('../..', import.meta.url));
let child: ChildProcess;
let baseUrl: string;
let output = '';

beforeAll(async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1' };
  for (const name of [
    'OPENAI_API_KEY',
    'ANTHROPIC_API_KEY',
    'AZURE_OPENAI_API_KEY',
    'GEMINI_API_KEY',
    'GOOGLE_API_KEY',
    'APP_API_TOKEN',
    'REDIS_URL',
  ])
    delete env[name];
  child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`example app did not start:\n${output}`)),
      15_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+\/internal\/llm)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`example app exited with ${code}:\n${output}`)));
  });
}, 20_000);

afterAll(() => {
  if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

const question = {
  messages: [{ role: 'user', content: 'What are the top 10 happiest countries in the world?' }],
  max_tokens: 50,
  user: 'jbu3470',
};

describe('the example app (npm start)', () => {
  it('says it routes to local simulators', () => {
    expect(output).toContain('routing to local simulators');
  });

  it('says which state store it uses', () => {
    expect(output).toContain('State store: in-memory');
  });

  it("answers the seed's first request verbatim, placeholders included", async () => {
    const res = await post(
      '/v1/chatComplete',
      {
        config: {
          mode: 'loadbalance',
          options: [
            {
              provider: 'openai',
              apiKey: '<API_KEY>',
              weight: 0.5,
              override_params: { model: 'gpt-3.5-turbo' },
            },
            {
              provider: 'anthropic',
              apiKey: '<API_KEY>',
              weight: 0.5,
              override_params: { model: 'claude-v1' },
            },
          ],
        },
        params: question,
      },
      { 'x-portkey-api-key': '<PORTKEY_API_KEY>' },
    );
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('chat.completion');
    expect(['openai', 'anthropic']).toContain(res.headers.get('x-portkey-provider'));
    expect(res.headers.get('ratelimit-limit')).toBe('120');
  });

  it("answers the seed's second request with its Azure placeholders filled in", async () => {
    const res = await post(
      '/v1/chatComplete',
      {
        config: {
          mode: 'loadbalance',
          options: [
            {
              provider: 'azure-openai',
              apiKey: '<AZURE_API_KEY>',
              resourceName: 'my-resource',
              deploymentId: 'gpt-35-turbo',
              apiVersion: '2024-10-21',
              weight: 0.7,
            },
            { provider: 'openai', apiKey: '<OPENAI_API_KEY>', weight: 0.3 },
          ],
        },
        params: { ...question, model: 'gpt-3.5-turbo' },
      },
      { 'x-portkey-api-key': '<PORTKEY_API_KEY>' },
    );
    expect(res.status).toBe(200);
    expect(['azure-openai', 'openai']).toContain(res.headers.get('x-portkey-provider'));
  });

  it('serves the OpenAI-compatible route from its default config', async () => {
    const res = await post(
      '/v1/chat/completions',
      { model: 'any', messages: [{ role: 'user', content: 'hi' }] },
      { authorization: 'Bearer demo' },
    );
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('chat.completion');
  });

  it('serves its server-held keys by name', async () => {
    const res = await post(
      '/v1/chat/completions',
      { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] },
      {
        authorization: 'Bearer demo',
        'x-portkey-config': JSON.stringify({ virtual_key: 'anthropic' }),
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-portkey-provider')).toBe('anthropic');
  });

  it('serves the Gemini simulator by its virtual key', async () => {
    const res = await post(
      '/v1/chat/completions',
      { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] },
      {
        authorization: 'Bearer demo',
        'x-portkey-config': JSON.stringify({ virtual_key: 'google' }),
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-portkey-provider')).toBe('google');
    expect(res.body.object).toBe('chat.completion');
  });

  it('refuses requests without a token', async () => {
    const res = await post('/v1/chat/completions', { model: 'any', messages: [] });
    expect(res.status).toBe(401);
  });
});
