import { Agent } from 'node:http';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

// The built package, as users run it (or another build of it: see BENCH_BASELINE in run.ts).
const { portkeyLoadBalancer, redisStore } = await import(
  process.env.BENCH_DIST ?? '../dist/index.js'
);

// Plain JavaScript, run by plain node: the process measured carries no TypeScript loader.

/**
 * One proxy under test, in its own process so its CPU and memory are its own. `kind`:
 * - `bare`: Express + http-proxy-middleware with a keep-alive agent, no rewrite: the floor.
 * - `middleware`: this package with a two-target loadbalance config and a body rewrite.
 * - `middleware-anthropic`: this package translating to Anthropic's Messages API.
 * - `middleware-redis`: `middleware` with its state in Redis (`REDIS_URL`, node-redis): one
 *   batched read per request.
 */

const kind = process.argv[2];
const upstream = `http://127.0.0.1:${process.argv[3]}`;
const app = express();

if (kind === 'bare') {
  app.use(
    '/llm',
    createProxyMiddleware({
      target: `${upstream}/v1`,
      changeOrigin: true,
      agent: new Agent({ keepAlive: true }),
      pathRewrite: { '^/v1': '' },
    }),
  );
} else {
  const anthropic = kind === 'middleware-anthropic';
  let store;
  if (kind === 'middleware-redis') {
    const { createClient } = await import('redis');
    const client = await createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
      .on('error', () => undefined)
      .connect();
    store = redisStore({
      sendCommand: (args) => client.sendCommand(args),
      prefix: `pklb-bench:${process.pid}:`,
    });
  }
  app.use(
    '/llm',
    portkeyLoadBalancer({
      store,
      providers: {
        openai: { baseURL: `${upstream}/v1` },
        anthropic: { baseURL: `${upstream}/v1` },
      },
      config: anthropic
        ? {
            provider: 'anthropic',
            api_key: 'sk-ant-bench',
            override_params: { model: 'claude-3-5-haiku-latest' },
          }
        : {
            strategy: { mode: 'loadbalance' },
            targets: [
              {
                provider: 'openai',
                api_key: 'sk-bench-a',
                weight: 0.5,
                override_params: { model: 'gpt-4o-mini' },
              },
              {
                provider: 'openai',
                api_key: 'sk-bench-b',
                weight: 0.5,
                override_params: { model: 'gpt-4o' },
              },
            ],
          },
    }),
  );
}

let baseline = process.cpuUsage();
process.on('message', (message) => {
  if (message === 'reset') {
    baseline = process.cpuUsage();
    process.send?.({ reset: true });
  } else if (message === 'exit') {
    // A clean exit writes the --cpu-prof profile.
    process.exit(0);
  } else if (message === 'stats') {
    const cpu = process.cpuUsage(baseline);
    process.send?.({
      cpuMicros: cpu.user + cpu.system,
      rss: process.memoryUsage().rss,
      maxRss: process.resourceUsage().maxRSS * 1024,
    });
  }
});

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
server.keepAliveTimeout = 60_000;
