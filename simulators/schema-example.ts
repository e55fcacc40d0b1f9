import { isRecord } from './simulator-server.js';

/**
 * A value that matches a schema, for simulators that must answer structured output or call a
 * tool. Understands the parts of JSON Schema that OpenAI's `json_schema` and tool parameters use
 * (`type`, `properties`, `required`, `items`, `enum`, `const`, `anyOf`/`oneOf`/`allOf`, `$ref` to
 * `#/$defs/...` or `#/definitions/...`, `nullable`, `format`, `minItems`, `minimum`) and Gemini's
 * OpenAPI subset (upper-case types such as `OBJECT`). Deterministic: the same schema always gives
 * the same value. Every property of an object is filled in, so `required` and
 * `additionalProperties: false` both hold.
 */
export function exampleOf(schema: unknown): unknown {
  return sampleOf(schema, isRecord(schema) ? schema : {}, '', 0);
}

/** Values for well-known property names, so that a `city` reads `Paris` as in the other answers. */
const namedSamples: Record<string, string> = {
  city: 'Paris',
  location: 'Paris',
  country: 'France',
  name: 'Ada Lovelace',
  unit: 'celsius',
  email: 'ada@example.com',
};

const maxDepth = 8;

function sampleOf(
  schema: unknown,
  root: Record<string, unknown>,
  key: string,
  depth: number,
): unknown {
  if (!isRecord(schema) || depth > maxDepth) return null;
  if (typeof schema.$ref === 'string') {
    return sampleOf(resolveRef(schema.$ref, root), root, key, depth + 1);
  }
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.default !== undefined) return schema.default;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives) && alternatives.length > 0) {
    const first = alternatives.find((option) => !isNullSchema(option)) ?? alternatives[0];
    return sampleOf(first, root, key, depth + 1);
  }
  if (Array.isArray(schema.allOf)) return mergedAllOf(schema.allOf, root, key, depth);
  switch (typeOf(schema)) {
    case 'object':
      return objectOf(schema, root, depth);
    case 'array': {
      const count = Math.max(
        1,
        Number.isInteger(schema.minItems) ? (schema.minItems as number) : 1,
      );
      return Array.from({ length: count }, () => sampleOf(schema.items, root, key, depth + 1));
    }
    case 'integer':
      return typeof schema.minimum === 'number' ? Math.ceil(schema.minimum) : 1;
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1.5;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return stringOf(schema, key);
  }
}

function objectOf(schema: Record<string, unknown>, root: Record<string, unknown>, depth: number) {
  const result: Record<string, unknown> = {};
  const properties = isRecord(schema.properties) ? schema.properties : {};
  for (const [name, property] of Object.entries(properties)) {
    result[name] = sampleOf(property, root, name, depth + 1);
  }
  return result;
}

function mergedAllOf(
  parts: unknown[],
  root: Record<string, unknown>,
  key: string,
  depth: number,
): unknown {
  const values = parts.map((part) => sampleOf(part, root, key, depth + 1));
  if (values.every(isRecord)) return Object.assign({}, ...values);
  return values[0] ?? null;
}

function typeOf(schema: Record<string, unknown>): string {
  const type = Array.isArray(schema.type)
    ? schema.type.find((entry) => String(entry).toLowerCase() !== 'null')
    : schema.type;
  if (typeof type === 'string') return type.toLowerCase();
  if (isRecord(schema.properties)) return 'object';
  if (schema.items !== undefined) return 'array';
  return 'string';
}

function stringOf(schema: Record<string, unknown>, key: string): string {
  switch (schema.format) {
    case 'date-time':
      return '2026-01-01T00:00:00Z';
    case 'date':
      return '2026-01-01';
    case 'email':
      return 'ada@example.com';
    case 'uri':
      return 'https://example.com/';
    case 'uuid':
      return '00000000-0000-4000-8000-000000000000';
    default: {
      const sample = namedSamples[key] ?? (key === '' ? 'sample' : `sample ${key}`);
      const minLength = Number.isInteger(schema.minLength) ? (schema.minLength as number) : 0;
      return sample.padEnd(minLength, 'x');
    }
  }
}

function isNullSchema(schema: unknown): boolean {
  return isRecord(schema) && String(schema.type).toLowerCase() === 'null';
}

function resolveRef(ref: string, root: Record<string, unknown>): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const segment of ref.slice(2).split('/')) {
    if (!isRecord(node)) return undefined;
    node = node[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}
