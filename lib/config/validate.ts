import { Ajv, type ErrorObject } from 'ajv';
import { tooDeepPath } from '../shared/nesting-depth.js';
import { isRecord } from '../shared/values.js';
import { configLimits } from './limits.js';
import { configSchema, headerValuePattern, knownConfigFields } from './schema.js';
import { didYouMean } from './suggest.js';

/** One problem found in a config: where, and what is wrong. */
export interface ConfigProblem {
  /** Path of the offending value, e.g. `config.options[1].weight`. */
  param: string;
  /** A sentence naming the path and the rule it breaks. */
  message: string;
}

// verbose: errors carry the offending value, so an enum error can say what it got.
// Two validators: the first stops at the first error (every config goes through it); the second
// finds every error, and runs only on invalid configs small enough for that to stay cheap.
const validateFirst = new Ajv({ strict: true, verbose: true }).compile(configSchema);
const validateAll = new Ajv({ strict: true, allErrors: true, verbose: true }).compile(configSchema);

/** The first problems found (at most `configLimits.maxReportedProblems`) and how many more. */
export interface ProblemList {
  problems: ConfigProblem[];
  /** Problems found but not described. */
  omitted: number;
  /** False when the config was too large to look for every problem: only the first is known. */
  complete: boolean;
}

/**
 * Problems the JSON Schema finds in `config`, rooted at `root` (`config` by default). Input too
 * deep or too wide for the schema's bounds is refused before ajv sees it: with `allErrors`, ajv
 * checks every element of an over-long array and copies its growing error list at each failing
 * `$ref` (one per target), so 20,000 bad targets cost seconds. Only the first problems are
 * described (each may compute a "did you mean"); the rest are only counted.
 */
export function schemaProblems(config: unknown, root = 'config'): ProblemList {
  const size = { nodes: 0 };
  const bound = boundProblem(config, root, size);
  if (bound !== undefined) return { problems: [bound], omitted: 0, complete: true };
  if (validateFirst(config)) return { problems: [], omitted: 0, complete: true };
  // Even within the bounds, allErrors costs about 5 us per error: a 10 MB config of bad targets
  // would still stall the event loop for a second or more. Large configs get their first error.
  const complete = size.nodes <= configLimits.maxNodesFullyChecked;
  const errors = complete && !validateAll(config) ? validateAll.errors : validateFirst.errors;
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  let omitted = 0;
  for (const error of errors ?? []) {
    if (silentKeywords.has(error.keyword)) continue;
    if (problems.length === configLimits.maxReportedProblems) {
      omitted++;
      continue;
    }
    const problem = describe(error, root);
    if (problem === undefined || seen.has(problem.message)) continue;
    seen.add(problem.message);
    problems.push(problem);
  }
  return { problems, omitted, complete };
}

/** Keywords whose errors only repeat what a nested error says. */
const silentKeywords = new Set(['if', 'propertyNames']);

/**
 * The first way `config` exceeds the bounds that keep schema validation linear in its size: the
 * size of each node (its `options` or `targets`, its fields, the fields of its objects such as
 * `override_params`), then nesting depth.
 */
function boundProblem(
  config: unknown,
  root: string,
  size: { nodes: number },
): ConfigProblem | undefined {
  const oversized = oversizedNode(config, root, 0, size);
  if (oversized !== undefined) return oversized;
  const deep = tooDeepPath(config, configLimits.maxNesting, root);
  if (deep === undefined) return undefined;
  return {
    param: deep,
    message: `${deep} nests deeper than the ${configLimits.maxNesting} levels of arrays and objects allowed`,
  };
}

/**
 * Walks `options` and `targets` down the tree, no deeper than the schema itself goes (it reports
 * `targets` below `maxDepth` without looking inside), counting the nodes in `size`.
 */
function oversizedNode(
  node: unknown,
  path: string,
  depth: number,
  size: { nodes: number },
): ConfigProblem | undefined {
  if (!isRecord(node) || depth > configLimits.maxDepth) return undefined;
  size.nodes++;
  if (hasMoreKeysThan(node, configLimits.maxNodeFields)) return tooManyFields(path);
  for (const key in node) {
    const value = node[key];
    if (!isRecord(value)) continue;
    if (hasMoreKeysThan(value, configLimits.maxNodeFields)) return tooManyFields(`${path}.${key}`);
  }
  for (const list of ['options', 'targets']) {
    const children = node[list];
    if (!Array.isArray(children)) continue;
    if (children.length > configLimits.maxTargets) {
      return {
        param: `${path}.${list}`,
        message: `${path}.${list} has ${children.length} entries; at most ${configLimits.maxTargets} are allowed`,
      };
    }
    for (let index = 0; index < children.length; index++) {
      const problem = oversizedNode(children[index], `${path}.${list}[${index}]`, depth + 1, size);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

function tooManyFields(path: string): ConfigProblem {
  return { param: path, message: `${path} has more than ${configLimits.maxNodeFields} fields` };
}

/** Counts no further than `limit`: a huge object costs no more than a small one. */
function hasMoreKeysThan(record: Record<string, unknown>, limit: number): boolean {
  let count = 0;
  for (const _key in record) {
    if (++count > limit) return true;
  }
  return false;
}

/** `/options/1/weight` -> `config.options[1].weight`. */
export function toParamPath(instancePath: string, root: string): string {
  let path = root;
  if (instancePath === '') return path;
  for (const segment of instancePath.slice(1).split('/')) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return path;
}

function describe(error: ErrorObject, root: string): ConfigProblem | undefined {
  const path = toParamPath(error.instancePath, root);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'not': {
      const key = error.propertyName ?? '';
      return { param: `${path}.${key}`, message: `${path}.${key} is a forbidden key` };
    }
    case 'required': {
      const field = String(params.missingProperty);
      return { param: `${path}.${field}`, message: `${path}.${field} is required` };
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      if (field === 'targets') {
        return {
          param: `${path}.targets`,
          message: `${path}.targets nests deeper than the ${configLimits.maxDepth} levels allowed`,
        };
      }
      return {
        param: `${path}.${field}`,
        message: `${path}.${field} is not a known field${didYouMean(field, knownConfigFields)}`,
      };
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const got = JSON.stringify(error.data) ?? String(error.data);
      const hint = typeof error.data === 'string' ? didYouMean(error.data, allowed) : '';
      return {
        param: path,
        message: `${path} must be one of ${allowed.join(', ')} (got ${truncate(got)})${hint}`,
      };
    }
    case 'pattern':
      if (params.pattern === headerValuePattern) {
        return {
          param: path,
          message: `${path} contains a character not allowed in an HTTP header value (a control character other than tab, or one above U+00FF)`,
        };
      }
      return {
        param: path,
        message: `${path} contains characters that are not allowed (it must match ${String(params.pattern)})`,
      };
    case 'type': {
      const type = String(params.type);
      const article = type === 'object' || type === 'array' || type === 'integer' ? 'an' : 'a';
      const finite = type === 'number' || type === 'integer' ? ' (finite)' : '';
      return { param: path, message: `${path} must be ${article} ${type}${finite}` };
    }
    case 'const':
      // Only the routing fields' `dependencies` use const: a field that needs another mode.
      return {
        param: path,
        message: `${path} must be ${JSON.stringify(params.allowedValue)} for the strategy fields given with it (sticky and algorithm need loadbalance; conditions and default need conditional)`,
      };
    default:
      return { param: path, message: `${path} ${error.message ?? 'is invalid'}` };
  }
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
