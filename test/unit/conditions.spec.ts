import { RE2JS } from 're2js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoadBalancerError } from '../../lib/errors.js';
import {
  type ConditionalStrategy,
  type ConditionFacts,
  compileConditions,
  conditionLimits,
  conditionProblems,
  evaluate,
} from '../../lib/routing/conditions.js';

const targets = ['fast', 'smart', 'cheap'];

/** The target one query picks from the facts: `smart` when it holds, `cheap` otherwise. */
function pick(query: unknown, facts: ConditionFacts): string | undefined {
  const compiled = compileConditions(
    { conditions: [{ query, then: 'smart' }], default: 'cheap' },
    targets,
  );
  return evaluate(compiled, facts).target;
}

const holds = (query: unknown, facts: ConditionFacts) => pick(query, facts) === 'smart';
const meta = (metadata: Record<string, string>): ConditionFacts => ({ metadata });
const params = (values: Record<string, unknown>): ConditionFacts => ({ params: values });

function paramsOf(strategy: ConditionalStrategy): string[] {
  return conditionProblems(strategy, targets).map((problem) => problem.param);
}

describe('conditional routing: operators', () => {
  it('a plain value and $eq compare strictly', () => {
    expect(holds({ 'metadata.tier': 'paid' }, meta({ tier: 'paid' }))).toBe(true);
    expect(holds({ 'metadata.tier': 'paid' }, meta({ tier: 'free' }))).toBe(false);
    expect(holds({ 'metadata.tier': { $eq: 'paid' } }, meta({ tier: 'paid' }))).toBe(true);
    // Metadata values are strings: "3" is not 3, as in Portkey.
    expect(holds({ 'metadata.level': { $eq: 3 } }, meta({ level: '3' }))).toBe(false);
    expect(holds({ 'params.stream': true }, params({ stream: true }))).toBe(true);
  });

  it('$ne holds for another value and for a missing field', () => {
    expect(holds({ 'metadata.env': { $ne: 'prod' } }, meta({ env: 'dev' }))).toBe(true);
    expect(holds({ 'metadata.env': { $ne: 'prod' } }, meta({ env: 'prod' }))).toBe(false);
    expect(holds({ 'metadata.env': { $ne: 'prod' } }, {})).toBe(true);
  });

  it('$gt $gte $lt $lte compare numbers and numeric strings', () => {
    const temperature = (value: unknown) => params({ temperature: value });
    expect(holds({ 'params.temperature': { $gt: 0.7 } }, temperature(0.8))).toBe(true);
    expect(holds({ 'params.temperature': { $gt: 0.7 } }, temperature(0.7))).toBe(false);
    expect(holds({ 'params.temperature': { $gte: 0.7 } }, temperature(0.7))).toBe(true);
    expect(holds({ 'params.temperature': { $lt: 0.7 } }, temperature(0.2))).toBe(true);
    expect(holds({ 'params.temperature': { $lt: 0.7 } }, temperature(0.7))).toBe(false);
    expect(holds({ 'params.temperature': { $lte: 0.7 } }, temperature(0.7))).toBe(true);
    expect(holds({ 'metadata.level': { $gte: '3' } }, meta({ level: '10' }))).toBe(true);
    // Not a number: never compares (Portkey's parseFloat would read "3x" as 3).
    expect(holds({ 'metadata.level': { $gt: 1 } }, meta({ level: '3x' }))).toBe(false);
    expect(holds({ 'metadata.level': { $lt: 1 } }, meta({ level: '' }))).toBe(false);
    expect(holds({ 'params.temperature': { $lt: 1 } }, {})).toBe(false);
  });

  it('several operators on one field must all hold (a range)', () => {
    const range = { 'params.max_tokens': { $gte: 100, $lt: 1000 } };
    expect(holds(range, params({ max_tokens: 100 }))).toBe(true);
    expect(holds(range, params({ max_tokens: 1000 }))).toBe(false);
    expect(holds(range, params({ max_tokens: 99 }))).toBe(false);
  });

  it('$in and $nin test membership; a missing field is in no list', () => {
    const tiers = ['paid', 'enterprise'];
    expect(holds({ 'metadata.tier': { $in: tiers } }, meta({ tier: 'paid' }))).toBe(true);
    expect(holds({ 'metadata.tier': { $in: tiers } }, meta({ tier: 'free' }))).toBe(false);
    expect(holds({ 'metadata.tier': { $in: tiers } }, {})).toBe(false);
    expect(holds({ 'metadata.tier': { $nin: tiers } }, meta({ tier: 'free' }))).toBe(true);
    expect(holds({ 'metadata.tier': { $nin: tiers } }, meta({ tier: 'paid' }))).toBe(false);
    expect(holds({ 'metadata.tier': { $nin: tiers } }, {})).toBe(true);
  });

  it('$regex searches strings (and numbers by their text) with RE2, inline flags allowed', () => {
    expect(holds({ 'params.model': { $regex: '^gpt-4' } }, params({ model: 'gpt-4o' }))).toBe(true);
    expect(holds({ 'params.model': { $regex: '^gpt-4' } }, params({ model: 'o1' }))).toBe(false);
    expect(holds({ 'params.model': { $regex: 'mini' } }, params({ model: 'gpt-4o-mini' }))).toBe(
      true,
    );
    expect(holds({ 'params.model': { $regex: '(?i)^GPT' } }, params({ model: 'gpt-4o' }))).toBe(
      true,
    );
    expect(holds({ 'params.n': { $regex: '^2$' } }, params({ n: 2 }))).toBe(true);
    expect(holds({ 'params.model': { $regex: '.*' } }, params({ model: { a: 1 } }))).toBe(false);
    expect(holds({ 'params.model': { $regex: '.*' } }, {})).toBe(false);
  });

  it('$regex does not run on values past the subject cap', () => {
    const long = 'a'.repeat(conditionLimits.maxSubjectLength + 1);
    expect(holds({ 'params.prompt': { $regex: 'a' } }, params({ prompt: long }))).toBe(false);
  });

  it('url.pathname and nested params paths', () => {
    expect(
      holds(
        { 'url.pathname': { $regex: '/embeddings$' } },
        { url: { pathname: '/v1/embeddings' } },
      ),
    ).toBe(true);
    const format = { 'params.response_format.type': 'json_schema' };
    expect(holds(format, params({ response_format: { type: 'json_schema' } }))).toBe(true);
    expect(holds(format, params({ response_format: 'json_schema' }))).toBe(false);
  });

  it('reads own properties only: params.constructor is not Object', () => {
    expect(holds({ 'params.constructor': { $ne: null } }, params({}))).toBe(true);
    expect(holds({ 'params.constructor.name': 'Object' }, params({}))).toBe(false);
    expect(holds({ 'metadata.toString': { $regex: '.' } }, meta({}))).toBe(false);
  });
});

