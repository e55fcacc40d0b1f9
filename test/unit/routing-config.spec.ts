import { describe, expect, it } from 'vitest';
import type { StrategyNode } from '../../lib/config/config-tree.js';
import { checkConfig } from '../../lib/config/normalize.js';
import { validateConfig } from '../../lib/index.js';

const target = (name: string, extra: object = {}) => ({
  name,
  provider: 'openai',
  api_key: `sk-${name}`,
  ...extra,
});

function tree(config: unknown) {
  const check = checkConfig(config);
  if (!check.valid) throw new Error(JSON.stringify(check.problems));
  return check.tree;
}

function firstProblem(config: unknown) {
  const result = validateConfig(config);
  expect(result.valid).toBe(false);
  return result.errors[0];
}

describe('routing fields in a config', () => {
  it('resolves names, budgets, sticky, algorithm and conditions, and says which rules a tree uses', () => {
    const resolved = tree({
      strategy: {
        mode: 'conditional',
        conditions: [{ query: { 'metadata.tier': 'pro' }, then: 'pool' }],
        default: 'cheap',
      },
      targets: [
        {
          name: 'pool',
          strategy: {
            mode: 'loadbalance',
            algorithm: 'least-busy',
            sticky: { hash_fields: ['metadata.session_id'] },
          },
          targets: [target('a', { rpm: 10 }), target('b', { tpm: 1000 })],
        },
        target('cheap'),
      ],
    });
    const root = resolved.root as StrategyNode;
    expect(root.mode).toBe('conditional');
    expect(root.conditions?.fallback).toBe('cheap');
    const pool = root.targets[0] as StrategyNode;
    expect(pool).toMatchObject({
      name: 'pool',
      algorithm: 'least-busy',
      sticky: { hashFields: ['metadata.session_id'], ttlMs: 3_600_000 },
    });
    expect(resolved.targets.map((leaf) => [leaf.name, leaf.budget])).toEqual([
      ['a', { rpm: 10, tpm: undefined }],
      ['b', { rpm: undefined, tpm: 1000 }],
      ['cheap', undefined],
    ]);
    expect(resolved.features).toEqual({
      sticky: true,
      leastBusy: true,
      leastLatency: false,
      budgets: true,
      conditional: true,
    });
  });

  it('uses none of the rules in a plain config, and sticky enabled: false turns it off', () => {
    const plain = tree({ strategy: { mode: 'loadbalance' }, targets: [target('a'), target('b')] });
    expect(Object.values(plain.features).some(Boolean)).toBe(false);
    const off = tree({
      strategy: {
        mode: 'loadbalance',
        sticky: { enabled: false, hash_fields: ['params.user'], ttl: 60 },
      },
      targets: [target('a')],
    });
    expect((off.root as StrategyNode).sticky).toBeUndefined();
    expect(off.features.sticky).toBe(false);
    const ttl = tree({
      strategy: { mode: 'loadbalance', sticky: { hash_fields: ['headers.x-session'], ttl: 60 } },
      targets: [target('a')],
    });
    expect((ttl.root as StrategyNode).sticky?.ttlMs).toBe(60_000);
  });

  it('names the path of each invalid routing field', () => {
    const cases: [unknown, string][] = [
      [
        {
          strategy: { mode: 'fallback', sticky: { hash_fields: ['params.user'] } },
          targets: [target('a')],
        },
        'config.strategy.mode',
      ],
      [
        { strategy: { mode: 'loadbalance', algorithm: 'fastest' }, targets: [target('a')] },
        'config.strategy.algorithm',
      ],
      [
        {
          strategy: { mode: 'loadbalance', sticky: { hash_fields: ['cookie.id'] } },
          targets: [target('a')],
        },
        'config.strategy.sticky.hash_fields[0]',
      ],
      [
        { strategy: { mode: 'loadbalance', sticky: { hash_fields: [] } }, targets: [target('a')] },
        'config.strategy.sticky.hash_fields',
      ],
      [
        { strategy: { mode: 'loadbalance' }, targets: [target('a', { rpm: -1 })] },
        'config.targets[0].rpm',
      ],
      [
        { strategy: { mode: 'loadbalance' }, targets: [target('a', { tpm: 1.5 })] },
        'config.targets[0].tpm',
      ],
      [
        { strategy: { mode: 'loadbalance' }, targets: [target('bad name')] },
        'config.targets[0].name',
      ],
      [
        {
          strategy: { mode: 'loadbalance' },
          targets: [
            {
              strategy: { mode: 'conditional', conditions: [{ query: {}, then: 'x' }] },
              targets: [target('a')],
            },
          ],
        },
        'config.targets[0].strategy.conditions[0].then',
      ],
      [{ mode: 'conditional', options: [target('a')] }, 'config.mode'],
    ];
    for (const [config, param] of cases) {
      expect(firstProblem(config)?.param, param).toBe(param);
    }
  });

  it('a conditional node does not need positive weights (it picks by rule, not by weight)', () => {
    const resolved = tree({
      strategy: { mode: 'conditional', conditions: [{ query: {}, then: 'a' }] },
      targets: [target('a', { weight: 0 })],
    });
    expect(resolved.root.kind).toBe('strategy');
  });
});
