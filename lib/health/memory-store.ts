import type { HealthStore } from '../types.js';
import type { HealthRecord } from './circuit-breaker.js';

/**
 * The default health store: one Map per process. Bounded, so that request-supplied targets
 * (each distinct key is a distinct target) cannot grow it without limit; the oldest records go
 * first. Share health between replicas by implementing {@link HealthStore} on a shared store.
 */
export class MemoryHealthStore implements HealthStore {
  readonly #records = new Map<string, HealthRecord>();

  constructor(readonly capacity = 10_000) {}

  get(key: string): HealthRecord | undefined {
    return this.#records.get(key);
  }

  set(key: string, record: HealthRecord | undefined): void {
    if (record === undefined) {
      this.#records.delete(key);
      return;
    }
    // Re-inserting keeps the Map ordered by last update, so the oldest come first.
    this.#records.delete(key);
    if (this.#records.size >= this.capacity) {
      const oldest = this.#records.keys().next();
      if (oldest.done !== true) this.#records.delete(oldest.value);
    }
    this.#records.set(key, record);
  }
}
