import { describe, expect, it } from 'vitest';
import type { TargetNode } from '../../lib/config/config-tree.js';
import { checkConfig } from '../../lib/config/normalize.js';
import type { StoreFailure } from '../../lib/health/fail-open-store.js';
import { type BreakerChange, HealthGate, SharedHealth } from '../../lib/health/health-gate.js';
import { MemoryStore } from '../../lib/index.js';
import { createProviderRegistry } from '../../lib/providers/registry.js';
import type { StateStore } from '../../lib/types.js';

const defaults = {
  failureThreshold: 2,
  failureThresholdPercentage: 0,
  minimumRequests: 10,
  windowMs: 60_000,
  cooldownMs: 30_000,
  failureStatusCodes: undefined,
  slowStartMs: 0,
};

function targetOf(config: unknown): TargetNode {
  const check = checkConfig(config);
  if (!check.valid) throw new Error(JSON.stringify(check.problems));
  return check.tree.targets[0] as TargetNode;
}

function setup(store: StateStore = new MemoryStore()) {
  let now = 1_000_000;
  const failures: StoreFailure[] = [];
  const shared = new SharedHealth(store, defaults, createProviderRegistry(), () => now, {
    timeoutMs: 50,
    onStoreFailure: (failure) => failures.push(failure),
  });
  const changes: BreakerChange[] = [];
  const gate = () => new HealthGate(shared, (change) => changes.push(change));
  return { shared, gate, changes, failures, advance: (ms: number) => (now += ms) };
}

const target = targetOf({ provider: 'openai', api_key: 'sk-unit-0123456789' });

describe('HealthGate', () => {
  it('counts timeouts in a window as long as the attempt timeout: sequential hangs add up', async () => {
    const { gate, advance } = setup();
    const first = gate();
    await first.load([target]);
    await first.endAttempt(target, { kind: 'failure', timeoutMs: 600_000 });
    // The next hang starts after the first ended, and ends a whole timeout later.
    advance(600_010);
    const second = gate();
    await second.load([target]);
    await second.endAttempt(target, { kind: 'failure', timeoutMs: 600_000 });
    expect(second.availability(target).available).toBe(false);
  });

  it('reports an opening once, and a closing when its probe succeeds', async () => {
    const { gate, changes, advance } = setup();
    const request = gate();
    await request.load([target]);
    await request.endAttempt(target, { kind: 'failure' });
    await request.endAttempt(target, { kind: 'failure' });
    await request.endAttempt(target, { kind: 'failure' });
    expect(changes.map((change) => change.state)).toEqual(['open']);
    advance(30_000);
    const probe = gate();
    await probe.load([target]);
    expect(probe.availability(target).available).toBe(true);
    expect(await probe.beginAttempt(target, 5000)).toBe(true);
    const other = gate();
    await other.load([target]);
    expect(await other.beginAttempt(target, 5000)).toBe(false);
    expect(other.availability(target)).toMatchObject({ available: false, rateLimited: false });
    probe.endAttempt(target, { kind: 'success' });
    expect(changes.map((change) => change.state)).toEqual(['open', 'closed']);
  });

  it('judges statuses by the target policy: cb_config over the server defaults', () => {
    const { gate } = setup();
    const own = targetOf({
      strategy: { mode: 'single', cb_config: { failure_status_codes: [503] } },
      targets: [{ provider: 'openai', api_key: 'sk-unit-0123456789' }],
    });
    const request = gate();
    expect(request.isFailureStatus(target, 500)).toBe(true);
    expect(request.isFailureStatus(target, 429)).toBe(true);
    expect(request.isFailureStatus(target, 404)).toBe(false);
    expect(request.isFailureStatus(own, 500)).toBe(false);
    expect(request.isFailureStatus(own, 503)).toBe(true);
  });

  it('goes on with local state when the store throws, and says so without keys', async () => {
    const throwing = new Proxy(new MemoryStore(), {
      get: () => () => {
        throw new Error('sk-unit-0123456789');
      },
    });
    const { gate, failures } = setup(throwing);
    const request = gate();
    await request.load([target]);
    await request.endAttempt(target, { kind: 'failure' });
    await request.endAttempt(target, { kind: 'failure' });
    expect(request.availability(target).available).toBe(false);
    expect(JSON.stringify(failures)).not.toContain('sk-unit');
    expect(failures[0]).toMatchObject({ reason: 'error', error: 'Error' });
  });
});
