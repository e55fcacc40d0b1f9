import { providerRules } from '../providers/provider-rules.js';
import type { ProvidersOptions } from '../types.js';
import { checkConfig } from './normalize.js';
import type { ConfigProblem } from './validate.js';
import { resolveVirtualKeys } from './virtual-keys.js';

/** The outcome of {@link validateConfig}. */
export interface ConfigValidationResult {
  valid: boolean;
  /**
   * The first problems found (at most 10); empty when valid. In a config of more than 256 nodes
   * only the first schema problem is looked for.
   */
  errors: ConfigProblem[];
  /** How many more problems were found but not described in `errors` (not deduplicated). */
  omitted: number;
}

/**
 * Checks a config of either format exactly as the middleware does, for use in a build or CI
 * step: `validateConfig(config).errors` lists each problem with its path. Pass the server's
 * `virtualKeys` and `providers` options to check virtual keys and server-defined providers
 * (and `ollama` given a base URL) as that server does.
 */
export function validateConfig(
  config: unknown,
  options: { virtualKeys?: Record<string, unknown>; providers?: ProvidersOptions } = {},
): ConfigValidationResult {
  const providers = providerRules(options.providers);
  const virtualKeys =
    options.virtualKeys === undefined
      ? undefined
      : resolveVirtualKeys(options.virtualKeys, providers);
  const { valid, problems, omitted } = checkConfig(config, { virtualKeys, providers });
  return { valid, errors: problems, omitted };
}
