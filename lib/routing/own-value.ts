/**
 * The own property `name` of a plain object, else undefined. Request facts come from JSON, so
 * a path such as `params.constructor` must not reach `Object.prototype`, and an array is not a
 * map of names.
 */
export function ownValue(container: unknown, name: string): unknown {
  if (typeof container !== 'object' || container === null || Array.isArray(container)) {
    return undefined;
  }
  return Object.hasOwn(container, name) ? (container as Record<string, unknown>)[name] : undefined;
}
