/** Type guards every layer uses: one definition each. */

/** A plain JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether a value-or-Promise is the Promise (stores and host callbacks may return either). */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** A number as reported, or 0 when a provider leaves it out (token counts). */
export function numberOr0(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
