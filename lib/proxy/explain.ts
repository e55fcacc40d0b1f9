import type { ConfigNode } from '../config/config-tree.js';
import { snakeCase } from '../config/spelling.js';
import { credentialFields } from '../providers/credential-catalog.js';
import { type Credentials, secretValues } from '../providers/credentials.js';
import { nodeAvailability, type PlanDriver, runPlan } from '../routing/run-plan.js';
import { maskSecret, redactSecrets } from '../security/redact.js';
import type { PreparedRequest } from './attempt.js';
import type { Call, CallSettings } from './call.js';
import { describeCandidates } from './call-events.js';
import { availabilityOf, slowStartWeights } from './call-routing.js';
import { sendJson } from './send-error.js';

/**
 * The dry run (`x-portkey-dry-run: true`): runs the plan as a real request would, up to the first
 * attempt, and answers with what would be sent, keys masked. No provider is contacted.
 */
export async function explainCall(call: Call, settings: CallSettings): Promise<void> {
  await call.preflight;
  await call.health?.load(call.tree.targets);
  await call.routing?.load();
  const selections: unknown[] = [];
  let chosen: PreparedRequest | undefined;
  const weightOf = slowStartWeights(call);
  const driver: PlanDriver<PreparedRequest> = {
    weightOf,
    async attempt(target) {
      chosen = call.prepare(target);
      return { kind: 'response', status: 200, retryAfterMs: undefined, response: chosen };
    },
    discard: () => undefined,
    availability: (target) => availabilityOf(call, target),
    conditionFacts: () => call.facts,
    choose: (node, candidates, first) =>
      call.routing?.choose(node, candidates, first, weightOf ?? ((child) => child.weight)),
    stopped: () => false,
    now: settings.clock.now,
    retryDelay: () => undefined,
    sleep: async () => undefined,
    random: settings.random,
    onSelect(node, remaining, available, picked, reason) {
      selections.push({
        node: node.label,
        candidates: describeCandidates(node, remaining, available, (child) =>
          nodeAvailability(child, driver),
        ),
        picked: picked.label,
        ...reason,
      });
    },
  };
  const outcome = await runPlan(call.tree.root, driver);
  const plan: Record<string, unknown> = {
    dry_run: true,
    trace_id: call.traceId,
    config: { format: call.tree.format, tree: describeNode(call.tree.root) },
    // Operation-aware selection: these targets cannot serve the request and are not chosen.
    left_out: call.leftOut.map(({ target, reason }) => ({
      path: target.label,
      provider: target.provider,
      reason,
    })),
    selections,
  };
  if (call.facts.metadata !== undefined) plan.metadata = call.facts.metadata;
  if (outcome.kind === 'unavailable') {
    plan.outcome = outcome.overBudget === true ? 'over-budget' : 'unavailable';
    plan.retry_at = new Date(outcome.retryAt).toISOString();
  } else if (chosen !== undefined) {
    plan.outcome = 'would-send';
    plan.target = {
      path: chosen.target.label,
      provider: chosen.target.provider,
      virtual_key: chosen.target.virtualKey,
    };
    plan.upstream = describeRequest(chosen);
  }
  sendJson(call.res, 200, plan, { 'x-portkey-trace-id': call.traceId });
}

function describeRequest(request: PreparedRequest): Record<string, unknown> {
  const secrets = secretValues(request.adapter.credentials, request.target.credentials);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.upstreamHeaders))
    headers[name] = redactSecrets(value, secrets);
  return {
    method: 'POST',
    url: `${request.proxyTarget.protocol}//${request.proxyTarget.host}${request.upstreamPath}`,
    headers,
    body: JSON.parse(redactSecrets(request.body.bytes.toString('utf8'), secrets)),
  };
}

/** A target's credential fields by their snake_case names, every secret masked. */
function describeCredentials(credentials: Credentials): Record<string, string> {
  const described: Record<string, string> = {};
  for (const [name, value] of Object.entries(credentials)) {
    if (value === undefined) continue;
    described[snakeCase(name)] =
      credentialFields[name]?.secret === true ? maskSecret(value) : value;
  }
  return described;
}

/** The resolved config tree as JSON, every key masked. */
function describeNode(node: ConfigNode): Record<string, unknown> {
  if (node.kind === 'strategy') {
    return {
      path: node.label,
      name: node.name,
      strategy: {
        mode: node.mode,
        on_status_codes: node.onStatusCodes,
        algorithm: node.mode === 'loadbalance' ? node.algorithm : undefined,
        sticky:
          node.sticky === undefined
            ? undefined
            : { hash_fields: node.sticky.hashFields, ttl: node.sticky.ttlMs / 1000 },
      },
      weight: node.weight,
      targets: node.targets.map(describeNode),
    };
  }
  return {
    path: node.label,
    name: node.name,
    rpm: node.budget?.rpm,
    tpm: node.budget?.tpm,
    provider: node.provider,
    weight: node.weight,
    virtual_key: node.virtualKey,
    ...describeCredentials(node.credentials),
    custom_host: node.customHost,
    override_params: node.overrideParams,
    retry: node.retry,
    request_timeout: node.requestTimeout,
    forward_headers: node.forwardHeaders,
  };
}
