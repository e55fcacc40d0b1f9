import { RE2JS } from 're2js';
import { didYouMean } from '../config/suggest.js';
import type { ConfigProblem } from '../config/validate.js';
import { LoadBalancerError } from '../errors.js';
import { ownValue } from './own-value.js';

/**
 * Portkey's conditional routing (`strategy.mode: "conditional"`): an ordered list of
 * `{ query, then }` rules over the request's metadata, params and URL path, and a `default`.
 * A config is checked and compiled once into closures, so a request only runs comparisons.
 *
 * Semantics follow Portkey's gateway (`src/services/conditionalRouter.ts`), with these decisions
 * where it is loose or buggy:
 * - Every key of a query object must hold (an implicit `$and`); Portkey returns as soon as it
 *   meets `$and`/`$or`, ignoring the keys after it.
 * - Every operator of a field's operator object must hold; Portkey returns at `$regex`.
 * - `$regex` runs on RE2 (re2js, linear time), not on `RegExp`: a pattern in a request config
 *   cannot stall the event loop. RE2 has no lookarounds or backreferences; such a pattern is a
 *   config problem, not a silent non-match. Flags go inline (`(?i)gpt`).
 * - Comparisons (`$gt` ...) take numbers or numeric strings on both sides (metadata values are
 *   strings); a value that is not a number never compares. Portkey's `parseFloat` read "3x" as 3.
 * - `$eq`, plain values, `$in` and `$nin` compare strictly, as Portkey does: `"3"` is not `3`.
 * - A missing field satisfies `$ne` and `$nin` and nothing else, as in Portkey (and MongoDB).
 */

/** What a condition may look at. Metadata values are strings (Portkey's `x-portkey-metadata`). */
export interface ConditionFacts {
  metadata?: Readonly<Record<string, string>> | undefined;
  params?: Readonly<Record<string, unknown>> | undefined;
  url?: { readonly pathname: string } | undefined;
}

/** The conditional part of a strategy, as written in a config. */
export interface ConditionalStrategy {
  conditions?: unknown;
  default?: unknown;
}

/** A conditional strategy checked and turned into closures by {@link compileConditions}. */
export interface CompiledConditions {
  readonly rules: readonly CompiledRule[];
  /** The target when no rule matches; undefined when the config names none. */
  readonly fallback: string | undefined;
}

interface CompiledRule {
  readonly test: Predicate;
  /** The rule's `then`, under another name: an object with `then` looks like a promise. */
  readonly target: string;
}

/** What {@link evaluate} decided, and which rule decided it (for events and the dry run). */
export interface ConditionDecision {
  /** The chosen target's name; undefined when no rule matched and there is no `default`. */
  target: string | undefined;
  /** Index of the matching rule in `conditions`, or `'default'`, or undefined for no match. */
  rule: number | 'default' | undefined;
}

type Predicate = (facts: ConditionFacts) => boolean;
type Scalar = string | number | boolean | null;

/** Bounds that keep compiling and evaluating a request config cheap, whatever it holds. */
export const conditionLimits = {
  /** Rules in one `conditions` list. */
  maxConditions: 64,
  /** Nested `$and` / `$or` levels in one query. */
  maxDepth: 8,
  /** Values in one `$in` / `$nin` list. */
  maxListItems: 256,
  /** Characters of a `$regex` pattern: RE2 compiles in time and memory linear in it. */
  maxPatternLength: 512,
  /**
   * Characters of a value `$regex` is run on. RE2 is linear in it, but a long prompt in
   * `params` would still cost a scan per request; longer values do not match.
   */
  maxSubjectLength: 65_536,
} as const;

const comparisonOperators = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$regex'];
const logicalOperators = ['$and', '$or'];

/**
 * Problems of a conditional strategy: each `then` and the `default` must name a target of
 * `targetNames`, query keys must be `metadata.<name>`, `params.<path>` or `url.pathname`, and
 * operators and their operands must be known and well-typed. `path` is where the strategy sits
 * (`config.strategy`), so a problem names e.g. `config.strategy.conditions[1].then`.
 */
export function conditionProblems(
  strategy: ConditionalStrategy,
  targetNames: readonly string[],
  path = 'config.strategy',
): ConfigProblem[] {
  return compile(strategy, targetNames, path).problems;
}

/**
 * Checks a conditional strategy and compiles it once: regexes are built here, not per request.
 * Throws a `LoadBalancerError` (`ERR_CONFIG_INVALID`, 400) naming the first problem's path.
 */
export function compileConditions(
  strategy: ConditionalStrategy,
  targetNames: readonly string[],
  path = 'config.strategy',
): CompiledConditions {
  const { problems, compiled } = compile(strategy, targetNames, path);
  const first = problems[0];
  if (first !== undefined) {
    throw new LoadBalancerError('ERR_CONFIG_INVALID', first.message, { param: first.param });
  }
  return compiled;
}

