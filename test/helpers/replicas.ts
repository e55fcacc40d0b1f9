import { type LoadBalancerOptions, portkeyLoadBalancer, redisStore } from '../../lib/index.js';
import { createApp, listen, type RunningServer } from './app.js';
import { fakeClock } from './fake-clock.js';

/** Replicas of one app: the same options, one fake clock, each on its own port. */
export interface Replicas {
  readonly time: ReturnType<typeof fakeClock>;
  readonly a: string;
  readonly b: string;
}

export interface ReplicaOptions {
  /** Where every replica sends OpenAI calls. */
  readonly upstreamUrl: string;
  /** The key prefix the replicas share (and no other test does). */
  readonly prefix: string;
  /** Sends Redis commands; node-redis's `sendCommand` as `redisStore` takes it. */
  readonly sendCommand: (args: string[]) => Promise<unknown>;
  /** Collects the servers, for the caller to close after its tests. */
  readonly servers: RunningServer[];
}

/**
 * Two middleware instances (replicas) mounted at `/llm`, sharing one Redis prefix and one fake
 * clock. `extra` options are added to both.
 */
export async function startReplicas(
  { upstreamUrl, prefix, sendCommand, servers }: ReplicaOptions,
  extra: LoadBalancerOptions = {},
): Promise<Replicas> {
  const time = fakeClock();
  const urls: string[] = [];
  for (let index = 0; index < 2; index++) {
    const server = await listen(
      createApp(
        '/llm',
        portkeyLoadBalancer({
          clock: time.clock,
          store: redisStore({ sendCommand, prefix }),
          // A loaded test machine must not send a replica to local state (with a fake clock,
          // for good): these tests are about sharing.
          storeTimeout: 5000,
          providers: { openai: { baseURL: upstreamUrl } },
          ...extra,
        }),
      ),
    );
    servers.push(server);
    urls.push(server.url);
  }
  return { time, a: urls[0] as string, b: urls[1] as string };
}
