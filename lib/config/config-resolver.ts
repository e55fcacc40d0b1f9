import { LoadBalancerError } from '../errors.js';
import { type ProviderRules, providerRules } from '../providers/provider-rules.js';
import { upstreamURL } from '../providers/upstream-base.js';
import type { HostPolicy } from '../security/host-policy.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import type { LoadBalancerOptions, PortkeyConfig, RequestConfigPolicy } from '../types.js';
import { type ConfigTree, targetPath } from './config-tree.js';
import { checkConfig, type VirtualKeyTable } from './normalize.js';
import { deniedConfig, policyViolation, targetWithoutVirtualKey } from './request-policy.js';
import { didYouMean } from './suggest.js';
import type { ConfigProblem } from './validate.js';

/** The host's request, as `getConfig` receives it; the core never needs Express's type itself. */
type HostRequest = Parameters<NonNullable<LoadBalancerOptions['getConfig']>>[0];

import { isPromise } from '../shared/values.js';

/** A config ready to run, and whether it came from the server (trusted) or the request. */
export interface ResolvedConfig {
  readonly tree: ConfigTree;
  readonly trusted: boolean;
}

/** Where a route's own config travels. */
export type ConfigSource = 'body' | 'header';

const configHeader = 'x-portkey-config';

/**
 * Decides the config of each request, in order: the host's `getConfig(req)`, the request's own
 * config (a server config name, or an object under the `requestConfig` policy), the server
 * default. Server configs are validated once; request configs once per distinct header.
 */
export class ConfigResolver {
  readonly #named: ReadonlyMap<string, ResolvedConfig>;
  readonly #default: ResolvedConfig | undefined;
  readonly #headerConfigs = new BoundedCache<string, ResolvedConfig>(256);
  readonly #hostConfigs = new WeakMap<object, ResolvedConfig>();

  constructor(
    options: Pick<LoadBalancerOptions, 'config' | 'configs' | 'getConfig'>,
    private readonly virtualKeys: VirtualKeyTable,
    private readonly policy: RequestConfigPolicy,
    private readonly hosts: HostPolicy,
    private readonly providers: ProviderRules = providerRules(),
  ) {
    const named = new Map<string, ResolvedConfig>();
    for (const [name, config] of Object.entries(options.configs ?? {})) {
      named.set(name, this.#serverConfig(config, `options.configs.${name}`));
    }
    this.#named = named;
    this.#default =
      options.config === undefined
        ? undefined
        : this.#serverConfig(options.config, 'options.config');
    this.getConfig = options.getConfig;
  }

  readonly getConfig: LoadBalancerOptions['getConfig'];

  /** The config of a request; throws the LoadBalancerError to answer with. */
  resolve(
    req: HostRequest,
    source: ConfigSource,
    body: Record<string, unknown>,
  ): ResolvedConfig | Promise<ResolvedConfig> {
    if (this.getConfig !== undefined) {
      const chosen = this.getConfig(req);
      if (isPromise(chosen))
        return chosen.then(
          (value) => this.#fromHost(value) ?? this.#fromRequest(req, source, body),
        );
      const fromHost = this.#fromHost(chosen);
      if (fromHost !== undefined) return fromHost;
    }
    return this.#fromRequest(req, source, body);
  }

  #fromHost(chosen: string | PortkeyConfig | undefined): ResolvedConfig | undefined {
    if (chosen === undefined) return undefined;
    if (typeof chosen === 'string') {
      const named = this.#named.get(chosen);
      if (named === undefined) {
        // The host's own routing is wrong, not the request: a server error naming the option.
        throw new LoadBalancerError(
          'ERR_CONFIG_NOT_FOUND',
          `getConfig returned "${chosen}", which names no config in options.configs${didYouMean(chosen, [...this.#named.keys()])}`,
          { param: 'getConfig', status: 500, type: 'api_error' },
        );
      }
      return named;
    }
    let resolved = this.#hostConfigs.get(chosen);
    if (resolved === undefined) {
      resolved = { tree: this.#validated(chosen, 'config', 500), trusted: true };
      this.#hostConfigs.set(chosen, resolved);
    }
    return resolved;
  }

  #fromRequest(
    req: HostRequest,
    source: ConfigSource,
    body: Record<string, unknown>,
  ): ResolvedConfig {
    if (source === 'body') {
      const config = body.config;
      if (config === undefined) return this.#defaultConfig();
      if (typeof config === 'string') return this.#namedConfig(config, 'config');
      return this.#requestConfig(config);
    }
    const header = req.headers[configHeader];
    if (typeof header !== 'string' || header === '') return this.#defaultConfig();
    const cached = this.#headerConfigs.get(header);
    if (cached !== undefined) return cached;
    const inline = header.trimStart().startsWith('{');
    // Refused before it is parsed or validated: under `deny` its content does not matter.
    if (inline && this.policy === 'deny') throw forbidden(deniedConfig());
    const resolved = inline
      ? this.#requestConfig(parseHeader(header))
      : this.#namedConfig(header, configHeader);
    this.#headerConfigs.set(header, resolved);
    return resolved;
  }

