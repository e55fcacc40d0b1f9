import { credentialFields } from '../providers/credential-catalog.js';
import type { ProviderRules } from '../providers/provider-rules.js';
import { builtinProviderRules, checkConfig } from './normalize.js';
import { snakeCase } from './spelling.js';
import type { TargetIdentity, VirtualKeyTable } from './target-identity.js';
import type { ConfigProblem } from './validate.js';

/** The server's `virtualKeys` option, each entry checked like a target and resolved once. */

/**
 * The server's `virtualKeys` option as a table, each entry checked like a target that may carry
 * only a provider and its credentials. Throws on the first invalid entry.
 */
export function resolveVirtualKeys(
  table: Record<string, unknown>,
  providers: ProviderRules = builtinProviderRules,
): VirtualKeyTable {
  const resolved = new Map<string, TargetIdentity>();
  for (const [name, entry] of Object.entries(table)) {
    const root = `virtualKeys.${name}`;
    const extra =
      typeof entry === 'object' && entry !== null
        ? Object.keys(entry).filter((key) => !virtualKeyFields.has(key))
        : [];
    const check = checkConfig(entry, { root, providers });
    const problems = [
      ...extra.map((key) => ({
        param: `${root}.${key}`,
        message: `${root}.${key} is not a credential field`,
      })),
      ...check.problems,
    ];
    if (problems.length > 0 || check.tree === undefined || check.tree.root.kind !== 'target') {
      throw new VirtualKeyError(
        problems[0] ?? {
          param: root,
          message: `${root} must be one provider with its credentials`,
        },
      );
    }
    const target = check.tree.root;
    resolved.set(name, {
      provider: target.provider,
      credentials: target.credentials,
      virtualKey: undefined,
    });
  }
  return resolved;
}

const virtualKeyFields = new Set(
  ['provider', ...Object.keys(credentialFields)].flatMap((name) => [name, snakeCase(name)]),
);

/** An invalid `virtualKeys` entry, with the first problem found. */
export class VirtualKeyError extends Error {
  constructor(readonly problem: ConfigProblem) {
    super(problem.message);
  }
}
