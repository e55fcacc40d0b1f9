import { LoadBalancerError } from '../../errors.js';
import { isRecord } from '../../shared/values.js';

/**
 * JSON Schema (as OpenAI's `response_format.json_schema.schema` and tool `parameters` use it)
 * to the OpenAPI 3.0 subset Gemini's `Schema` message reads. Gemini answers 400 to any field it
 * does not know, so the conversion is explicit about every keyword:
 *
 * - kept: `type` (upper-cased), `description`, `title`, `enum` (strings), `properties`,
 *   `required` (only names that are properties), `items`, `anyOf`, `minItems`, `maxItems`,
 *   `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, `minProperties`,
 *   `maxProperties`, `nullable`, `default`, `example`, `propertyOrdering`, and `format` when
 *   Gemini knows it for the type (`date-time`, `enum`, `float`, `double`, `int32`, `int64`);
 * - rewritten: `$ref` to `#/$defs/...` or `#/definitions/...` is inlined; `type: [T, "null"]`
 *   and `anyOf` with a `{type: "null"}` branch become `nullable: true`; `const` becomes a
 *   one-value `enum`; a one-element `allOf` is merged into its parent; `examples` becomes
 *   `example` (the first one);
 * - dropped, because they only annotate or because Gemini's output is already closed:
 *   `additionalProperties: true | false`, `$schema`, `$id`, `$comment`, `$defs`, `definitions`,
 *   `strict`, `readOnly`, `writeOnly`, `deprecated`, and formats Gemini does not know (`email`,
 *   `uri`...);
 * - refused with `ERR_PARAMS_INVALID` naming the keyword's path: anything else (`oneOf`, `not`,
 *   `patternProperties`, `additionalProperties` with a value schema (a map), `exclusiveMinimum`,
 *   `multipleOf`, `uniqueItems`, recursive or external
 *   `$ref`, type arrays with two non-null types, non-string `enum` values, ...).
 */

type Schema = Record<string, unknown>;

/** Keywords copied as they are (their values are plain numbers, strings or string lists). */
const copied = [
  'description',
  'title',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'minProperties',
  'maxProperties',
  'nullable',
  'default',
  'example',
  'propertyOrdering',
] as const;

/** Keywords that carry nothing Gemini can use; dropping them does not change the answer's shape. */
const dropped = new Set([
  'additionalProperties',
  '$schema',
  '$id',
  '$comment',
  '$defs',
  'definitions',
  'strict',
  'readOnly',
  'writeOnly',
  'deprecated',
]);

/** Handled by dedicated code below. */
const handled = new Set([
  ...copied,
  'type',
  'format',
  'enum',
  'const',
  'properties',
  'required',
  'items',
  'anyOf',
  'allOf',
  '$ref',
  'examples',
]);

const formatsByType: Record<string, readonly string[]> = {
  STRING: ['date-time', 'enum'],
  NUMBER: ['float', 'double'],
  INTEGER: ['int32', 'int64'],
};

const jsonTypes = new Set(['string', 'number', 'integer', 'boolean', 'array', 'object', 'null']);

/**
 * A JSON Schema as a Gemini `Schema`. `param` is the schema's place in the OpenAI params
 * (`response_format.json_schema.schema`, `tools[0].function.parameters`), used in errors.
 * Throws `ERR_PARAMS_INVALID` for what cannot be expressed.
 */
export function toGeminiSchema(
  schema: unknown,
  param: string,
  options: SchemaOptions = {},
): Schema {
  const root = isRecord(schema) ? schema : {};
  return convert(schema, { root, refs: [], ordered: options.propertyOrdering === true }, param);
}

export interface SchemaOptions {
  /**
   * Whether every object gets a `propertyOrdering` listing its properties in schema order
   * (unless it has one). Gemini otherwise orders the properties of its JSON answers as it
   * likes (alphabetically on 2.0 models), where OpenAI keeps the schema's order, which callers
   * reading a streamed object field by field rely on. Defaults to `false`.
   */
  propertyOrdering?: boolean;
}

