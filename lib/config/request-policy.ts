import { serverOnlyCredentialFields } from '../providers/credential-catalog.js';
import type { RequestConfigPolicy } from '../types.js';
import { type ConfigTree, targetPath } from './config-tree.js';
import type { ConfigProblem } from './validate.js';

/** Fields that carry a credential or choose a host: what `virtual-keys-only` keeps out of requests. */
const serverOnlyFields = [...serverOnlyCredentialFields, 'custom_host', 'customHost'];

/**
 * The first way a schema-valid request config breaks the server's `requestConfig` policy, before
 * it is resolved; undefined when it complies.
 */
export function policyViolation(
  raw: unknown,
  policy: RequestConfigPolicy,
  root = 'config',
): ConfigProblem | undefined {
  if (policy === 'allow') return undefined;
  if (policy === 'deny') return deniedConfig(root);
  return serverOnlyField(raw as Record<string, unknown>, root);
}

/** Why `deny` refuses a request config, whatever it holds. */
export function deniedConfig(root = 'config'): ConfigProblem {
  return {
    param: root,
    message:
      'This server accepts no configs in requests: send the name of a server config (x-portkey-config: <name>) or none',
  };
}

function serverOnlyField(node: Record<string, unknown>, path: string): ConfigProblem | undefined {
  for (const name of serverOnlyFields) {
    if (node[name] !== undefined) {
      return {
        param: `${path}.${name}`,
        message: `${path}.${name} is not allowed: this server accepts only server-held keys (virtual_key) in request configs`,
      };
    }
  }
  for (const list of ['options', 'targets'] as const) {
    const children = node[list];
    if (!Array.isArray(children)) continue;
    for (const [index, child] of children.entries()) {
      const problem = serverOnlyField(
        child as Record<string, unknown>,
        `${path}.${list}[${index}]`,
      );
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/** Under `virtual-keys-only`, a resolved target without a virtual key (it would go keyless). */
export function targetWithoutVirtualKey(
  tree: ConfigTree,
  policy: RequestConfigPolicy,
): ConfigProblem | undefined {
  if (policy !== 'virtual-keys-only') return undefined;
  const target = tree.targets.find((candidate) => candidate.virtualKey === undefined);
  if (target === undefined) return undefined;
  const param = targetPath(tree, target);
  return {
    param: `${param}.virtual_key`,
    message: `${param} has no virtual_key: this server accepts only server-held keys in request configs`,
  };
}