/** The target the first matching rule names, else the `default` (Portkey's order). */
export function evaluate(compiled: CompiledConditions, facts: ConditionFacts): ConditionDecision {
  for (let index = 0; index < compiled.rules.length; index++) {
    const rule = compiled.rules[index] as CompiledRule;
    if (rule.test(facts)) return { target: rule.target, rule: index };
  }
  if (compiled.fallback !== undefined) return { target: compiled.fallback, rule: 'default' };
  return { target: undefined, rule: undefined };
}

function compile(
  strategy: ConditionalStrategy,
  targetNames: readonly string[],
  path: string,
): { problems: ConfigProblem[]; compiled: CompiledConditions } {
  const problems: ConfigProblem[] = [];
  const report = (param: string, message: string) => {
    problems.push({ param, message: `${param} ${message}` });
  };
  const names = new Set(targetNames);
  const targetName = (value: unknown, param: string): string | undefined => {
    if (typeof value !== 'string') {
      report(param, 'must be the name of a target (a string).');
      return undefined;
    }
    if (!names.has(value)) {
      const known = targetNames.length === 0 ? 'none' : targetNames.map(quote).join(', ');
      const hint = didYouMean(value, targetNames);
      report(param, `names no target: ${quote(value)}${hint}; targets: ${known}.`);
      return undefined;
    }
    return value;
  };

  const rules: CompiledRule[] = [];
  const conditions = strategy.conditions;
  const conditionsPath = `${path}.conditions`;
  if (!Array.isArray(conditions)) {
    report(conditionsPath, 'must be an array of { "query": {...}, "then": "<target name>" }.');
  } else if (conditions.length > conditionLimits.maxConditions) {
    report(conditionsPath, `must hold at most ${conditionLimits.maxConditions} conditions.`);
  } else {
    conditions.forEach((condition: unknown, index) => {
      const at = `${conditionsPath}[${index}]`;
      if (!isPlainObject(condition)) {
        report(at, 'must be an object { "query": {...}, "then": "<target name>" }.');
        return;
      }
      for (const key of Object.keys(condition)) {
        if (key !== 'query' && key !== 'then') report(`${at}${segment(key)}`, 'is not allowed.');
      }
      const test = compileQuery(condition.query, `${at}.query`, 0, report);
      const then = targetName(condition.then, `${at}.then`);
      if (test !== undefined && then !== undefined) rules.push({ test, target: then });
    });
  }
  const fallback =
    strategy.default === undefined ? undefined : targetName(strategy.default, `${path}.default`);
  return { problems, compiled: { rules, fallback } };
}

type Report = (param: string, message: string) => void;

function compileQuery(
  query: unknown,
  path: string,
  depth: number,
  report: Report,
): Predicate | undefined {
  if (!isPlainObject(query)) {
    report(path, 'must be an object of field conditions, `$and` or `$or`.');
    return undefined;
  }
  const parts: Predicate[] = [];
  let valid = true;
  for (const [key, value] of Object.entries(query)) {
    const at = `${path}${segment(key)}`;
    const part = logicalOperators.includes(key)
      ? compileLogical(key as '$and' | '$or', value, at, depth, report)
      : compileField(key, value, at, report);
    if (part === undefined) valid = false;
    else parts.push(part);
  }
  if (!valid) return undefined;
  // An empty query holds for every request, as in Portkey: a catch-all rule.
  return allOf(parts);
}

function compileLogical(
  operator: '$and' | '$or',
  value: unknown,
  path: string,
  depth: number,
  report: Report,
): Predicate | undefined {
  if (depth >= conditionLimits.maxDepth) {
    report(path, `nests \`$and\`/\`$or\` deeper than ${conditionLimits.maxDepth} levels.`);
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) {
    report(path, 'must be a non-empty array of queries.');
    return undefined;
  }
  if (value.length > conditionLimits.maxConditions) {
    report(path, `must hold at most ${conditionLimits.maxConditions} queries.`);
    return undefined;
  }
  const parts = value.map((query, index) =>
    compileQuery(query, `${path}[${index}]`, depth + 1, report),
  );
  if (!parts.every((part): part is Predicate => part !== undefined)) return undefined;
  return operator === '$and' ? allOf(parts) : anyOf(parts);
}

function compileField(
  key: string,
  value: unknown,
  path: string,
  report: Report,
): Predicate | undefined {
  if (key.startsWith('$')) {
    const hint = didYouMean(key, logicalOperators);
    report(
      path,
      `is not a known operator here${hint}: \`$and\`, \`$or\` or a field ("metadata.tier").`,
    );
    return undefined;
  }
  const read = fieldReader(key);
  if (read === undefined) {
    report(path, 'must be a field `metadata.<name>`, `params.<path>` or `url.pathname`.');
    return undefined;
  }
  if (isScalar(value)) return (facts) => read(facts) === value;
  if (!isPlainObject(value)) {
    report(path, 'must be a string, number, boolean, null or an object of operators.');
    return undefined;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) {
    report(path, 'must name at least one operator.');
    return undefined;
  }
  const tests: ((actual: unknown) => boolean)[] = [];
  for (const [operator, operand] of entries) {
    const test = compileOperator(operator, operand, `${path}${segment(operator)}`, report);
    if (test !== undefined) tests.push(test);
  }
  if (tests.length !== entries.length) return undefined;
  return (facts) => {
    const actual = read(facts);
    for (const test of tests) if (!test(actual)) return false;
    return true;
  };
}