describe('conditional routing: $catastrophic regex', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('runs ^(a+)+$ on RE2 (linear time): no backtracking, and no match', () => {
    const compile = vi.spyOn(RE2JS, 'compile');
    const test = vi.spyOn(RE2JS.prototype, 'test');
    const compiled = compileConditions(
      { conditions: [{ query: { 'params.user': { $regex: '^(a+)+$' } }, then: 'smart' }] },
      targets,
    );
    // Compiled once, with the config; a backtracking engine would take ~2^50 steps below.
    expect(compile).toHaveBeenCalledTimes(1);
    const evil = `${'a'.repeat(50)}!`;
    expect(evaluate(compiled, params({ user: evil }))).toEqual({
      target: undefined,
      rule: undefined,
    });
    expect(evaluate(compiled, params({ user: evil }))).toEqual({
      target: undefined,
      rule: undefined,
    });
    expect(test).toHaveBeenCalledTimes(2);
    expect(test).toHaveBeenCalledWith(evil);
    expect(compile).toHaveBeenCalledTimes(1);
    expect(evaluate(compiled, params({ user: 'aaaa' })).target).toBe('smart');
  });

  it('refuses what RE2 cannot run in linear time (backreferences, lookaheads) with its path', () => {
    const problems = conditionProblems(
      {
        conditions: [
          { query: { 'params.user': { $regex: '(a)\\1' } }, then: 'smart' },
          { query: { 'params.user': { $regex: '(?=a)' } }, then: 'smart' },
        ],
      },
      targets,
    );
    expect(problems.map((problem) => problem.param)).toEqual([
      'config.strategy.conditions[0].query["params.user"].$regex',
      'config.strategy.conditions[1].query["params.user"].$regex',
    ]);
    expect(problems[0]?.message).toMatch(/RE2/);
  });

  it('refuses a pattern longer than the cap', () => {
    const pattern = 'a'.repeat(conditionLimits.maxPatternLength + 1);
    expect(
      paramsOf({ conditions: [{ query: { 'params.user': { $regex: pattern } }, then: 'fast' }] }),
    ).toEqual(['config.strategy.conditions[0].query["params.user"].$regex']);
  });
});

