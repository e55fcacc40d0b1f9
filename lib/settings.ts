import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { ConfigTree } from './config/config-tree.js';
import { checkConfig } from './config/normalize.js';
import { didYouMean } from './config/suggest.js';
import { LoadBalancerError } from './errors.js';
import {
  createProviderRegistry,
  type ProviderRegistry,
  providerNames,
} from './providers/registry.js';
import { resolveForwardedHeaders } from './proxy/request-headers.js';
import type { LoadBalancerOptions, ProviderName } from './types.js';

/** Options resolved once at construction: the hot path reads only this. */
export interface Settings {
  readonly defaultConfig: ConfigTree | undefined;
  readonly providers: ProviderRegistry;
  readonly random: () => number;
  readonly bodyLimit: number | string;
  readonly timeout: number;
  readonly forwardedHeaders: readonly string[];
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
}

/** The one literal of defaults; `undefined` in the options means "use the default". */
const defaults = {
  bodyLimit: '10mb',
  timeout: 600_000,
} as const;

const optionNames: readonly (keyof LoadBalancerOptions)[] = [
  'config',
  'providers',
  'random',
  'bodyLimit',
  'timeout',
  'forwardHeaders',
  'httpAgent',
  'httpsAgent',
];

// One pair of keep-alive agents per process: sockets to a provider are reused across requests
// and across middleware instances.
let sharedAgents: { http: HttpAgent; https: HttpsAgent } | undefined;

function keepAliveAgents(): { http: HttpAgent; https: HttpsAgent } {
  sharedAgents ??= {
    http: new HttpAgent({ keepAlive: true, scheduling: 'lifo' }),
    https: new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }),
  };
  return sharedAgents;
}

export function resolveSettings(options: LoadBalancerOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('options', 'must be an object, e.g. portkeyLoadBalancer({ config })');
  }
  for (const name of Object.keys(options)) {
    if (!optionNames.includes(name as keyof LoadBalancerOptions)) {
      throw invalidOption(name, `is not an option${didYouMean(name, optionNames)}`);
    }
  }
  if (options.random !== undefined && typeof options.random !== 'function') {
    throw invalidOption(
      'random',
      'must be a function returning a number in [0, 1), e.g. Math.random',
    );
  }
  const timeout = options.timeout ?? defaults.timeout;
  if (!Number.isInteger(timeout) || timeout <= 0) {
    throw invalidOption('timeout', 'must be a positive whole number of milliseconds, e.g. 60000');
  }
  const bodyLimit = options.bodyLimit ?? defaults.bodyLimit;
  if (typeof bodyLimit !== 'string' && !(Number.isInteger(bodyLimit) && bodyLimit > 0)) {
    throw invalidOption('bodyLimit', "must be a byte count or a size such as '10mb'");
  }
  for (const name of Object.keys(options.providers ?? {})) {
    if (!providerNames.includes(name as ProviderName)) {
      throw invalidOption(
        `providers.${name}`,
        `is not a provider${didYouMean(name, providerNames)}`,
      );
    }
  }
  const agents = keepAliveAgents();
  return {
    defaultConfig: resolveDefaultConfig(options.config),
    providers: createProviderRegistry(options.providers),
    random: options.random ?? Math.random,
    bodyLimit,
    timeout,
    forwardedHeaders: resolveForwardedHeaders(options.forwardHeaders),
    httpAgent: options.httpAgent ?? agents.http,
    httpsAgent: options.httpsAgent ?? agents.https,
  };
}

function resolveDefaultConfig(config: unknown): ConfigTree | undefined {
  if (config === undefined) return undefined;
  const check = checkConfig(config, 'options.config');
  if (!check.valid) {
    const first = check.problems[0];
    throw new LoadBalancerError(
      'ERR_OPTIONS_INVALID',
      `Invalid options.config: ${check.problems.map((problem) => problem.message).join('; ')}`,
      { param: first?.param ?? 'options.config' },
    );
  }
  return check.tree;
}

function invalidOption(name: string, reason: string): LoadBalancerError {
  return new LoadBalancerError('ERR_OPTIONS_INVALID', `${name} ${reason}`, { param: name });
}
