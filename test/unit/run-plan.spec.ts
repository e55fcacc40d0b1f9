import { describe, expect, it } from 'vitest';
import type { ConfigNode, TargetNode } from '../../lib/config/config-tree.js';
import { checkConfig } from '../../lib/config/normalize.js';
import {
  type Availability,
  type Outcome,
  type PlanDriver,
  runPlan,
} from '../../lib/routing/run-plan.js';
import { sequenceRandom } from '../helpers/random.js';

type Answer = { target: string; status: number };

/** A driver whose targets answer from a script, keyed by override model name. */
function fakeDriver(
  script: Record<string, (number | 'down')[]>,
  options: { ejected?: Record<string, number>; random?: () => number } = {},
) {
  const calls: string[] = [];
  const discarded: string[] = [];
  const sleeps: number[] = [];
  const nameOf = (target: TargetNode) => String(target.overrideParams?.model);
  const driver: PlanDriver<Answer> = {
    async attempt(target) {
      const name = nameOf(target);
      calls.push(name);
      const next = script[name]?.shift() ?? 200;
      if (next === 'down') return { kind: 'failure', timedOut: false, target, detail: 'down' };
      return {
        kind: 'response',
        status: next,
        retryAfterMs: undefined,
        response: { target: name, status: next },
      };
    },
    discard(outcome) {
      if (outcome.kind === 'response') discarded.push(outcome.response.target);
    },
    availability(target): Availability {
      const until = options.ejected?.[nameOf(target)];
      return until === undefined
        ? { available: true, retryAt: 0, rateLimited: false }
        : { available: false, retryAt: until, rateLimited: false };
    },
    stopped: () => false,
    retryDelay: (_outcome, _policy, retry) => 100 * 2 ** retry,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    now: () => 0,
    random: options.random ?? (() => 0),
  };
  return { driver, calls, discarded, sleeps };
}

function tree(config: unknown): ConfigNode {
  const check = checkConfig(config);
  if (!check.valid) throw new Error(JSON.stringify(check.problems));
  return check.tree.root;
}

const target = (model: string, extra: Record<string, unknown> = {}) => ({
  provider: 'openai',
  override_params: { model },
  ...extra,
});

function answered(outcome: Outcome<Answer>) {
  return outcome.kind === 'response'
    ? `${outcome.response.target}:${outcome.status}`
    : outcome.kind;
}

describe('fallback', () => {
  it('tries targets in order until one succeeds, discarding the failures', async () => {
    const { driver, calls, discarded } = fakeDriver({ a: [500], b: ['down'], c: [200] });
    const outcome = await runPlan(
      tree({ strategy: { mode: 'fallback' }, targets: [target('a'), target('b'), target('c')] }),
      driver,
    );
    expect(answered(outcome)).toBe('c:200');
    expect(calls).toEqual(['a', 'b', 'c']);
    expect(discarded).toEqual(['a']);
  });

  it('treats only on_status_codes as failures when given', async () => {
    const { driver, calls } = fakeDriver({ a: [400] });
    const config = {
      strategy: { mode: 'fallback', on_status_codes: [429, 503] },
      targets: [target('a'), target('b')],
    };
    expect(answered(await runPlan(tree(config), driver))).toBe('a:400');
    expect(calls).toEqual(['a']);
  });

  it("answers with the last target's answer when every target fails", async () => {
    const { driver, discarded } = fakeDriver({ a: [500], b: [529] });
    const outcome = await runPlan(
      tree({ strategy: { mode: 'fallback' }, targets: [target('a'), target('b')] }),
      driver,
    );
    expect(answered(outcome)).toBe('b:529');
    expect(discarded).toEqual(['a']);
  });

  it('keeps a real answer over a later ejected target', async () => {
    const { driver } = fakeDriver({ a: [500] }, { ejected: { b: 5000 } });
    const outcome = await runPlan(
      tree({ strategy: { mode: 'fallback' }, targets: [target('a'), target('b')] }),
      driver,
    );
    expect(answered(outcome)).toBe('a:500');
  });

  it('skips ejected targets', async () => {
    const { driver, calls } = fakeDriver({}, { ejected: { a: 5000 } });
    const outcome = await runPlan(
      tree({ strategy: { mode: 'fallback' }, targets: [target('a'), target('b')] }),
      driver,
    );
    expect(answered(outcome)).toBe('b:200');
    expect(calls).toEqual(['b']);
  });
});

