import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { LoadBalancerError } from './errors.js';

/**
 * Which custom hosts a request config may send calls to. Entries are exact origins
 * (`https://llm.internal.example:8443`), origins with a wildcard for subdomains
 * (`https://*.example.com`), or regular expressions tested against the origin. Only an exact
 * entry may point at a loopback, private, link-local or metadata address: a wildcard or pattern
 * match must resolve to public addresses only, checked again at connection time.
 */
export type AllowedHost = string | RegExp;

/** Resolves a host name to its addresses; injectable so tests never touch real DNS. */
export type ResolveHost = (hostname: string) => Promise<string[]>;

interface OriginRule {
  protocol: string;
  /** Exact host name, or the suffix after `*.`. */
  host: string;
  wildcard: boolean;
  port: string;
}

export type HostMatch = 'explicit' | 'pattern' | undefined;

export class HostPolicy {
  readonly #rules: OriginRule[] = [];
  readonly #patterns: RegExp[] = [];
  readonly #explicitHostnames = new Set<string>();
  /** Host names that passed the address check, until when: DNS is not asked on every request. */
  readonly #checked = new Map<string, number>();

  constructor(
    allowedHosts: readonly AllowedHost[],
    readonly resolve: ResolveHost,
  ) {
    allowedHosts.forEach((entry, index) => {
      if (entry instanceof RegExp) {
        this.#patterns.push(entry);
        return;
      }
      const rule = parseRule(String(entry), `allowedHosts[${index}]`);
      this.#rules.push(rule);
      if (!rule.wildcard) this.#explicitHostnames.add(rule.host);
    });
  }

  /** How a custom host's origin is allowed: by an exact entry, by a pattern, or not at all. */
  match(url: URL): HostMatch {
    const hostname = bare(url.hostname);
    const port = url.port || defaultPort(url.protocol);
    let matched: HostMatch;
    for (const rule of this.#rules) {
      if (rule.protocol !== url.protocol || rule.port !== port) continue;
      if (!rule.wildcard && rule.host === hostname) return 'explicit';
      if (rule.wildcard && hostname.endsWith(`.${rule.host}`)) matched = 'pattern';
    }
    if (matched === undefined && this.#patterns.some((pattern) => pattern.test(url.origin))) {
      matched = 'pattern';
    }
    return matched;
  }

  isExplicitHostname(hostname: string): boolean {
    return this.#explicitHostnames.has(bare(hostname));
  }

  /**
   * Refuses a host that is not explicitly listed and resolves to an address that is not public
   * unicast. `param` names the config field in the error.
   */
  async checkAddresses(url: URL, param: string): Promise<void> {
    const hostname = bare(url.hostname);
    if (this.isExplicitHostname(hostname)) return;
    if ((this.#checked.get(hostname) ?? 0) > Date.now()) return;
    const addresses = ipaddr.isValid(hostname)
      ? [hostname]
      : await this.#resolveOrRefuse(hostname, param);
    const internal = addresses.find((address) => !isPublicAddress(address));
    if (internal !== undefined) {
      throw new LoadBalancerError(
        'ERR_HOST_NOT_ALLOWED',
        `${param} resolves to ${internal}, a loopback, private, link-local or metadata address; only hosts listed exactly in allowedHosts may`,
        { param },
      );
    }
    if (this.#checked.size >= 1000) this.#checked.clear();
    // The agents' lookup checks again at every connection; this only spares the DNS round trip.
    this.#checked.set(hostname, Date.now() + 30_000);
  }

  async #resolveOrRefuse(hostname: string, param: string): Promise<string[]> {
    try {
      const addresses = await this.resolve(hostname);
      if (addresses.length > 0) return addresses;
    } catch {
      // Reported below, without the resolver's own words.
    }
    throw new LoadBalancerError('ERR_HOST_NOT_ALLOWED', `${param} does not resolve`, { param });
  }

  /**
   * A `lookup` for agents that carry request-chosen hosts: the same address check at connection
   * time, so a name that changes its answer after the check (DNS rebinding) is still refused.
   */
  guardedLookup(): GuardedLookup {
    return (hostname, options, callback) => {
      const explicit = this.isExplicitHostname(hostname);
      this.resolve(hostname).then(
        (addresses) => {
          const refused = explicit
            ? undefined
            : addresses.find((address) => !isPublicAddress(address));
          if (refused !== undefined || addresses.length === 0) {
            const error = Object.assign(
              new Error(`Connection to ${hostname} refused: ${refused ?? 'no address'}`),
              {
                code: 'ERR_HOST_NOT_ALLOWED',
              },
            );
            callback(error, '', 4);
            return;
          }
          const all: LookupAddress[] = addresses.map((address) => ({
            address,
            family: ipaddr.parse(address).kind() === 'ipv6' ? 6 : 4,
          }));
          if (options.all === true) callback(null, all);
          else callback(null, (all[0] as LookupAddress).address, (all[0] as LookupAddress).family);
        },
        (error: NodeJS.ErrnoException) => callback(error, '', 4),
      );
    };
  }
}

export type GuardedLookup = (
  hostname: string,
  options: { all?: boolean },
  callback: (
    error: NodeJS.ErrnoException | null,
    address: string | LookupAddress[],
    family?: number,
  ) => void,
) => void;

/** The system resolver: every address of a name, as the OS would connect to it. */
export const systemResolveHost: ResolveHost = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/** Public unicast only: no loopback, private, link-local (metadata), CGNAT, ULA or reserved ranges. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

function parseRule(entry: string, option: string): OriginRule {
  const wildcard = /^(https?:\/\/)\*\./.test(entry);
  let url: URL;
  try {
    url = new URL(wildcard ? entry.replace('*.', 'wildcard.') : entry);
  } catch {
    throw invalidEntry(option, entry);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname !== '/' ||
    url.search !== '' ||
    url.username !== ''
  ) {
    throw invalidEntry(option, entry);
  }
  const hostname = bare(url.hostname);
  return {
    protocol: url.protocol,
    host: wildcard ? hostname.slice('wildcard.'.length) : hostname,
    wildcard,
    port: url.port || defaultPort(url.protocol),
  };
}

function invalidEntry(option: string, entry: string): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_OPTIONS_INVALID',
    `${option} must be an origin such as "https://llm.internal.example:8443" or "https://*.example.com", or a RegExp: got ${JSON.stringify(entry)}`,
    { param: option },
  );
}

function bare(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}
