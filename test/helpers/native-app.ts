import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import { type LoadBalancerOptions, portkeyLoadBalancer } from '../../lib/index.js';
import {
  createApp,
  listen,
  type Providers,
  type RunningServer,
  simulatorOptions,
  startProviders,
} from './app.js';
import { recorder } from './event-recorder.js';
import type { NativeProviders } from './native-providers.js';

/** The middleware over every simulator, native ones included, for one test file. */
export interface NativeApp {
  /** The OpenAI, Anthropic and Azure simulators (for mixed configs). */
  readonly providers: Providers;
  readonly server: RunningServer;
  readonly app: ReturnType<typeof createApp>;
  readonly events: ReturnType<typeof recorder>;
  /** The official openai SDK against the middleware, with `config` in `x-portkey-config`. */
  client(config: unknown): OpenAI;
  /** Forgets every simulator's requests and the recorded events. */
  reset(): void;
}

/**
 * Mounts the middleware at `/llm` over the native simulators and the OpenAI-shaped ones,
 * recording events, dry runs allowed and the breaker off (the failures a test provokes must not
 * eject a provider for the next test). `options` add to or override these.
 */
export function useNativeApp(
  native: NativeProviders,
  options: () => LoadBalancerOptions,
): NativeApp {
  const events = recorder();
  const setup = { events } as { -readonly [K in keyof NativeApp]: NativeApp[K] };
  beforeAll(async () => {
    setup.providers = await startProviders();
    setup.app = createApp(
      '/llm',
      portkeyLoadBalancer(
        simulatorOptions(setup.providers, {
          on: events.listeners,
          allowDryRun: true,
          circuitBreaker: false,
          ...options(),
        }),
      ),
    );
    setup.server = await listen(setup.app);
  });
  afterAll(async () => {
    await setup.server.close();
    await setup.providers.close();
  });
  setup.client = (config) =>
    new OpenAI({
      apiKey: 'host-token',
      baseURL: `${setup.server.url}/llm/v1`,
      defaultHeaders: { 'x-portkey-config': JSON.stringify(config) },
      maxRetries: 0,
    });
  setup.reset = () => {
    native.reset();
    setup.providers.reset();
    events.seen.length = 0;
  };
  return setup;
}
