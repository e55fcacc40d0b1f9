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
const virtualKeyHeader = 'x-portkey-virtual-key';
const providerHeader = 'x-portkey-provider';

/**
 * Decides the config of each request, in order: the host's `getConfig(req)`, the request's own
 * config (a server config name, or an object under the `requestConfig` policy), the server
 * default. Server configs are validated once; request configs once per distinct header.
 */
export class ConfigResolver {
  readonly #named: ReadonlyMap<string, ResolvedConfig>;
  readonly #default: ResolvedConfig | undefined;
  readonly #headerConfigs = new BoundedCache<string, ResolvedConfig>(256);
  /** Configs of the header shortcuts, by `virtual key \n provider` header values. */
  readonly #shortcutConfigs = new BoundedCache<string, ResolvedConfig>(256);
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
    const shortcut = this.#shortcutConfig(req);
    if (source === 'body') {
      const config = body.config;
      if (config === undefined) return shortcut ?? this.#defaultConfig();
      if (shortcut !== undefined) throw conflictingShortcut('config');
      if (typeof config === 'string') return this.#namedConfig(config, 'config');
      return this.#requestConfig(config);
    }
    const header = req.headers[configHeader];
    if (typeof header !== 'string' || header === '') return shortcut ?? this.#defaultConfig();
    if (shortcut !== undefined) throw conflictingShortcut(configHeader);
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

  /**
   * The config of Portkey's header shortcuts, which the `portkey-ai` SDK's `virtualKey` and
   * `provider` options send: `x-portkey-virtual-key: <name>` is the request config
   * `{"virtual_key": "<name>"}` (under the request-config policy like any other), and
   * `x-portkey-provider: <name>` alone is that provider through the server-held key of the same
   * name. Undefined when neither header is sent.
   */
  #shortcutConfig(req: HostRequest): ResolvedConfig | undefined {
    const virtualKey = headerText(req, virtualKeyHeader);
    const provider = headerText(req, providerHeader);
    if (virtualKey === undefined && provider === undefined) return undefined;
    const cacheKey = `${virtualKey ?? ''}\n${provider ?? ''}`;
    const cached = this.#shortcutConfigs.get(cacheKey);
    if (cached !== undefined) return cached;
    if (this.policy === 'deny') throw forbidden(deniedConfig(virtualKeyHeader));
    const name = virtualKey ?? (provider as string);
    const param = virtualKey === undefined ? providerHeader : virtualKeyHeader;
    if (provider !== undefined && !this.providers.names.has(provider)) {
      const known = [...this.providers.names];
      throw new LoadBalancerError(
        'ERR_CONFIG_INVALID',
        `${providerHeader}: "${truncate(provider)}" is not a provider this load balancer knows (${known.join(', ')})${didYouMean(provider, known)}`,
        { param: providerHeader },
      );
    }
    const identity = this.virtualKeys.get(name);
    if (identity === undefined) {
      const why =
        virtualKey === undefined
          ? `${providerHeader}: ${name} needs a server-held credential, and this server has no virtual key named "${truncate(name)}" (options.virtualKeys)`
          : `${virtualKeyHeader}: this server has no virtual key named "${truncate(name)}"`;
      throw new LoadBalancerError(
        'ERR_CONFIG_INVALID',
        `${why}${didYouMean(name, [...this.virtualKeys.keys()])}`,
        { param },
      );
    }
    if (provider !== undefined && identity.provider !== provider) {
      throw new LoadBalancerError(
        'ERR_CONFIG_INVALID',
        `${providerHeader}: ${provider} does not match the virtual key "${truncate(name)}", which is for provider ${identity.provider}`,
        { param: providerHeader },
      );
    }
    const resolved = this.#requestConfig({ virtual_key: name });
    this.#shortcutConfigs.set(cacheKey, resolved);
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

function headerText(req: HostRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A shortcut header next to a config: one of them would be ignored, so neither is guessed. */
function conflictingShortcut(configParam: string): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_CONFIG_INVALID',
    `${virtualKeyHeader} and ${providerHeader} choose the target themselves and cannot be combined with ${configParam}: send one or the other`,
    { param: configParam },
  );
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