interface Context {
  root: Schema;
  ordered: boolean;
  /** `$ref`s being inlined, outermost first, to refuse recursive schemas. */
  refs: string[];
}

function convert(schema: unknown, context: Context, path: string): Schema {
  if (!isRecord(schema)) throw schemaError(path, 'must be a JSON Schema object');
  const resolved = resolveRef(schema, context, path);
  if (resolved !== undefined) return resolved;
  const merged = mergeAllOf(schema, path);
  if (isRecord(merged.additionalProperties)) {
    // A map (`dict[str, T]`): dropping the value schema would leave an object Gemini refuses.
    throw schemaError(
      `${path}.additionalProperties`,
      'describes a map with a value schema, which Gemini cannot express (only fixed properties)',
    );
  }
  for (const key of Object.keys(merged)) {
    if (!handled.has(key) && !dropped.has(key)) {
      throw schemaError(
        `${path}.${key}`,
        `uses ${key}, which Gemini's response schema cannot express`,
      );
    }
  }
  const out: Schema = {};
  const type = typeOf(merged, path);
  if (type.name !== undefined) out.type = type.name;
  if (type.nullable) out.nullable = true;
  for (const key of copied) {
    if (merged[key] !== undefined && out[key] === undefined) out[key] = merged[key];
  }
  if (out.example === undefined && Array.isArray(merged.examples) && merged.examples.length > 0) {
    out.example = merged.examples[0];
  }
  copyFormat(merged, out);
  copyEnum(merged, out, path);
  if (merged.properties !== undefined) copyProperties(merged, out, context, path);
  if (merged.items !== undefined) {
    if (Array.isArray(merged.items)) {
      throw schemaError(
        `${path}.items`,
        'is a tuple (an array of schemas), which Gemini cannot express',
      );
    }
    out.items = convert(merged.items, context, `${path}.items`);
  }
  if (merged.anyOf !== undefined) return withAnyOf(out, merged.anyOf, context, path);
  return out;
}

/** `$ref` to a local definition, inlined; siblings of `$ref` (a description) are kept. */
function resolveRef(schema: Schema, context: Context, path: string): Schema | undefined {
  if (schema.$ref === undefined) return undefined;
  const ref = schema.$ref;
  const match = typeof ref === 'string' ? /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref) : null;
  if (match === null) {
    throw schemaError(
      `${path}.$ref`,
      'must point into #/$defs or #/definitions of the same schema',
    );
  }
  const name = decodeURIComponent((match[2] as string).replace(/~1/g, '/').replace(/~0/g, '~'));
  const definitions = context.root[match[1] as string];
  const target = isRecord(definitions) ? definitions[name] : undefined;
  if (!isRecord(target))
    throw schemaError(`${path}.$ref`, `points to ${String(ref)}, which is not defined`);
  if (context.refs.includes(String(ref))) {
    throw schemaError(`${path}.$ref`, `is recursive (${String(ref)}), which Gemini cannot express`);
  }
  const { $ref: _ref, ...siblings } = schema;
  const inner = { ...context, refs: [...context.refs, String(ref)] };
  return convert({ ...target, ...siblings }, inner, path);
}

/** A one-element `allOf` (how pydantic attaches a description to a `$ref`) merged into its parent. */
function mergeAllOf(schema: Schema, path: string): Schema {
  if (schema.allOf === undefined) return schema;
  if (!Array.isArray(schema.allOf) || schema.allOf.length !== 1 || !isRecord(schema.allOf[0])) {
    throw schemaError(`${path}.allOf`, 'has more than one schema, which Gemini cannot express');
  }
  const { allOf: _allOf, ...rest } = schema;
  return { ...schema.allOf[0], ...rest };
}