describe('conditional routing: rules, nesting and default', () => {
  const strategy = {
    conditions: [
      {
        query: {
          $and: [
            { 'metadata.tier': 'paid' },
            { $or: [{ 'metadata.region': 'eu' }, { 'params.model': 'gpt-4o' }] },
          ],
        },
        then: 'smart',
      },
      { query: { $or: [{ 'metadata.tier': 'free' }, { 'metadata.trial': 'yes' }] }, then: 'cheap' },
    ],
    default: 'fast',
  };
  const compiled = compileConditions(strategy, targets);

  it('$and needs every part, $or any; nesting combines them', () => {
    expect(evaluate(compiled, meta({ tier: 'paid', region: 'eu' }))).toEqual({
      target: 'smart',
      rule: 0,
    });
    expect(evaluate(compiled, { metadata: { tier: 'paid' }, params: { model: 'gpt-4o' } })).toEqual(
      {
        target: 'smart',
        rule: 0,
      },
    );
    expect(evaluate(compiled, meta({ tier: 'paid', region: 'us' })).rule).toBe('default');
    expect(evaluate(compiled, meta({ tier: 'free' }))).toEqual({ target: 'cheap', rule: 1 });
    expect(evaluate(compiled, meta({ trial: 'yes' }))).toEqual({ target: 'cheap', rule: 1 });
  });

  it('the first matching rule wins, in order', () => {
    const both = compileConditions(
      {
        conditions: [
          { query: { 'metadata.tier': 'paid' }, then: 'smart' },
          { query: { 'metadata.tier': { $in: ['paid'] } }, then: 'cheap' },
        ],
      },
      targets,
    );
    expect(evaluate(both, meta({ tier: 'paid' }))).toEqual({ target: 'smart', rule: 0 });
  });

  it('falls back to default, or to no target without one', () => {
    expect(evaluate(compiled, {})).toEqual({ target: 'fast', rule: 'default' });
    const noDefault = compileConditions({ conditions: strategy.conditions }, targets);
    expect(evaluate(noDefault, {})).toEqual({ target: undefined, rule: undefined });
  });

  it('every key of a query must hold, $or beside a field included (Portkey stops at $or)', () => {
    const query = { $or: [{ 'metadata.a': '1' }, { 'metadata.b': '1' }], 'metadata.tier': 'paid' };
    expect(holds(query, meta({ a: '1', tier: 'paid' }))).toBe(true);
    expect(holds(query, meta({ a: '1', tier: 'free' }))).toBe(false);
  });

  it('an empty query matches every request (a catch-all rule)', () => {
    expect(holds({}, {})).toBe(true);
  });
});

