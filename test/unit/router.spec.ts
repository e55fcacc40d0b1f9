import { describe, expect, it } from 'vitest';
import type { ConfigNode, ConfigTree, StrategyNode } from '../../lib/config/config-tree.js';
import { checkConfig } from '../../lib/config/normalize.js';
import { resolveVirtualKeys } from '../../lib/config/virtual-keys.js';
import { FailOpenStore, type StoreFailure } from '../../lib/health/fail-open-store.js';
import { MemoryStore, type StateStore } from '../../lib/index.js';
import { RoutingGate, SharedRouting } from '../../lib/routing/router.js';
import type { Availability } from '../../lib/routing/run-plan.js';
import { seededRandom } from '../helpers/random.js';

const target = (name: string, extra: object = {}) => ({
  name,
  provider: 'openai',
  api_key: `sk-${name}`,
  ...extra,
});
const open: Availability = { available: true, retryAt: 0, rateLimited: false };

function tree(config: unknown, virtualKeys?: Record<string, unknown>): ConfigTree {
  const check = checkConfig(config, {
    virtualKeys: virtualKeys === undefined ? undefined : resolveVirtualKeys(virtualKeys),
  });
  if (!check.valid) throw new Error(JSON.stringify(check.problems));
  return check.tree;
}

function setup(store: StateStore = new MemoryStore(), vkBudgets = new Map()) {
  let now = 1_700_000_000_000;
  const failures: StoreFailure[] = [];
  const wrapped = new FailOpenStore(
    store,
    50,
    () => now,
    (failure) => failures.push(failure),
  );
  const shared = new SharedRouting({
    store: wrapped,
    keyOf: (leaf) => `${leaf.provider} ${leaf.credentials.apiKey}`,
    now: () => now,
    random: seededRandom(1),
    virtualKeyBudgets: vkBudgets,
    inFlightTtlMs: 60_000,
    explorationRate: 0.05,
  });
  const gate = (resolved: ConfigTree, facts = {}, dryRun = false) =>
    new RoutingGate(shared, resolved, facts, { dryRun });
  return { shared, gate, failures, advance: (ms: number) => (now += ms), now: () => now };
}

const stickyTree = tree({
  strategy: { mode: 'loadbalance', sticky: { hash_fields: ['metadata.session_id'], ttl: 60 } },
  targets: [target('a'), target('b'), target('c')],
});
const stickyNode = stickyTree.root as StrategyNode;
const facts = (session: string) => ({ metadata: { session_id: session } });
const idOf = (nodes: readonly ConfigNode[], index: number | undefined) =>
  index === undefined ? undefined : nodes[index]?.name;

