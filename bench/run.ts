import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: compares, in one run and alternating A B A B, the upstream direct, a bare
 * Express + http-proxy-middleware proxy, this middleware (two-target loadbalance with a body
 * rewrite), this middleware translating to Anthropic, and this middleware with its state in Redis
 * (`REDIS_URL`, default `redis://127.0.0.1:6379`). Every server and the load generator run
 * in their own processes, on 127.0.0.1 only. Writes bench/results/latest.{json,md}.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const quick = process.argv.includes('--quick');
const durationSeconds = quick ? 2 : 5;
const rounds = 2;
const connections = 50;
const sequentialRequests = quick ? 300 : 2000;
const streamRequests = quick ? 50 : 200;
const soakRequests = quick ? 20_000 : 100_000;
const body = JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'Say hello' }] });
const streamBody = JSON.stringify({
  model: 'x',
  stream: true,
  messages: [{ role: 'user', content: 'Say hello' }],
});

type Scenario =
  | 'direct'
  | 'bare'
  | 'middleware'
  | 'middleware-anthropic'
  | 'middleware-redis'
  | 'baseline';
/**
 * `BENCH_BASELINE=/path/to/other/dist/index.js`: another build of this package (an earlier
 * commit's `dist/`) run as the `middleware` scenario beside this one, so that a change's cost is
 * measured in the same run rather than against a number from another day.
 */
const baselineDist = process.env.BENCH_BASELINE;
const scenarios: Scenario[] = [
  'direct',
  'bare',
  'middleware',
  'middleware-anthropic',
  'middleware-redis',
  ...(baselineDist === undefined ? [] : (['baseline'] as const)),
];

interface Stats {
  cpuMicros: number;
  rss: number;
  maxRss: number;
}

