import { describe, expect, it } from 'vitest';
import {
  maxStickyValueLength,
  type RendezvousCandidate,
  rendezvousOrder,
  stickyKeyOf,
} from '../../lib/routing/rendezvous.js';

const equal = (...ids: string[]): RendezvousCandidate[] => ids.map((id) => ({ id, weight: 1 }));
const keys = Array.from({ length: 10_000 }, (_, index) => `session-${index}`);

describe('rendezvousOrder', () => {
  it('gives the same order for the same key, in every process (a pinned value)', () => {
    const candidates = equal('a', 'b', 'c');
    expect(rendezvousOrder('session-42', candidates)).toEqual(['a', 'c', 'b']);
    expect(rendezvousOrder('session-7', candidates)).toEqual(['c', 'a', 'b']);
    for (const key of keys.slice(0, 100)) {
      expect(rendezvousOrder(key, candidates)).toEqual(rendezvousOrder(key, candidates));
    }
  });

  it('does not depend on the order the candidates are listed in', () => {
    for (const key of keys.slice(0, 200)) {
      expect(rendezvousOrder(key, equal('c', 'a', 'b'))).toEqual(
        rendezvousOrder(key, equal('a', 'b', 'c')),
      );
    }
  });

  it('spreads 10,000 keys by weight', () => {
    const candidates = [
      { id: 'small', weight: 1 },
      { id: 'medium', weight: 2 },
      { id: 'large', weight: 7 },
    ];
    const counts = new Map<string, number>();
    for (const key of keys) {
      const first = rendezvousOrder(key, candidates)[0] as string;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    // Each count is binomial(n, p): sd = sqrt(n p (1 - p)), 30 / 40 / 46 here. Five standard
    // deviations is a bound a uniform hash breaks with probability below 1e-6; the hash is
    // deterministic, so the test cannot flake.
    for (const { id, weight } of candidates) {
      const p = weight / 10;
      const sd = Math.sqrt(keys.length * p * (1 - p));
      expect(Math.abs((counts.get(id) ?? 0) - keys.length * p)).toBeLessThan(5 * sd);
    }
  });

  it('removing a candidate moves only its keys, each to its second choice', () => {
    const all = equal('a', 'b', 'c', 'd');
    const withoutB = equal('a', 'c', 'd');
    let moved = 0;
    for (const key of keys) {
      const before = rendezvousOrder(key, all);
      const after = rendezvousOrder(key, withoutB);
      if (before[0] === 'b') {
        moved++;
        expect(after[0]).toBe(before[1]);
      } else {
        expect(after[0]).toBe(before[0]);
      }
      expect(after).toEqual(before.filter((id) => id !== 'b'));
    }
    // About a quarter of the keys were on b (sd ≈ 43).
    expect(Math.abs(moved - 2500)).toBeLessThan(5 * 43.3);
  });

  it('changing one weight moves keys only to or from that candidate', () => {
    const before = equal('a', 'b', 'c');
    const after = [{ id: 'a', weight: 3 }, ...equal('b', 'c')];
    for (const key of keys.slice(0, 2000)) {
      const from = rendezvousOrder(key, before)[0];
      const to = rendezvousOrder(key, after)[0];
      if (from !== to) expect(to).toBe('a');
    }
  });

  it('leaves out weights of 0 and returns nothing when no candidate has weight', () => {
    const order = rendezvousOrder('k', [
      { id: 'a', weight: 0 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: Number.NaN },
    ]);
    expect(order).toEqual(['b']);
    expect(rendezvousOrder('k', [{ id: 'a', weight: 0 }])).toEqual([]);
    expect(rendezvousOrder('k', [])).toEqual([]);
  });
});

describe('stickyKeyOf', () => {
  const fields = ['metadata.session_id', 'params.user', 'headers.x-session'];

  it('is the same for the same values and differs for others', () => {
    const key = stickyKeyOf(fields, { metadata: { session_id: 's1' }, params: { user: 'u1' } });
    expect(key).toBe(
      stickyKeyOf(fields, { metadata: { session_id: 's1' }, params: { user: 'u1' } }),
    );
    expect(key).not.toBe(
      stickyKeyOf(fields, { metadata: { session_id: 's2' }, params: { user: 'u1' } }),
    );
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('is undefined when no field has a value: the request gets an ordinary pick', () => {
    expect(stickyKeyOf(fields, {})).toBeUndefined();
    expect(stickyKeyOf(fields, { metadata: { session_id: '' }, headers: {} })).toBeUndefined();
    expect(stickyKeyOf([], { metadata: { session_id: 's' } })).toBeUndefined();
  });

  it('counts a missing field as empty when others are present', () => {
    const only = stickyKeyOf(fields, { metadata: { session_id: 's1' } });
    expect(only).toBeDefined();
    expect(
      stickyKeyOf(fields, { metadata: { session_id: 's1' }, params: { user: undefined } }),
    ).toBe(only);
  });

  it('keeps field boundaries: values cannot be shifted between fields', () => {
    const two = ['metadata.a', 'metadata.b'];
    expect(stickyKeyOf(two, { metadata: { a: 'xy', b: 'z' } })).not.toBe(
      stickyKeyOf(two, { metadata: { a: 'x', b: 'yz' } }),
    );
  });

  it('reads headers by lower-case name, joined when repeated; params by nested path', () => {
    const header = stickyKeyOf(['headers.X-Session'], { headers: { 'x-session': 'h1' } });
    expect(header).toBeDefined();
    expect(stickyKeyOf(['headers.x-session'], { headers: { 'x-session': ['h1'] } })).toBe(
      stickyKeyOf(['headers.x-session'], { headers: { 'x-session': 'h1' } }),
    );
    expect(stickyKeyOf(['params.metadata.user_id'], { params: { metadata: { user_id: 7 } } })).toBe(
      stickyKeyOf(['params.metadata.user_id'], { params: { metadata: { user_id: '7' } } }),
    );
  });

  it('ignores objects, inherited properties and unknown sources', () => {
    expect(stickyKeyOf(['params.user'], { params: { user: { id: 1 } } })).toBeUndefined();
    expect(stickyKeyOf(['params.constructor'], { params: {} })).toBeUndefined();
    expect(stickyKeyOf(['cookies.sid', 'nodot'], { params: {} })).toBeUndefined();
  });

  it('bounds the work on a huge value: only its first characters count', () => {
    const prefix = 'a'.repeat(maxStickyValueLength);
    expect(stickyKeyOf(['params.user'], { params: { user: `${prefix}b` } })).toBe(
      stickyKeyOf(['params.user'], { params: { user: `${prefix}c` } }),
    );
  });
});