describe('conditional routing: invalid strategies name the path', () => {
  it('a then or default naming no target', () => {
    const problems = conditionProblems(
      {
        conditions: [
          { query: { 'metadata.tier': 'paid' }, then: 'smart' },
          { query: { 'metadata.tier': 'free' }, then: 'cheep' },
        ],
        default: 'nope',
      },
      targets,
    );
    expect(problems.map((problem) => problem.param)).toEqual([
      'config.strategy.conditions[1].then',
      'config.strategy.default',
    ]);
    expect(problems[0]?.message).toContain('"cheep"');
    expect(problems[0]?.message).toContain('did you mean "cheap"?');
  });

  it('uses the given root path', () => {
    const problems = conditionProblems(
      { conditions: [{ query: {}, then: 'x' }] },
      targets,
      'config.targets[2].strategy',
    );
    expect(problems.map((problem) => problem.param)).toEqual([
      'config.targets[2].strategy.conditions[0].then',
    ]);
  });

  it('unknown operators, at any depth', () => {
    expect(
      paramsOf({
        conditions: [
          { query: { 'metadata.tier': { $like: 'p%' } }, then: 'fast' },
          { query: { $not: [{ 'metadata.tier': 'x' }] }, then: 'fast' },
          { query: { $or: [{ $and: [{ 'params.n': { $exists: true } }] }] }, then: 'fast' },
        ],
      }),
    ).toEqual([
      'config.strategy.conditions[0].query["metadata.tier"].$like',
      'config.strategy.conditions[1].query.$not',
      'config.strategy.conditions[2].query.$or[0].$and[0]["params.n"].$exists',
    ]);
  });

  it('suggests the operator meant', () => {
    const problems = conditionProblems(
      {
        conditions: [
          { query: { $andd: [{ 'metadata.a': '1' }] }, then: 'fast' },
          { query: { 'metadata.a': { $regx: 'x' } }, then: 'fast' },
        ],
      },
      targets,
    );
    expect(problems[0]?.message).toContain('did you mean "$and"?');
    expect(problems[1]?.message).toContain('did you mean "$regex"?');
  });

  it('operands of the wrong type', () => {
    expect(
      paramsOf({
        conditions: [
          { query: { 'params.t': { $gt: 'high' } }, then: 'fast' },
          { query: { 'params.t': { $in: 'paid' } }, then: 'fast' },
          { query: { 'params.t': { $nin: [{ a: 1 }] } }, then: 'fast' },
          { query: { 'params.t': { $regex: 5 } }, then: 'fast' },
          { query: { 'params.t': { $eq: [1] } }, then: 'fast' },
          { query: { 'params.t': [1, 2] }, then: 'fast' },
          { query: { 'params.t': {} }, then: 'fast' },
          { query: { $and: [] }, then: 'fast' },
          { query: { $or: {} }, then: 'fast' },
          { query: 'metadata.tier', then: 'fast' },
          { query: {}, then: 3 },
        ],
      }),
    ).toEqual([
      'config.strategy.conditions[0].query["params.t"].$gt',
      'config.strategy.conditions[1].query["params.t"].$in',
      'config.strategy.conditions[2].query["params.t"].$nin',
      'config.strategy.conditions[3].query["params.t"].$regex',
      'config.strategy.conditions[4].query["params.t"].$eq',
      'config.strategy.conditions[5].query["params.t"]',
      'config.strategy.conditions[6].query["params.t"]',
      'config.strategy.conditions[7].query.$and',
      'config.strategy.conditions[8].query.$or',
      'config.strategy.conditions[9].query',
      'config.strategy.conditions[10].then',
    ]);
  });

  it('query keys other than metadata.*, params.* and url.pathname', () => {
    expect(
      paramsOf({
        conditions: [
          { query: { 'headers.x-user': 'a' }, then: 'fast' },
          { query: { metadata: 'a' }, then: 'fast' },
          { query: { 'metadata.': 'a' }, then: 'fast' },
          { query: { 'params..model': 'a' }, then: 'fast' },
          { query: { 'url.host': 'a' }, then: 'fast' },
        ],
      }),
    ).toEqual([
      'config.strategy.conditions[0].query["headers.x-user"]',
      'config.strategy.conditions[1].query.metadata',
      'config.strategy.conditions[2].query["metadata."]',
      'config.strategy.conditions[3].query["params..model"]',
      'config.strategy.conditions[4].query["url.host"]',
    ]);
  });

  it('shape: conditions must be a bounded array of { query, then }', () => {
    expect(paramsOf({})).toEqual(['config.strategy.conditions']);
    expect(paramsOf({ conditions: [null] })).toEqual(['config.strategy.conditions[0]']);
    expect(paramsOf({ conditions: [{ query: {}, then: 'fast', else: 'x' }] })).toEqual([
      'config.strategy.conditions[0].else',
    ]);
    const many = Array.from({ length: conditionLimits.maxConditions + 1 }, () => ({
      query: {},
      then: 'fast',
    }));
    expect(paramsOf({ conditions: many })).toEqual(['config.strategy.conditions']);
  });

  it('bounds the nesting of $and/$or', () => {
    let query: unknown = { 'metadata.a': '1' };
    for (let level = 0; level <= conditionLimits.maxDepth; level++) query = { $and: [query] };
    const [problem] = conditionProblems({ conditions: [{ query, then: 'fast' }] }, targets);
    expect(problem?.message).toMatch(/deeper than/);
  });

  it('compileConditions throws a 400 LoadBalancerError naming the first path', () => {
    let thrown: unknown;
    try {
      compileConditions({ conditions: [{ query: {}, then: 'gone' }] }, targets);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LoadBalancerError);
    expect(thrown).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      status: 400,
      param: 'config.strategy.conditions[0].then',
    });
  });
});