describe('the routing gate', () => {
  it('is needed only by a tree using a routing rule (a virtual key budget counts)', () => {
    const { shared } = setup(new MemoryStore(), new Map([['vk', { rpm: 1 }]]));
    expect(
      shared.needsGate(tree({ strategy: { mode: 'loadbalance' }, targets: [target('a')] })),
    ).toBe(false);
    expect(shared.needsGate(stickyTree)).toBe(true);
    const withKey = tree({ virtual_key: 'vk' }, { vk: { provider: 'openai', apiKey: 'sk-vk' } });
    expect(shared.needsGate(withKey)).toBe(true);
  });

  it('keeps a session on its target, moves it when that one is out, holds the move for ttl', async () => {
    const { gate, advance } = setup();
    const all = stickyNode.targets;
    const choose = async (candidates: readonly ConfigNode[], session = 's1') => {
      const choice = await gate(stickyTree, facts(session)).choose(
        stickyNode,
        candidates,
        true,
        (n) => n.weight,
      );
      return { id: idOf(candidates, choice?.index), rule: choice?.reason.rule };
    };
    const home = await choose(all);
    expect(home.rule).toBe('sticky-hit');
    expect((await choose(all)).id).toBe(home.id);
    const without = all.filter((node) => node.name !== home.id);
    const moved = await choose(without);
    expect(moved.rule).toBe('sticky-move');
    expect(moved.id).not.toBe(home.id);
    // Its home is back, but the move holds for the ttl (60 s).
    expect(await choose(all)).toEqual({ id: moved.id, rule: 'sticky-hit' });
    advance(60_000);
    expect((await choose(all)).id).toBe(home.id);
    // A request that is not a re-pick only: a re-pick after a failure is not sticky.
    const repick = await gate(stickyTree, facts('s1')).choose(
      stickyNode,
      all,
      false,
      (n) => n.weight,
    );
    expect(repick).toBeUndefined();
  });

  it('a dry run computes a move without holding it', async () => {
    const { gate } = setup();
    const all = stickyNode.targets;
    const home = await gate(stickyTree, facts('d1')).choose(stickyNode, all, true, (n) => n.weight);
    const homeId = idOf(all, home?.index);
    const others = all.filter((node) => node.name !== homeId);
    const dry = await gate(stickyTree, facts('d1'), true).choose(
      stickyNode,
      others,
      true,
      (n) => n.weight,
    );
    expect(dry?.reason.rule).toBe('sticky-move');
    const again = await gate(stickyTree, facts('d1')).choose(
      stickyNode,
      all,
      true,
      (n) => n.weight,
    );
    expect(idOf(all, again?.index)).toBe(homeId);
  });

  it('routes sessions when the store fails or lacks pin: moves are then held locally', async () => {
    const broken = new Proxy(new MemoryStore(), {
      get(store, property) {
        if (property === 'pin') return () => Promise.reject(new Error('down'));
        return Reflect.get(store, property);
      },
    });
    const failing = setup(broken);
    const choice = await failing
      .gate(stickyTree, facts('x'))
      .choose(stickyNode, stickyNode.targets, true, (n) => n.weight);
    expect(choice?.reason.rule).toBe('sticky-hit');
    expect(failing.failures[0]).toMatchObject({ operation: 'pin', reason: 'error' });

    // A custom store written before pin existed: moves are held in this replica's memory.
    const noPin = new Proxy(new MemoryStore(), {
      get: (store, property) => (property === 'pin' ? undefined : Reflect.get(store, property)),
    });
    const local = setup(noPin as StateStore);
    const home = await local
      .gate(stickyTree, facts('y'))
      .choose(stickyNode, stickyNode.targets, true, (n) => n.weight);
    const homeId = idOf(stickyNode.targets, home?.index);
    const rest = stickyNode.targets.filter((node) => node.name !== homeId);
    const moved = await local
      .gate(stickyTree, facts('y'))
      .choose(stickyNode, rest, true, (n) => n.weight);
    const held = await local
      .gate(stickyTree, facts('y'))
      .choose(stickyNode, stickyNode.targets, true, (n) => n.weight);
    expect(idOf(stickyNode.targets, held?.index)).toBe(idOf(rest, moved?.index));
  });

  it('admits exactly rpm concurrent attempts, then reports the target over budget until the window ends', async () => {
    const { gate, now } = setup();
    const limited = tree(target('a', { rpm: 3 }));
    const leaf = limited.targets[0];
    if (leaf === undefined) throw new Error('no target');
    const gates = Array.from({ length: 7 }, () => gate(limited));
    const admitted = await Promise.all(gates.map((each) => each.admit(leaf)));
    expect(admitted.filter(Boolean)).toHaveLength(3);
    const later = gate(limited);
    await later.load();
    const health = later.availability(leaf, open);
    expect(health).toMatchObject({ available: false, overBudget: true });
    expect(health.retryAt).toBe(Math.floor(now() / 60_000) * 60_000 + 60_000);
    // A dry run never counts.
    const dry = gate(limited, {}, true);
    expect(await dry.admit(leaf)).toBe(true);
  });

  it("gives back a refused attempt's counts, so one full budget does not use up another", async () => {
    const { gate } = setup(new MemoryStore(), new Map([['vk', { rpm: 3 }]]));
    const shared = tree(
      {
        strategy: { mode: 'loadbalance' },
        targets: [
          { name: 'a', virtual_key: 'vk', rpm: 1 },
          { name: 'b', virtual_key: 'vk' },
        ],
      },
      { vk: { provider: 'openai', apiKey: 'sk-vk' } },
    );
    const [a, b] = shared.targets;
    if (a === undefined || b === undefined) throw new Error('no targets');
    expect(await gate(shared).admit(a)).toBe(true);
    // a is full: three refused attempts at it must not count against the virtual key.
    for (let i = 0; i < 3; i++) expect(await gate(shared).admit(a)).toBe(false);
    expect(await gate(shared).admit(b)).toBe(true);
    expect(await gate(shared).admit(b)).toBe(true);
    expect(await gate(shared).admit(b)).toBe(false);
  });

  it('counts answered tokens against tpm', async () => {
    const { gate } = setup();
    const limited = tree(target('a', { tpm: 100 }));
    const leaf = limited.targets[0];
    if (leaf === undefined) throw new Error('no target');
    const first = gate(limited);
    expect(first.countsTokens).toBe(true);
    first.countTokens(leaf, { promptTokens: 50, completionTokens: 10, totalTokens: 60 });
    const second = gate(limited);
    await second.load();
    expect(second.availability(leaf, open).available).toBe(true);
    second.countTokens(leaf, { promptTokens: 30, completionTokens: 10, totalTokens: 40 });
    const third = gate(limited);
    await third.load();
    expect(third.availability(leaf, open)).toMatchObject({ available: false, overBudget: true });
  });

  it('gives back every in-flight count it holds, once', async () => {
    const store = new MemoryStore();
    const { gate, now } = setup(store);
    const busy = tree({
      strategy: { mode: 'loadbalance', algorithm: 'least-busy' },
      targets: [target('a'), target('b')],
    });
    const [a, b] = busy.targets;
    if (a === undefined || b === undefined) throw new Error('no targets');
    const one = gate(busy);
    one.beginInFlight(a);
    one.beginInFlight(a);
    one.beginInFlight(b);
    one.endInFlight(a);
    const bucket = Math.floor(now() / 60_000);
    const keys = [`inflight:${bucket}:openai sk-a`, `inflight:${bucket}:openai sk-b`];
    expect(store.counters(keys, now())).toEqual([1, 1]);
    one.endAll();
    one.endAll();
    one.endInFlight(b);
    expect(store.counters(keys, now())).toEqual([0, 0]);
    // A request that ended counts nothing for an attempt that starts after.
    one.beginInFlight(a);
    expect(store.counters(keys, now())).toEqual([0, 0]);
  });

  it('lets a count that drifted expire with its bucket, whatever traffic follows', async () => {
    const store = new MemoryStore();
    const { gate, advance } = setup(store);
    const busy = tree({
      strategy: { mode: 'loadbalance', algorithm: 'least-busy' },
      targets: [target('a'), target('b')],
    });
    const node = busy.root as StrategyNode;
    const [a] = busy.targets;
    if (a === undefined) throw new Error('no target');
    // Five counts whose decrements were lost (a store failure, a crashed replica).
    const lost = gate(busy);
    for (let i = 0; i < 5; i++) lost.beginInFlight(a);
    const picks = async () => {
      const chosen: (string | undefined)[] = [];
      for (let i = 0; i < 20; i++) {
        const reader = gate(busy);
        await reader.load();
        const choice = await reader.choose(node, node.targets, true, (n) => n.weight);
        chosen.push(idOf(node.targets, choice?.index));
      }
      return chosen;
    };
    expect(await picks()).toEqual(Array(20).fill('b'));
    // Steady traffic on a for two TTLs: each request takes and gives back its own count.
    for (let step = 0; step < 5; step++) {
      const passing = gate(busy);
      passing.beginInFlight(a);
      passing.endInFlight(a);
      advance(30_000);
    }
    expect(await picks()).toContain('a');
  });

  it('least-busy avoids the target the shared counts say is busy', async () => {
    const { gate } = setup();
    const busy = tree({
      strategy: { mode: 'loadbalance', algorithm: 'least-busy' },
      targets: [target('a'), target('b')],
    });
    const node = busy.root as StrategyNode;
    const [a] = busy.targets;
    if (a === undefined) throw new Error('no target');
    const holder = gate(busy);
    for (let i = 0; i < 5; i++) holder.beginInFlight(a);
    const picks: (string | undefined)[] = [];
    for (let i = 0; i < 50; i++) {
      const next = gate(busy);
      await next.load();
      const choice = await next.choose(node, node.targets, true, (n) => n.weight);
      picks.push(idOf(node.targets, choice?.index));
    }
    expect(picks.every((pick) => pick === 'b')).toBe(true);
  });
});
