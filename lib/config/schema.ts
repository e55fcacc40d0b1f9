import { credentialFieldSchemas } from '../providers/credential-catalog.js';
import { providerNamePattern } from '../providers/provider-names.js';
import { configLimits } from './limits.js';
import {
  routingModeSchema,
  routingStrategyDependencies,
  routingStrategyProperties,
  routingStrategyRules,
  routingTargetProperties,
} from './routing-schema.js';
import { withBothSpellings } from './spelling.js';

export { headerValuePattern } from './field-schemas.js';

/**
 * The JSON Schema (draft-07) of both Portkey config formats. The root is Format 1
 * (`{ mode, options }`) when it has `mode` or `options`, otherwise a Format 2 node
 * (`{ strategy, targets }` or a single target). Cross-field rules that a schema states poorly
 * (Azure fields given in either spelling, not every weight 0) are checked by `validateConfig()`.
 */

const forbiddenKeys = ['__proto__', 'constructor', 'prototype'];

// A name pattern, not an enum: servers define providers of their own; whether the name exists
// on this server is checked when the config is resolved (with a did-you-mean).
const providerSchema = { type: 'string', pattern: providerNamePattern };
const modeSchema = { type: 'string', enum: ['single', 'loadbalance', 'fallback'] };
const statusCodesSchema = {
  type: 'array',
  maxItems: 64,
  items: { type: 'integer', minimum: 100, maximum: 599 },
};
const weightSchema = { type: 'number', minimum: 0, maximum: configLimits.maxWeight };
const overrideParamsSchema = {
  type: 'object',
  maxProperties: configLimits.maxOverrideParams,
  propertyNames: { not: { enum: forbiddenKeys } },
};

const retrySchema = {
  type: 'object',
  required: ['attempts'],
  additionalProperties: false,
  properties: {
    attempts: { type: 'integer', minimum: 0, maximum: configLimits.maxRetryAttempts },
    on_status_codes: statusCodesSchema,
    onStatusCodes: statusCodesSchema,
    use_retry_after_header: { type: 'boolean' },
    useRetryAfterHeader: { type: 'boolean' },
  },
};

/** Portkey's circuit-breaker config of a strategy (`strategy.cb_config`), in either spelling. */
const cbConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: withBothSpellings({
    failureThreshold: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    failureThresholdPercentage: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
    minimumRequests: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    cooldownInterval: { type: 'integer', minimum: 1, maximum: 86_400_000 },
    failureStatusCodes: statusCodesSchema,
  }),
};

/** Fields a target may carry in camelCase; each is also accepted in snake_case. */
const targetFields: Record<string, object> = {
  requestTimeout: { type: 'integer', minimum: 1, maximum: 3_600_000 },
  ...credentialFieldSchemas,
  overrideParams: overrideParamsSchema,
  virtualKey: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' },
  customHost: { type: 'string', minLength: 1, maxLength: 2048 },
  forwardHeaders: {
    type: 'array',
    maxItems: 32,
    items: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' },
  },
};

const targetProperties = {
  provider: providerSchema,
  weight: weightSchema,
  retry: retrySchema,
  ...withBothSpellings(targetFields),
  // Routing (names for conditional routing, usage budgets): Portkey's and LiteLLM's spellings.
  ...routingTargetProperties,
};

// `provider` may come from a virtual key instead: its absence is reported after resolution.
const optionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: targetProperties,
};

const configV1Schema = {
  type: 'object',
  required: ['mode', 'options'],
  additionalProperties: false,
  properties: {
    mode: modeSchema,
    retry: retrySchema,
    ...withBothSpellings({
      onStatusCodes: statusCodesSchema,
      requestTimeout: targetFields.requestTimeout as object,
    }),
    options: {
      type: 'array',
      minItems: 1,
      maxItems: configLimits.maxTargets,
      items: { $ref: '#/definitions/option' },
    },
  },
};

/** Format 2 nodes are unrolled to a fixed depth so that no input can make validation recurse. */
function nodeDefinitions(): Record<string, object> {
  const definitions: Record<string, object> = {};
  for (let depth = 0; depth <= configLimits.maxDepth; depth++) {
    const properties: Record<string, object> = {
      ...targetProperties,
      strategy: {
        type: 'object',
        required: ['mode'],
        additionalProperties: false,
        properties: {
          mode: routingModeSchema,
          ...withBothSpellings({ onStatusCodes: statusCodesSchema, cbConfig: cbConfigSchema }),
          ...routingStrategyProperties,
        },
        allOf: routingStrategyRules,
        dependencies: routingStrategyDependencies,
      },
    };
    if (depth < configLimits.maxDepth) {
      properties.targets = {
        type: 'array',
        minItems: 1,
        maxItems: configLimits.maxTargets,
        items: { $ref: `#/definitions/node${depth + 1}` },
      };
    }
    definitions[`node${depth}`] = { type: 'object', additionalProperties: false, properties };
  }
  return definitions;
}

/** The JSON Schema of a Portkey config, either format. */
export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/express-portkey-loadbalancer/schema/config.json',
  title: 'Portkey config (either format)',
  type: 'object',
  definitions: { option: optionSchema, configV1: configV1Schema, ...nodeDefinitions() },
  if: {
    anyOf: [
      { properties: { mode: true }, required: ['mode'] },
      { properties: { options: true }, required: ['options'] },
    ],
  },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword.
  then: { $ref: '#/definitions/configV1' },
  else: { $ref: '#/definitions/node0' },
} as const;

/** Every field name the schema knows, for "did you mean" hints. */
export const knownConfigFields: readonly string[] = [
  ...new Set([
    'mode',
    'options',
    'strategy',
    'targets',
    'on_status_codes',
    'onStatusCodes',
    ...Object.keys(routingStrategyProperties),
    ...Object.keys(targetProperties),
  ]),
];
