import { isPromise } from '../shared/values.js';
import type { StoreErrorEvent } from '../telemetry/events.js';
import type { MaybePromise, StateStore } from '../types.js';
import { MemoryStore } from './memory-store.js';

/** Store operations, as `store-error` events name them. */
export type StoreOperation = StoreErrorEvent['operation'];

/** A store operation that failed; never carries keys or the error's message. */
export interface StoreFailure {
  operation: StoreOperation;
  reason: 'timeout' | 'error';
  /** The error's `code` or `name` (`ECONNREFUSED`, `ClientClosedError`), when it failed. */
  error: string | undefined;
}

/** How long a failed shared store is left alone: requests use local state meanwhile. */
export const storeRestMs = 1000;

/**
 * Makes a shared store advisory: an operation that throws, rejects or outlasts `timeoutMs` is
 * done on a local memory store instead, and reported. After a failure the shared store rests for
 * {@link storeRestMs} (every operation goes local at once), so a hung store costs one timeout per
 * rest, not one per request; then the next operation tries it again.
 */
export class FailOpenStore {
  readonly local = new MemoryStore();
  #restUntil = 0;

  constructor(
    private readonly shared: StateStore,
    private readonly timeoutMs: number,
    private readonly now: () => number,
    private readonly report: (failure: StoreFailure) => void,
  ) {}

  /**
   * Runs an operation on the shared store, or locally when it fails or rests. `urgent` skips the
   * rest: ending a probe that may be held in the shared store is worth a try whenever it happens.
   */
  run<T>(
    operation: StoreOperation,
    onShared: (store: StateStore) => MaybePromise<T>,
    onLocal: (store: MemoryStore) => T,
    urgent = false,
  ): MaybePromise<T> {
    if (!urgent && this.now() < this.#restUntil) return onLocal(this.local);
    let result: MaybePromise<T>;
    try {
      result = onShared(this.shared);
    } catch (error) {
      return this.#fallBack(operation, 'error', error, onLocal);
    }
    if (!isPromise(result)) return result;
    return new Promise<T>((resolve) => {
      // Whichever comes first decides: a late answer (or a late rejection) after the timeout
      // must not apply the operation locally a second time.
      let decided = false;
      const timer = setTimeout(() => {
        decided = true;
        resolve(this.#fallBack(operation, 'timeout', undefined, onLocal));
      }, this.timeoutMs);
      timer.unref?.();
      result.then(
        (value) => {
          if (decided) return;
          decided = true;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (decided) return;
          decided = true;
          clearTimeout(timer);
          resolve(this.#fallBack(operation, 'error', error, onLocal));
        },
      );
    });
  }

  /**
   * The store's optional `init`, not bounded by the timeout (a client may still be connecting)
   * and not sending the store to rest: it only warms what the operations would load anyway.
   */
  init(): void {
    let result: MaybePromise<void>;
    try {
      result = this.shared.init?.();
    } catch (error) {
      this.#report('init', error);
      return;
    }
    if (isPromise(result)) result.catch((error: unknown) => this.#report('init', error));
  }

  #report(operation: StoreOperation, error: unknown): void {
    try {
      this.report({ operation, reason: 'error', error: errorLabel(error) });
    } catch {
      // Reporting is best effort.
    }
  }

  #fallBack<T>(
    operation: StoreOperation,
    reason: 'timeout' | 'error',
    error: unknown,
    onLocal: (store: MemoryStore) => T,
  ): T {
    this.#restUntil = this.now() + storeRestMs;
    try {
      this.report({ operation, reason, error: reason === 'error' ? errorLabel(error) : undefined });
    } catch {
      // Reporting is best effort.
    }
    return onLocal(this.local);
  }
}

/** A label for an error that cannot carry a key: its code or its class name, never its message. */
function errorLabel(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
    if (typeof name === 'string' && /^[A-Za-z0-9_]{1,60}$/.test(name)) return name;
  }
  return 'Error';
}
