import { Ajv, type ErrorObject } from 'ajv';
import { configLimits } from './limits.js';
import { configSchema, knownConfigFields } from './schema.js';
import { didYouMean } from './suggest.js';

/** One problem found in a config: where, and what is wrong. */
export interface ConfigProblem {
  /** Path of the offending value, e.g. `config.options[1].weight`. */
  param: string;
  /** A sentence naming the path and the rule it breaks. */
  message: string;
}

// verbose: errors carry the offending value, so an enum error can say what it got.
const ajv = new Ajv({ strict: true, allErrors: true, verbose: true });
const validateSchema = ajv.compile(configSchema);

/** Problems the JSON Schema finds in `config`, rooted at `root` (`config` by default). */
export function schemaProblems(config: unknown, root = 'config'): ConfigProblem[] {
  if (validateSchema(config)) return [];
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const error of validateSchema.errors ?? []) {
    const problem = describe(error, root);
    if (problem === undefined || seen.has(problem.message)) continue;
    seen.add(problem.message);
    problems.push(problem);
  }
  return problems;
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
    case 'if':
      return undefined;
    case 'propertyNames':
      // The nested `not` error names the key; this one only repeats it.
      return undefined;
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
    default:
      return { param: path, message: `${path} ${error.message ?? 'is invalid'}` };
  }
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