function compileOperator(
  operator: string,
  operand: unknown,
  path: string,
  report: Report,
): ((actual: unknown) => boolean) | undefined {
  switch (operator) {
    case '$eq':
    case '$ne': {
      if (!isScalar(operand)) {
        report(path, 'must be a string, number, boolean or null.');
        return undefined;
      }
      return operator === '$eq' ? (actual) => actual === operand : (actual) => actual !== operand;
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      const bound = toNumber(operand);
      if (bound === undefined) {
        report(path, 'must be a number (or a string holding one).');
        return undefined;
      }
      return numberTest(operator, bound);
    }
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand) || !operand.every(isScalar)) {
        report(path, 'must be an array of strings, numbers, booleans or null.');
        return undefined;
      }
      if (operand.length > conditionLimits.maxListItems) {
        report(path, `must hold at most ${conditionLimits.maxListItems} values.`);
        return undefined;
      }
      const values = new Set<unknown>(operand);
      return operator === '$in' ? (actual) => values.has(actual) : (actual) => !values.has(actual);
    }
    case '$regex':
      return compileRegex(operand, path, report);
    default: {
      const known = comparisonOperators.join(' ');
      report(
        path,
        `is not a known operator${didYouMean(operator, comparisonOperators)}; one of ${known}.`,
      );
      return undefined;
    }
  }
}

function compileRegex(
  operand: unknown,
  path: string,
  report: Report,
): ((actual: unknown) => boolean) | undefined {
  if (typeof operand !== 'string') {
    report(path, 'must be a regular expression (a string).');
    return undefined;
  }
  if (operand.length > conditionLimits.maxPatternLength) {
    report(path, `must be at most ${conditionLimits.maxPatternLength} characters.`);
    return undefined;
  }
  let pattern: RE2JS;
  try {
    pattern = RE2JS.compile(operand);
  } catch (error) {
    // RE2 refuses lookarounds and backreferences: say so rather than never matching.
    const reason = error instanceof Error ? error.message : String(error);
    report(path, `is not a regular expression RE2 accepts (${reason}).`);
    return undefined;
  }
  return (actual) => {
    // Numbers are matched by their text, as `RegExp.test` would; objects never match.
    const subject = typeof actual === 'number' ? String(actual) : actual;
    if (typeof subject !== 'string' || subject.length > conditionLimits.maxSubjectLength) {
      return false;
    }
    // `test` searches (like `RegExp.test`); anchors are the pattern's business.
    return pattern.test(subject);
  };
}

function numberTest(operator: '$gt' | '$gte' | '$lt' | '$lte', bound: number) {
  return (actual: unknown): boolean => {
    const value = toNumber(actual);
    if (value === undefined) return false;
    switch (operator) {
      case '$gt':
        return value > bound;
      case '$gte':
        return value >= bound;
      case '$lt':
        return value < bound;
      case '$lte':
        return value <= bound;
    }
  };
}

/**
 * Reads a field out of the facts: `metadata.<name>` (a flat map, so the name may hold dots),
 * `params.<a.b.c>` (walks nested objects, own properties only), or `url.pathname`.
 */
function fieldReader(key: string): ((facts: ConditionFacts) => unknown) | undefined {
  if (key === 'url.pathname') return (facts) => facts.url?.pathname;
  if (key.startsWith('metadata.') && key.length > 'metadata.'.length) {
    const name = key.slice('metadata.'.length);
    return (facts) => ownValue(facts.metadata, name);
  }
  if (key.startsWith('params.')) {
    const steps = key.slice('params.'.length).split('.');
    if (steps.some((step) => step === '')) return undefined;
    return (facts) => {
      let value: unknown = facts.params;
      for (const step of steps) value = ownValue(value, step);
      return value;
    };
  }
  return undefined;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  // `Number('')` and `Number(' ')` are 0: an empty value is not a number.
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

function allOf(parts: readonly Predicate[]): Predicate {
  if (parts.length === 1) return parts[0] as Predicate;
  return (facts) => {
    for (const part of parts) if (!part(facts)) return false;
    return true;
  };
}

function anyOf(parts: readonly Predicate[]): Predicate {
  return (facts) => {
    for (const part of parts) if (part(facts)) return true;
    return false;
  };
}

function isScalar(value: unknown): value is Scalar {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A path segment: `.name` for plain names, `["metadata.tier"]` for names with dots. */
function segment(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function quote(name: string): string {
  return JSON.stringify(name);
}