  #namedConfig(name: string, param: string): ResolvedConfig {
    const named = this.#named.get(name);
    if (named !== undefined) return named;
    throw new LoadBalancerError(
      'ERR_CONFIG_NOT_FOUND',
      `${param} "${truncate(name)}" is neither a JSON config nor the name of a server config${didYouMean(name, [...this.#named.keys()])}`,
      { param },
    );
  }

  #requestConfig(config: unknown): ResolvedConfig {
    // Before validation: a refused config must cost nothing, however large or broken it is.
    if (this.policy === 'deny') throw forbidden(deniedConfig());
    const tree = this.#validated(config, 'config', 400, (raw) => {
      const violation = policyViolation(raw, this.policy);
      if (violation !== undefined) throw forbidden(violation);
    });
    const keyless = targetWithoutVirtualKey(tree, this.policy);
    if (keyless !== undefined) throw forbidden(keyless);
    this.#checkCustomHosts(tree);
    return { tree, trusted: false };
  }

  #defaultConfig(): ResolvedConfig {
    if (this.#default !== undefined) return this.#default;
    throw new LoadBalancerError(
      'ERR_CONFIG_MISSING',
      'No config: send one in the body (`config`) or the x-portkey-config header, or set options.config on the server',
      { param: 'config' },
    );
  }

  #serverConfig(config: unknown, root: string): ResolvedConfig {
    const tree = this.#validated(config, root, 'startup');
    for (const target of tree.targets) {
      if (target.customHost !== undefined)
        upstreamURL(target.customHost, `${root} custom_host`, 'ERR_OPTIONS_INVALID');
    }
    return { tree, trusted: true };
  }

  #validated(
    config: unknown,
    root: string,
    failure: 400 | 500 | 'startup',
    beforeResolve?: (raw: unknown) => void,
  ): ConfigTree {
    const check = checkConfig(config, {
      root,
      virtualKeys: this.virtualKeys,
      providers: this.providers,
      beforeResolve,
    });
    if (check.valid) return check.tree;
    const more =
      check.omitted > 0
        ? `; and ${check.omitted} more problems`
        : check.complete
          ? ''
          : '; this config is too large to look for further problems';
    const message = check.problems.map((problem) => problem.message).join('; ') + more;
    const param = check.problems[0]?.param ?? root;
    if (failure === 'startup') {
      throw new LoadBalancerError('ERR_OPTIONS_INVALID', `Invalid ${root}: ${message}`, { param });
    }
    throw new LoadBalancerError('ERR_CONFIG_INVALID', `Invalid config: ${message}`, {
      param,
      status: failure,
    });
  }

  /** Request-chosen hosts must be allowed; their addresses are checked in {@link hostChecks}. */
  #checkCustomHosts(tree: ConfigTree): void {
    for (const target of tree.targets) {
      if (target.customHost === undefined) continue;
      const param = `${targetPath(tree, target)}.custom_host`;
      const url = upstreamURL(target.customHost, param, 'ERR_CONFIG_INVALID');
      if (this.hosts.match(url) === undefined) {
        throw new LoadBalancerError(
          'ERR_HOST_NOT_ALLOWED',
          `${param} ${url.origin} is not in this server's allowedHosts`,
          { param },
        );
      }
    }
  }

  /** The address checks of a request config's custom hosts (they need DNS, hence async). */
  hostChecks(resolved: ResolvedConfig): Promise<void> | undefined {
    if (resolved.trusted) return undefined;
    const checks: Promise<void>[] = [];
    for (const target of resolved.tree.targets) {
      if (target.customHost === undefined) continue;
      const param = `${targetPath(resolved.tree, target)}.custom_host`;
      checks.push(this.hosts.checkAddresses(new URL(target.customHost), param));
    }
    return checks.length === 0 ? undefined : Promise.all(checks).then(() => undefined);
  }
}

function forbidden(problem: ConfigProblem): LoadBalancerError {
  return new LoadBalancerError('ERR_CONFIG_FORBIDDEN', problem.message, { param: problem.param });
}

function parseHeader(header: string): unknown {
  try {
    return JSON.parse(header);
  } catch {
    throw new LoadBalancerError(
      'ERR_CONFIG_INVALID_JSON',
      'The x-portkey-config header is not valid JSON',
      {
        param: configHeader,
      },
    );
  }
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}...` : text;
}
