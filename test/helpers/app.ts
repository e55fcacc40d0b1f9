import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type RequestHandler } from 'express';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { LoadBalancerOptions } from '../../lib/index.js';
import {
  type Simulator,
  startAnthropicSimulator,
  startAzureOpenAISimulator,
  startOpenAISimulator,
} from '../../simulators/index.js';
import { scanningListeners } from './leak-detector.js';

/** Keys the strict simulators accept. Each is unique so a leak is easy to find. */
export const keys = {
  openai: 'sk-test-openai-0123456789abcdef',
  anthropic: 'sk-ant-test-0123456789abcdef',
  azure: 'azure-test-key-0123456789abcdef',
} as const;

export const azureDeployment = {
  resourceName: 'contoso-east',
  deploymentId: 'gpt-35-turbo',
  apiVersion: '2024-10-21',
} as const;

export interface Providers {
  openai: Simulator;
  anthropic: Simulator;
  azure: Simulator;
  /** Every recorded request across the three simulators. */
  requestCount(): number;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the three strict simulators on 127.0.0.1. */
export async function startProviders(chunkDelayMs = 0): Promise<Providers> {
  const [openai, anthropic, azure] = await Promise.all([
    startOpenAISimulator({ apiKeys: [keys.openai], chunkDelayMs }),
    startAnthropicSimulator({ apiKeys: [keys.anthropic], chunkDelayMs }),
    startAzureOpenAISimulator({
      apiKeys: [keys.azure],
      deployments: { [azureDeployment.deploymentId]: 'gpt-35-turbo-0125' },
      chunkDelayMs,
    }),
  ]);
  const all = [openai, anthropic, azure];
  return {
    openai,
    anthropic,
    azure,
    requestCount: () => all.reduce((sum, sim) => sum + sim.requests.length, 0),
    reset: () => {
      for (const sim of all) sim.reset();
    },
    close: async () => {
      await Promise.all(all.map((sim) => sim.close()));
    },
  };
}

/**
 * The three simulators for a test file: started before its tests, emptied before each test,
 * closed after. The returned object is filled in when the file's tests start.
 */
export function useProviders(chunkDelayMs = 0): Providers {
  const providers = {} as Providers;
  beforeAll(async () => {
    Object.assign(providers, await startProviders(chunkDelayMs));
  });
  afterAll(async () => {
    await providers.close();
  });
  beforeEach(() => providers.reset());
  return providers;
}

/**
 * Options that point every provider at its simulator, with the leak detector's scanning listeners
 * added to the test's own `on` (so every event is built and scanned).
 */
export function simulatorOptions(
  providers: Providers,
  extra: LoadBalancerOptions = {},
): LoadBalancerOptions {
  const own = extra.on === undefined ? [] : Array.isArray(extra.on) ? extra.on : [extra.on];
  return {
    ...extra,
    on: [...own, scanningListeners],
    providers: {
      openai: { baseURL: providers.openai.url },
      anthropic: { baseURL: providers.anthropic.url },
      'azure-openai': { baseURL: providers.azure.url },
      ...extra.providers,
    },
  };
}

/** An Express app with the given middlewares mounted at `prefix` and a JSON 404 after them. */
export function createApp(prefix: string, ...middlewares: RequestHandler[]): Express {
  const app = express();
  app.use(prefix, ...middlewares);
  app.use((_req, res) => {
    res.status(404).json({ host: 'not found' });
  });
  return app;
}

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 with an ephemeral port, for clients that need a real URL (fetch, SDKs). */
export async function listen(app: Express): Promise<RunningServer> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
