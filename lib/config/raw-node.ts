import { snakeCase } from './spelling.js';

/** A config node as parsed JSON, after the schema has checked its shape. */
export type RawNode = Record<string, unknown>;

/** Reads a field given in camelCase or snake_case; camelCase wins when both are present. */
export function field<T>(raw: RawNode, camelName: string): T | undefined {
  return (raw[camelName] ?? raw[snakeCase(camelName)]) as T | undefined;
}