describe('loadbalance', () => {
  it('keeps a failed pick without on_status_codes, as Portkey does', async () => {
    const { driver, calls } = fakeDriver({ a: [500] });
    const outcome = await runPlan(
      tree({ strategy: { mode: 'loadbalance' }, targets: [target('a'), target('b')] }),
      driver,
    );
    expect(answered(outcome)).toBe('a:500');
    expect(calls).toEqual(['a']);
  });

  it('re-picks by weight among the remaining targets with on_status_codes', async () => {
    // random 0 picks the first candidate each time: a, then b (a removed).
    const { driver, calls } = fakeDriver({ a: [503], b: [503] });
    const config = {
      strategy: { mode: 'loadbalance', on_status_codes: [503] },
      targets: [target('a'), target('b'), target('c')],
    };
    expect(answered(await runPlan(tree(config), driver))).toBe('c:200');
    expect(calls).toEqual(['a', 'b', 'c']);
  });

  it('renormalises weights over available targets', async () => {
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [target('a', { weight: 5 }), target('b', { weight: 1 }), target('c', { weight: 1 })],
    };
    // With a ejected, 0.6 of the remaining total (2) is 1.2 -> c; without ejection it would be a.
    const { driver, calls } = fakeDriver({}, { ejected: { a: 5000 }, random: sequenceRandom(0.6) });
    await runPlan(tree(config), driver);
    expect(calls).toEqual(['c']);
  });

  it('is unavailable until the earliest ejected target returns when all are ejected', async () => {
    const { driver, calls } = fakeDriver({}, { ejected: { a: 9000, b: 7000 } });
    const outcome = await runPlan(
      tree({ strategy: { mode: 'loadbalance' }, targets: [target('a'), target('b')] }),
      driver,
    );
    expect(outcome).toEqual({ kind: 'unavailable', retryAt: 7000, rateLimited: false });
    expect(calls).toEqual([]);
  });
});

describe('retries', () => {
  it('retries retryable statuses up to attempts, waiting longer each time', async () => {
    const { driver, calls, sleeps, discarded } = fakeDriver({ a: [503, 'down', 200] });
    const outcome = await runPlan(tree(target('a', { retry: { attempts: 3 } })), driver);
    expect(answered(outcome)).toBe('a:200');
    expect(calls).toEqual(['a', 'a', 'a']);
    expect(sleeps).toEqual([100, 200]);
    expect(discarded).toEqual(['a']);
  });

  it('stops after attempts and answers the last failure', async () => {
    const { driver, calls } = fakeDriver({ a: [500, 500, 500] });
    expect(answered(await runPlan(tree(target('a', { retry: { attempts: 2 } })), driver))).toBe(
      'a:500',
    );
    expect(calls).toHaveLength(3);
  });

  it('does not retry statuses outside on_status_codes', async () => {
    const { driver, calls } = fakeDriver({ a: [400, 200] });
    expect(answered(await runPlan(tree(target('a', { retry: { attempts: 2 } })), driver))).toBe(
      'a:400',
    );
    const custom = fakeDriver({ a: [500, 200] });
    expect(
      answered(
        await runPlan(
          tree(target('a', { retry: { attempts: 2, on_status_codes: [429] } })),
          custom.driver,
        ),
      ),
    ).toBe('a:500');
    expect(calls).toHaveLength(1);
  });

  it('retries inside a fallback before moving on', async () => {
    const { driver, calls } = fakeDriver({ a: [500, 500] });
    const config = {
      strategy: { mode: 'fallback' },
      retry: { attempts: 1 },
      targets: [target('a'), target('b')],
    };
    expect(answered(await runPlan(tree(config), driver))).toBe('b:200');
    expect(calls).toEqual(['a', 'a', 'b']);
  });
});