function typeOf(schema: Schema, path: string): { name: string | undefined; nullable: boolean } {
  const type = schema.type;
  if (type === undefined) {
    // An enum or const without a type can only be strings in Gemini.
    return {
      name: schema.enum !== undefined || schema.const !== undefined ? 'STRING' : undefined,
      nullable: false,
    };
  }
  const names = Array.isArray(type) ? type : [type];
  if (!names.every((name) => typeof name === 'string' && jsonTypes.has(name))) {
    throw schemaError(`${path}.type`, `must be a JSON Schema type, not ${JSON.stringify(type)}`);
  }
  const nullable = names.includes('null');
  const others = names.filter((name) => name !== 'null') as string[];
  if (others.length > 1) {
    throw schemaError(
      `${path}.type`,
      `lists several types (${others.join(', ')}); Gemini takes one type, optionally nullable`,
    );
  }
  return { name: (others[0] ?? 'null').toUpperCase(), nullable };
}

function copyFormat(schema: Schema, out: Schema): void {
  if (typeof schema.format !== 'string' || typeof out.type !== 'string') return;
  if (formatsByType[out.type]?.includes(schema.format)) out.format = schema.format;
}

function copyEnum(schema: Schema, out: Schema, path: string): void {
  const values =
    schema.const !== undefined
      ? [schema.const]
      : schema.enum !== undefined
        ? schema.enum
        : undefined;
  if (values === undefined) return;
  const key = schema.const !== undefined ? 'const' : 'enum';
  if (
    !Array.isArray(values) ||
    !values.every((value) => typeof value === 'string' || value === null)
  ) {
    throw schemaError(`${path}.${key}`, 'must list strings: Gemini enums are strings only');
  }
  if (out.type !== 'STRING') {
    throw schemaError(
      `${path}.${key}`,
      'applies to a non-string type: Gemini enums are strings only',
    );
  }
  if (values.includes(null)) out.nullable = true;
  out.enum = values.filter((value) => value !== null);
}

function copyProperties(schema: Schema, out: Schema, context: Context, path: string): void {
  if (!isRecord(schema.properties)) throw schemaError(`${path}.properties`, 'must be an object');
  const properties: Schema = {};
  for (const [name, property] of Object.entries(schema.properties)) {
    properties[name] = convert(property, context, `${path}.properties.${name}`);
  }
  out.properties = properties;
  if (out.type === undefined) out.type = 'OBJECT';
  if (context.ordered && out.propertyOrdering === undefined && Object.keys(properties).length > 1) {
    out.propertyOrdering = Object.keys(properties);
  }
  if (Array.isArray(schema.required)) {
    const required = schema.required.filter(
      (name): name is string => typeof name === 'string' && name in properties,
    );
    if (required.length > 0) out.required = required;
  }
}

/** `anyOf`; a `{type: "null"}` branch becomes `nullable`, and a single branch left is inlined. */
function withAnyOf(out: Schema, anyOf: unknown, context: Context, path: string): Schema {
  if (!Array.isArray(anyOf) || anyOf.length === 0) {
    throw schemaError(`${path}.anyOf`, 'must be a non-empty array of schemas');
  }
  const isNull = (branch: unknown) =>
    isRecord(branch) && branch.type === 'null' && Object.keys(branch).length === 1;
  const branches = anyOf
    .map((branch, index) => ({ branch, index }))
    .filter(({ branch }) => !isNull(branch))
    .map(({ branch, index }) => convert(branch, context, `${path}.anyOf[${index}]`));
  const nullable = branches.length < anyOf.length ? { nullable: true } : {};
  if (branches.length === 1) return { ...(branches[0] as Schema), ...out, ...nullable };
  if (branches.length === 0) return { ...out, type: 'NULL' };
  return { ...out, ...nullable, anyOf: branches };
}

function schemaError(path: string, reason: string): LoadBalancerError {
  return new LoadBalancerError('ERR_PARAMS_INVALID', `params.${path} ${reason} (provider google)`, {
    param: `params.${path}`,
  });
}
