import { conditionLimits } from '../routing/conditions.js';
import { stickyFieldPattern } from '../routing/rendezvous.js';

/**
 * JSON Schema fragments for the routing rules of issue 13 (sticky sessions, conditional
 * routing, load-aware algorithms, usage budgets), joined into `configSchema`'s Format 2 nodes:
 * `routingStrategyProperties` joins a strategy's `properties`,
 * `routingTargetProperties` a target's, and `routingStrategyRules` the strategy's `allOf`.
 *
 * The schema checks shapes and bounds; what needs the whole config (a `then` naming a target,
 * operators at any depth inside `query`) is checked by `conditionProblems()`, which names the
 * same paths.
 */

/** A target's `name`, which `then` and `default` refer to. */
export const targetNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
} as const;

/**
 * `strategy.sticky` (Portkey 2.x): the fields a session is keyed by, and how long (seconds) a
 * session that moved off an unavailable target stays where it moved. `enabled: false` turns
 * it off without deleting it. `ttl` defaults to 3600, as in Portkey's examples.
 */
export const stickySchema = {
  type: 'object',
  required: ['hash_fields'],
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    hash_fields: {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      uniqueItems: true,
      items: { type: 'string', pattern: stickyFieldPattern },
    },
    ttl: { type: 'integer', minimum: 1, maximum: 604_800 },
  },
} as const;

/**
 * `strategy.conditions`: `{ query, then }` rules tried in order. `query` is only required to
 * be an object here; its operators are checked by `conditionProblems()`, which recurses with
 * a depth bound the schema could only express by unrolling.
 */
export const conditionsSchema = {
  type: 'array',
  minItems: 1,
  maxItems: conditionLimits.maxConditions,
  items: {
    type: 'object',
    required: ['query', 'then'],
    additionalProperties: false,
    properties: {
      query: { type: 'object', maxProperties: 32 },
      // biome-ignore lint/suspicious/noThenProperty: Portkey's field name, not a promise.
      then: targetNameSchema,
    },
  },
} as const;

/** `strategy.algorithm` of a loadbalance node; `weighted` (the default) is today's pick. */
export const algorithmSchema = {
  type: 'string',
  enum: ['weighted', 'least-busy', 'least-latency'],
} as const;

/** A per-window budget: `rpm` requests or `tpm` tokens per minute (LiteLLM's names). */
export const usageLimitSchema = { type: 'integer', minimum: 0, maximum: 1_000_000_000 } as const;

/** Strategy modes once conditional routing is in. */
export const routingModeSchema = {
  type: 'string',
  enum: ['single', 'loadbalance', 'fallback', 'conditional'],
} as const;

/** Fields these rules add to a strategy. */
export const routingStrategyProperties = {
  sticky: stickySchema,
  conditions: conditionsSchema,
  default: targetNameSchema,
  algorithm: algorithmSchema,
} as const;

/** Fields these rules add to a target (and, for `rpm`/`tpm`, to a virtual key). */
export const routingTargetProperties = {
  name: targetNameSchema,
  rpm: usageLimitSchema,
  tpm: usageLimitSchema,
} as const;

const modeIs = (mode: string) => ({ properties: { mode: { const: mode } } }) as const;

/**
 * Which fields go with which mode, to add to the strategy schema: `conditional` needs
 * `conditions` (`routingStrategyRules`, for its `allOf`); `conditions` and `default` need
 * `conditional`, `sticky` and `algorithm` need `loadbalance` (`routingStrategyDependencies`, for
 * its `dependencies`: the error then points at `mode`).
 */
export const routingStrategyRules = [
  {
    if: { type: 'object', required: ['mode'], ...modeIs('conditional') },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword.
    then: { required: ['conditions'], properties: { conditions: true } },
  },
] as const;

export const routingStrategyDependencies = {
  conditions: modeIs('conditional'),
  default: modeIs('conditional'),
  sticky: modeIs('loadbalance'),
  algorithm: modeIs('loadbalance'),
} as const;