describe('nested strategies', () => {
  it('runs a loadbalance of fallbacks', async () => {
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { strategy: { mode: 'fallback' }, targets: [target('a1'), target('a2')] },
        { strategy: { mode: 'fallback' }, targets: [target('b1'), target('b2')] },
      ],
    };
    const { driver, calls } = fakeDriver({ b1: ['down'] }, { random: sequenceRandom(0.9) });
    expect(answered(await runPlan(tree(config), driver))).toBe('b2:200');
    expect(calls).toEqual(['b1', 'b2']);
  });

  it('runs a fallback of loadbalances', async () => {
    const config = {
      strategy: { mode: 'fallback' },
      targets: [
        { strategy: { mode: 'loadbalance' }, targets: [target('a1'), target('a2')] },
        { strategy: { mode: 'loadbalance' }, targets: [target('b1'), target('b2')] },
      ],
    };
    const { driver, calls } = fakeDriver({ a1: [502] });
    expect(answered(await runPlan(tree(config), driver))).toBe('b1:200');
    expect(calls).toEqual(['a1', 'b1']);
  });

  it('skips a subtree whose targets are all ejected', async () => {
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        { strategy: { mode: 'fallback' }, weight: 100, targets: [target('a1'), target('a2')] },
        target('b'),
      ],
    };
    const { driver, calls } = fakeDriver({}, { ejected: { a1: 10, a2: 10 } });
    await runPlan(tree(config), driver);
    expect(calls).toEqual(['b']);
  });
});

describe('routing hooks', () => {
  const named = (name: string, extra: Record<string, unknown> = {}) =>
    target(name, { name, ...extra });

  it('runs the target a conditional rule names, or the default, and says which', async () => {
    const root = tree({
      strategy: {
        mode: 'conditional',
        conditions: [{ query: { 'metadata.tier': 'pro' }, then: 'big' }],
        default: 'small',
      },
      targets: [named('big'), named('small')],
    });
    for (const [metadata, expected, rule] of [
      [{ tier: 'pro' }, 'big', 'condition'],
      [{ tier: 'free' }, 'small', 'default'],
    ] as const) {
      const { driver, calls } = fakeDriver({});
      const reasons: unknown[] = [];
      driver.conditionFacts = () => ({ metadata });
      driver.onSelect = (_node, _remaining, _available, _picked, reason) => reasons.push(reason);
      expect(answered(await runPlan(root, driver))).toBe(`${expected}:200`);
      expect(calls).toEqual([expected]);
      expect(reasons).toEqual([rule === 'condition' ? { rule, condition: 0 } : { rule }]);
    }
  });

  it('refuses with ERR_NO_MATCHING_CONDITION when nothing matches and there is no default', async () => {
    const root = tree({
      strategy: { mode: 'conditional', conditions: [{ query: { 'metadata.a': 'b' }, then: 'x' }] },
      targets: [named('x')],
    });
    const { driver, calls } = fakeDriver({});
    await expect(runPlan(root, driver)).rejects.toMatchObject({
      code: 'ERR_NO_MATCHING_CONDITION',
    });
    expect(calls).toEqual([]);
  });

  it("takes the driver's choice, and its weights for a weighted pick", async () => {
    const root = tree({ strategy: { mode: 'loadbalance' }, targets: [named('a'), named('b')] });
    const chosen = fakeDriver({});
    chosen.driver.choose = (_node, candidates, first) => ({
      index: candidates.length - 1,
      reason: { rule: first ? 'sticky-hit' : 'least-busy' },
    });
    expect(answered(await runPlan(root, chosen.driver))).toBe('b:200');

    // random 0 would pick a; slow start leaves a at 0 weight here, so b is picked.
    const slowed = fakeDriver({}, { random: () => 0 });
    const reasons: unknown[] = [];
    slowed.driver.weightOf = (node) => (node.name === 'a' ? 0 : node.weight);
    slowed.driver.onSelect = (_n, _r, _a, _p, reason) => reasons.push(reason);
    expect(answered(await runPlan(root, slowed.driver))).toBe('b:200');
    expect(reasons).toEqual([{ rule: 'weighted', slowStart: ['config.targets[0]'] }]);
  });

  it('answers over-budget when every target is out for its budget', async () => {
    const root = tree({ strategy: { mode: 'loadbalance' }, targets: [named('a'), named('b')] });
    const { driver } = fakeDriver({});
    driver.availability = () => ({
      available: false,
      retryAt: 500,
      rateLimited: false,
      overBudget: true,
    });
    expect(await runPlan(root, driver)).toEqual({
      kind: 'unavailable',
      retryAt: 500,
      rateLimited: false,
      overBudget: true,
    });
  });
});
