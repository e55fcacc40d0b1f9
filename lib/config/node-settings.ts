import { compileConditions, conditionProblems } from '../routing/conditions.js';
import { isForwardable } from '../security/header-policy.js';
import type { StrategyMode } from '../types.js';
import {
  type BreakerOverrides,
  type ConfigNode,
  defaultRetryStatusCodes,
  type RetryPolicy,
  type StickyPolicy,
  type TargetNode,
} from './config-tree.js';
import { field, type RawNode } from './raw-node.js';
import type { ConfigProblem } from './validate.js';

/** What a node sets beyond who it is: retries, breaker overrides, budgets, routing rules. */

/** Sibling names must be unique: a conditional `then` must name one node. */
function namesOf(
  targets: readonly ConfigNode[],
  path: string,
  problems: ConfigProblem[],
): string[] {
  const names: string[] = [];
  targets.forEach((target, index) => {
    if (target.name === undefined) return;
    if (names.includes(target.name)) {
      const param = `${path}.targets[${index}].name`;
      problems.push({
        param,
        message: `${param} "${target.name}" is already the name of another target of this strategy`,
      });
    }
    names.push(target.name);
  });
  return names;
}

export function stickyOf(strategy: RawNode | undefined): StickyPolicy | undefined {
  const sticky = strategy?.sticky as RawNode | undefined;
  if (sticky === undefined || sticky.enabled === false) return undefined;
  return {
    hashFields: sticky.hash_fields as string[],
    ttlMs: ((sticky.ttl as number | undefined) ?? defaultStickyTtlSeconds) * 1000,
  };
}

/** Portkey's examples use an hour. */
const defaultStickyTtlSeconds = 3600;

/** A conditional node's rules, compiled; their problems name paths under `<path>.strategy`. */
export function conditionsOf(
  strategy: RawNode | undefined,
  mode: StrategyMode,
  targets: readonly ConfigNode[],
  path: string,
  problems: ConfigProblem[],
) {
  const names = namesOf(targets, path, problems);
  if (mode !== 'conditional' || strategy === undefined) return undefined;
  const found = conditionProblems(strategy, names, `${path}.strategy`);
  if (found.length > 0) {
    problems.push(...found);
    return undefined;
  }
  return compileConditions(strategy, names, `${path}.strategy`);
}

/** A strategy's `cb_config` over its parent's, field by field (Portkey's inheritance). */
export function breakerOverrides(
  strategy: RawNode | undefined,
  inherited: BreakerOverrides | undefined,
): BreakerOverrides | undefined {
  const raw = strategy === undefined ? undefined : field<RawNode>(strategy, 'cbConfig');
  if (raw === undefined) return inherited;
  const own: Record<string, unknown> = {
    failureThreshold: field<number>(raw, 'failureThreshold'),
    failureThresholdPercentage: field<number>(raw, 'failureThresholdPercentage'),
    minimumRequests: field<number>(raw, 'minimumRequests'),
    cooldownMs: field<number>(raw, 'cooldownInterval'),
    failureStatusCodes: field<number[]>(raw, 'failureStatusCodes'),
  };
  const merged: Record<string, unknown> = { ...inherited };
  for (const [name, value] of Object.entries(own)) if (value !== undefined) merged[name] = value;
  return merged as BreakerOverrides;
}

export function retryPolicyOf(raw: RawNode | undefined): RetryPolicy | undefined {
  if (raw === undefined) return undefined;
  return {
    attempts: raw.attempts as number,
    onStatusCodes: field<number[]>(raw, 'onStatusCodes') ?? defaultRetryStatusCodes,
    useRetryAfterHeader: field<boolean>(raw, 'useRetryAfterHeader') ?? false,
  };
}

/** A node's own `rpm` / `tpm` (LiteLLM's names); undefined when it sets neither. */
export function budgetOf(raw: RawNode): TargetNode['budget'] {
  const rpm = raw.rpm as number | undefined;
  const tpm = raw.tpm as number | undefined;
  return rpm === undefined && tpm === undefined ? undefined : { rpm, tpm };
}

export function forwardHeaderProblems(
  names: readonly string[] | undefined,
  path: string,
): ConfigProblem[] {
  const refused = (names ?? []).filter((name) => !isForwardable(name));
  return refused.map((name) => ({
    param: `${path}.forward_headers`,
    message: `${path}.forward_headers may not include "${name}": credentials, x-portkey-* and hop-by-hop headers are never forwarded`,
  }));
}
