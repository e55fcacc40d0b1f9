import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { LoadBalancerError } from '../errors.js';
import { BoundedCache } from '../shared/bounded-cache.js';

/**
 * Which custom hosts a request config may send calls to. Entries are exact origins
 * (`https://llm.internal.example:8443`), origins with a wildcard for subdomains
 * (`https://*.example.com`), or regular expressions tested against the origin. Only an exact
 * entry may point at a loopback, private, link-local or metadata address, and only on its own
 * origin (scheme, host and port): a wildcard or pattern match, or the same host on another port,
 * must resolve to public addresses only, checked again at connection time.
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
  /** `URL.origin` of each exact entry: the only origins that may reach internal addresses. */
  readonly #exactOrigins = new Set<string>();
  /** Host names that passed the address check, until when: DNS is not asked on every request. */
  readonly #checked = new BoundedCache<string, number>(1000);

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
      if (!rule.wildcard) this.#exactOrigins.add(new URL(String(entry)).origin);
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

  /**
   * Whether `origin` (a `URL.origin`) is an exact entry, exempt from the address checks. A host
   * name alone is not enough: `http://127.0.0.1:8080` listed must not open port 9000 of the same
   * host, however a pattern or another spelling (`2130706433`, `0x7f.1`, `127.1`) reaches it.
   */
  isExactOrigin(origin: string): boolean {
    return this.#exactOrigins.has(origin);
  }

  /**
   * Refuses a host that is not explicitly listed and resolves to an address that is not public
   * unicast. `param` names the config field in the error.
   */
  async checkAddresses(url: URL, param: string): Promise<void> {
    if (this.isExactOrigin(url.origin)) return;
    const hostname = bare(url.hostname);
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
   * A lookup does not see the port, so it cannot tell an exact origin from the same host on
   * another port: calls to exact origins use agents whose lookup is built with `checked: false`.
   */
  guardedLookup(checked = true): GuardedLookup {
    return (hostname, options, callback) => {
      this.resolve(hostname).then(
        (addresses) => {
          const refused = checked
            ? addresses.find((address) => !isPublicAddress(address))
            : undefined;
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
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    // IPv4-compatible (`::127.0.0.1`, deprecated but still routed by some stacks) is judged by
    // its IPv4 address, like IPv4-mapped.
    if (v6.isIPv4MappedAddress() || isIPv4Compatible(v6)) {
      const [high = 0, low = 0] = v6.parts.slice(6);
      parsed = new ipaddr.IPv4([high >> 8, high & 255, low >> 8, low & 255]);
    }
  }
  return parsed.range() === 'unicast';
}

/** `::a.b.c.d`: the first 96 bits zero (`::` and `::1` included: they map into 0.0.0.0/8). */
function isIPv4Compatible(address: ipaddr.IPv6): boolean {
  return address.parts.slice(0, 6).every((part) => part === 0);
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
