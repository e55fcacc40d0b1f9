import { createHash } from 'node:crypto';
import type { TargetNode } from '../config/config-tree.js';
import type { FailOpenStore } from '../health/fail-open-store.js';
import { secretValues } from '../providers/credentials.js';
import { adapterOf, type ProviderRegistry } from '../providers/registry.js';

/** How long a response id is remembered; OpenAI keeps stored responses for 30 days. */
const rememberMs = 30 * 24 * 60 * 60 * 1000;

/** What a response id looks like (`resp_...`), bounded. */
const responseIdPattern = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * Which target produced a stored response (OpenAI's Responses API), so that a request
 * continuing it with `previous_response_id` goes to the same account: another one answers 404.
 * Kept in the shared state store as one counter per (response, target), which any store can
 * hold (no read-modify-write): set once when the answer names its id, read in one batched
 * `counters` call for the config's candidates. Through the fail-open wrapper: a store that is
 * slow or fails costs at most `storeTimeout` and the pinning, never the request.
 */
export class ResponseAffinity {
  readonly #identities = new WeakMap<TargetNode, string>();

  constructor(
    private readonly store: FailOpenStore,
    private readonly providers: ProviderRegistry,
    private readonly now: () => number,
  ) {}

  /** Records that `target` produced the response `id`. Fire and forget. */
  remember(id: string, target: TargetNode): void {
    // The id comes from the provider (perhaps one a request config chose): only a plain one.
    if (!responseIdPattern.test(id)) return;
    try {
      const key = this.#key(id, target);
      const now = this.now();
      const done = this.store.run(
        'increment',
        (shared) => shared.increment(key, 1, now, rememberMs),
        (local) => local.increment(key, 1, now, rememberMs),
      );
      if (done instanceof Promise) done.catch(ignore);
    } catch {
      // Affinity is best effort: the request has been answered either way.
    }
  }

  /**
   * The candidates that share the account which produced the response `id` (any of them can
   * continue it), empty when the store knows none. Never rejects.
   */
  async targetsOf(id: string, candidates: readonly TargetNode[]): Promise<Set<TargetNode>> {
    try {
      const keys = candidates.map((target) => this.#key(id, target));
      const now = this.now();
      const counts = await this.store.run(
        'counters',
        (shared) => shared.counters(keys, now),
        (local) => local.counters(keys, now),
      );
      return new Set(candidates.filter((_, index) => (counts[index] ?? 0) > 0));
    } catch {
      return new Set();
    }
  }

  #key(id: string, target: TargetNode): string {
    return `response-affinity:${id}:${this.#identityOf(target)}`;
  }

  /**
   * A target's identity across configs and replicas: provider, deployment fields and a hash of
   * its secrets (never a secret itself): the account the response is stored in.
   */
  #identityOf(target: TargetNode): string {
    let identity = this.#identities.get(target);
    if (identity === undefined) {
      const spec = adapterOf(this.providers, target.provider).credentials;
      const fields = Object.keys(spec.fields)
        .filter((name) => spec.fields[name]?.identity === true)
        .map((name) => target.credentials[name] ?? '-');
      const secrets = secretValues(spec, target.credentials);
      const hash = createHash('sha256').update(secrets.join('\n')).digest('hex').slice(0, 16);
      identity = `${target.provider}:${target.customHost ?? ''}:${fields.join(',')}:${hash}`;
      this.#identities.set(target, identity);
    }
    return identity;
  }
}

function ignore(): void {
  // See remember.
}