function start(
  file: string,
  args: string[] = [],
  execArgv: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(`${here}${file}`, args, {
    execArgv,
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve({ child, port: message.port }));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

function ask<T>(child: ChildProcess, message: string): Promise<T> {
  const reply = once(child, 'message') as Promise<[T]>;
  child.send(message);
  return reply.then(([value]) => value);
}

async function load(url: string, options: Record<string, unknown>) {
  const child = fork(
    `${here}load.ts`,
    [
      JSON.stringify({
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections,
        ...options,
      }),
    ],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const [result] = (await once(child, 'message')) as [
    { requests: number; rps: number; p50: number; p99: number; errors: number; error?: string },
  ];
  if (result.error !== undefined) throw new Error(result.error);
  return result;
}

const clientAgent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One request; resolves with ms to the first body byte and to the end. */
function timed(url: string, payload: string): Promise<{ firstByte: number; total: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let firstByte = 0;
    const req = request(
      url,
      {
        method: 'POST',
        agent: clientAgent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        res.on('data', () => {
          if (firstByte === 0) firstByte = Number(process.hrtime.bigint() - started) / 1e6;
        });
        res.on('end', () =>
          resolve({ firstByte, total: Number(process.hrtime.bigint() - started) / 1e6 }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function sequential(
  url: string,
  payload: string,
  count: number,
  pick: 'firstByte' | 'total',
) {
  for (let index = 0; index < Math.min(100, count); index++) await timed(url, payload);
  const samples: number[] = [];
  for (let index = 0; index < count; index++) samples.push((await timed(url, payload))[pick]);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** `--cpu-prof`: profile the middleware process (written to bench/results/*.cpuprofile). */
function profileArgs(kind: string): string[] {
  return process.argv.includes('--cpu-prof') && kind === 'middleware'
    ? ['--cpu-prof', `--cpu-prof-dir=${here}results`]
    : [];
}

async function main(): Promise<void> {
  const upstream = await start('upstream.mjs');
  const proxies = new Map<Scenario, { child: ChildProcess; port: number }>();
  for (const kind of ['bare', 'middleware', 'middleware-anthropic', 'middleware-redis'] as const) {
    proxies.set(
      kind,
      await start('proxy-server.mjs', [kind, String(upstream.port)], profileArgs(kind)),
    );
  }
  if (baselineDist !== undefined) {
    proxies.set(
      'baseline',
      await start('proxy-server.mjs', ['middleware', String(upstream.port)], [], {
        ...process.env,
        BENCH_DIST: baselineDist,
      }),
    );
  }
  const urlOf = (scenario: Scenario) =>
    scenario === 'direct'
      ? `http://127.0.0.1:${upstream.port}/v1/chat/completions`
      : `http://127.0.0.1:${proxies.get(scenario)?.port}/llm/v1/chat/completions`;

  console.log(
    `warming up (${durationSeconds}s runs, ${connections} connections, ${rounds} rounds)`,
  );
  for (const scenario of scenarios) await load(urlOf(scenario), { duration: 1 });

  const runs = new Map<
    Scenario,
    {
      rps: number[];
      p50: number[];
      p99: number[];
      cpuPerRequest: number[];
      maxRss: number;
      errors: number;
    }
  >();
  for (let round = 0; round < rounds; round++) {
    for (const scenario of scenarios) {
      const proxy = proxies.get(scenario);
      if (proxy !== undefined) await ask(proxy.child, 'reset');
      const result = await load(urlOf(scenario), { duration: durationSeconds });
      const stats = proxy === undefined ? undefined : await ask<Stats>(proxy.child, 'stats');
      const entry = runs.get(scenario) ?? {
        rps: [],
        p50: [],
        p99: [],
        cpuPerRequest: [],
        maxRss: 0,
        errors: 0,
      };
      entry.rps.push(result.rps);
      entry.p50.push(result.p50);
      entry.p99.push(result.p99);
      entry.errors += result.errors;
      if (stats !== undefined) {
        entry.cpuPerRequest.push(stats.cpuMicros / result.requests);
        entry.maxRss = Math.max(entry.maxRss, stats.maxRss);
      }
      runs.set(scenario, entry);
      console.log(
        `${scenario}: ${Math.round(result.rps)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms`,
      );
    }
  }

  console.log('sequential unloaded latency');
  const unloaded = new Map<Scenario, { p50: number; p99: number }>();
  for (const scenario of scenarios)
    unloaded.set(scenario, await sequential(urlOf(scenario), body, sequentialRequests, 'total'));

  console.log('streaming time to first byte');
  const ttfb = new Map<Scenario, { p50: number; p99: number }>();
  for (const scenario of scenarios) {
    const url = scenario === 'direct' ? urlOf('direct') : urlOf(scenario);
    ttfb.set(scenario, await sequential(url, streamBody, streamRequests, 'firstByte'));
  }

  console.log(`RSS over ${soakRequests} requests`);
  const middleware = proxies.get('middleware');
  if (middleware === undefined) throw new Error('no middleware process');
  const rssSamples: number[] = [];
  const sampler = setInterval(() => {
    void ask<Stats>(middleware.child, 'stats').then((stats) => rssSamples.push(stats.rss));
  }, 500);
  await load(urlOf('middleware'), { amount: soakRequests });
  clearInterval(sampler);
  const finalStats = await ask<Stats>(middleware.child, 'stats');
  rssSamples.push(finalStats.rss);

  const mean = (values: number[]) =>
    values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
  const summary = Object.fromEntries(
    scenarios.map((scenario) => {
      const entry = runs.get(scenario);
      return [
        scenario,
        {
          rps: Math.round(mean(entry?.rps ?? [])),
          p50Ms: mean(entry?.p50 ?? []),
          p99Ms: mean(entry?.p99 ?? []),
          cpuMicrosPerRequest: entry?.cpuPerRequest.length
            ? round3(mean(entry.cpuPerRequest))
            : undefined,
          peakRssMB: entry?.maxRss ? Math.round(entry.maxRss / 1048576) : undefined,
          errors: entry?.errors ?? 0,
          unloadedP50Ms: round3(unloaded.get(scenario)?.p50 ?? 0),
          streamTtfbP50Ms: round3(ttfb.get(scenario)?.p50 ?? 0),
        },
      ];
    }),
  ) as Record<
    Scenario,
    {
      rps: number;
      cpuMicrosPerRequest?: number;
      peakRssMB?: number;
      unloadedP50Ms: number;
      streamTtfbP50Ms: number;
      p50Ms: number;
      p99Ms: number;
      errors: number;
    }
  >;

  const bare = summary.bare;
  const ours = summary.middleware;
  // RSS saws up and down with each young-generation GC: compare the medians of the samples just
  // after warm-up and of the last ones, not two single samples.
  const fifth = Math.max(1, Math.floor(rssSamples.length / 5));
  const median = (values: number[]) => percentile(values, 50);
  const rssEarly = median(rssSamples.slice(fifth, 2 * fifth));
  const rssLate = median(rssSamples.slice(-fifth));
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      memoryGB: Math.round(os.totalmem() / 1073741824),
      node: process.version,
    },
    settings: {
      durationSeconds,
      rounds,
      connections,
      sequentialRequests,
      streamRequests,
      soakRequests,
    },
    scenarios: summary,
    ratios: {
      throughputVsBare: round3(ours.rps / bare.rps),
      anthropicThroughputVsBare: round3(summary['middleware-anthropic'].rps / bare.rps),
      redisThroughputVsBare: round3(summary['middleware-redis'].rps / bare.rps),
      redisCpuPerRequestVsBare: round3(
        (summary['middleware-redis'].cpuMicrosPerRequest ?? 0) / (bare.cpuMicrosPerRequest ?? 1),
      ),
      cpuPerRequestVsBare: round3(
        (ours.cpuMicrosPerRequest ?? 0) / (bare.cpuMicrosPerRequest ?? 1),
      ),
      unloadedAddedMsOverDirect: round3(ours.unloadedP50Ms - summary.direct.unloadedP50Ms),
      streamTtfbAddedMsOverDirect: round3(ours.streamTtfbP50Ms - summary.direct.streamTtfbP50Ms),
      anthropicStreamTtfbAddedMsOverDirect: round3(
        summary['middleware-anthropic'].streamTtfbP50Ms - summary.direct.streamTtfbP50Ms,
      ),
    },
    soak: {
      requests: soakRequests,
      rssMBSamples: rssSamples.map((rss) => Math.round(rss / 1048576)),
      rssGrowthMBAfterWarmup: Math.round((rssLate - rssEarly) / 1048576),
    },
  };

  const baseline = summary.baseline as (typeof summary)['bare'] | undefined;
  const cpuVsBaseline =
    baseline === undefined
      ? undefined
      : round3((ours.cpuMicrosPerRequest ?? 0) / (baseline.cpuMicrosPerRequest ?? 1));
  const targets = [
    ...(cpuVsBaseline === undefined
      ? []
      : ([
          [
            'CPU per request vs the baseline build',
            `${cpuVsBaseline}x`,
            '<= 1.05x',
            cpuVsBaseline <= 1.05,
          ],
        ] as const)),
    [
      'throughput vs bare proxy',
      `${results.ratios.throughputVsBare}x`,
      '>= 0.85x',
      results.ratios.throughputVsBare >= 0.85,
    ],
    [
      'throughput vs bare proxy, Redis store',
      `${results.ratios.redisThroughputVsBare}x`,
      '>= 0.85x',
      results.ratios.redisThroughputVsBare >= 0.85,
    ],
    [
      'CPU per request vs bare proxy, Redis store',
      `${results.ratios.redisCpuPerRequestVsBare}x`,
      '<= 1.25x',
      results.ratios.redisCpuPerRequestVsBare <= 1.25,
    ],
    [
      'CPU per request vs bare proxy',
      `${results.ratios.cpuPerRequestVsBare}x`,
      '<= 1.25x',
      results.ratios.cpuPerRequestVsBare <= 1.25,
    ],
    [
      'unloaded added latency over direct (p50)',
      `${results.ratios.unloadedAddedMsOverDirect} ms`,
      '< 0.8 ms',
      results.ratios.unloadedAddedMsOverDirect < 0.8,
    ],
    [
      'streaming TTFB added over direct (p50)',
      `${results.ratios.streamTtfbAddedMsOverDirect} ms`,
      '< 2 ms',
      results.ratios.streamTtfbAddedMsOverDirect < 2,
    ],
    [
      'peak RSS at 50 connections',
      `${ours.peakRssMB} MB (bare proxy: ${bare.peakRssMB} MB)`,
      '< 140 MB',
      (ours.peakRssMB ?? 0) < 140,
    ],
    [
      `RSS growth over ${soakRequests} requests (after warm-up)`,
      `${results.soak.rssGrowthMBAfterWarmup} MB`,
      'flat (noise)',
      Math.abs(results.soak.rssGrowthMBAfterWarmup) <= 10,
    ],
  ] as const;

  const table = [
    `Run ${results.date} on ${results.machine.cpus} × ${results.machine.model}, ${results.machine.memoryGB} GB, Node ${results.machine.node}; ${connections} connections, ${rounds} × ${durationSeconds} s per scenario, alternating.`,
    '',
    '| Scenario | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MB | unloaded p50 ms | stream TTFB p50 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...scenarios.map((scenario) => {
      const s = summary[scenario];
      return `| ${scenario} | ${s.rps} | ${round3(s.p50Ms)} | ${round3(s.p99Ms)} | ${s.cpuMicrosPerRequest ?? '-'} | ${s.peakRssMB ?? '-'} | ${s.unloadedP50Ms} | ${s.streamTtfbP50Ms} |`;
    }),
    '',
    '| Target | Measured | Goal | Met |',
    '| --- | --- | --- | --- |',
    ...targets.map(
      ([name, measured, goal, met]) =>
        `| ${name} | ${measured} | ${goal} | ${met ? 'yes' : 'no'} |`,
    ),
    '',
  ].join('\n');

  writeFileSync(`${here}results/latest.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${here}results/latest.md`, table);
  console.log(`\n${table}`);

  upstream.child.kill();
  for (const proxy of proxies.values()) proxy.child.send('exit');
  clientAgent.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
