import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  routingModeSchema,
  routingStrategyDependencies,
  routingStrategyProperties,
  routingStrategyRules,
  routingTargetProperties,
} from '../../lib/config/routing-schema.js';

/** A strategy and a target as they will be once the fragments are plugged into the schema. */
const strategySchema = {
  type: 'object',
  required: ['mode'],
  additionalProperties: false,
  properties: { mode: routingModeSchema, ...routingStrategyProperties },
  allOf: routingStrategyRules,
  dependencies: routingStrategyDependencies,
};
const targetSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { provider: { type: 'string' }, ...routingTargetProperties },
};

// A fresh strict Ajv whose warnings (strict types, ignored keywords) fail the test.
const warnings: unknown[] = [];
const ajv = new Ajv({
  strict: true,
  allErrors: true,
  logger: { log: () => {}, warn: (...args: unknown[]) => warnings.push(args), error: () => {} },
});
const validateStrategy = ajv.compile(strategySchema);
const validateTarget = ajv.compile(targetSchema);

function strategyErrors(strategy: unknown): string[] {
  if (validateStrategy(strategy)) return [];
  return (validateStrategy.errors ?? []).map((error) => `${error.instancePath} ${error.keyword}`);
}

describe('routing schema fragments', () => {
  it('compile under strict Ajv without warnings', () => {
    expect(warnings).toEqual([]);
  });

  it('accept the Portkey shapes of each rule', () => {
    expect(
      strategyErrors({
        mode: 'loadbalance',
        algorithm: 'least-busy',
        sticky: {
          enabled: true,
          hash_fields: ['metadata.session_id', 'params.user', 'headers.x-session'],
          ttl: 3600,
        },
      }),
    ).toEqual([]);
    expect(
      strategyErrors({
        mode: 'conditional',
        conditions: [{ query: { 'metadata.tier': { $eq: 'paid' } }, then: 'smart' }],
        default: 'cheap',
      }),
    ).toEqual([]);
    expect(validateTarget({ provider: 'openai', name: 'smart', rpm: 5, tpm: 100_000 })).toBe(true);
  });

  it('refuse bad values with their paths', () => {
    expect(strategyErrors({ mode: 'loadbalance', algorithm: 'round-robin' })).toContain(
      '/algorithm enum',
    );
    expect(
      strategyErrors({ mode: 'loadbalance', sticky: { hash_fields: ['cookie.sid'] } }),
    ).toContain('/sticky/hash_fields/0 pattern');
    expect(strategyErrors({ mode: 'loadbalance', sticky: { hash_fields: [] } })).toContain(
      '/sticky/hash_fields minItems',
    );
    expect(
      strategyErrors({ mode: 'loadbalance', sticky: { hash_fields: ['params.user'], ttl: 0 } }),
    ).toContain('/sticky/ttl minimum');
    expect(strategyErrors({ mode: 'conditional', conditions: [{ query: {} }] })).toContain(
      '/conditions/0 required',
    );
    expect(validateTarget({ rpm: -1 })).toBe(false);
    expect(validateTarget({ tpm: 1.5 })).toBe(false);
    expect(validateTarget({ name: '' })).toBe(false);
  });

  it('tie fields to their mode', () => {
    expect(strategyErrors({ mode: 'conditional' })).toContain(' required');
    expect(strategyErrors({ mode: 'fallback', default: 'x' })).toContain('/mode const');
    expect(
      strategyErrors({ mode: 'fallback', sticky: { hash_fields: ['params.user'] } }),
    ).toContain('/mode const');
    expect(
      strategyErrors({
        mode: 'conditional',
        conditions: [{ query: {}, then: 'a' }],
        algorithm: 'weighted',
      }),
    ).toContain('/mode const');
  });
});
