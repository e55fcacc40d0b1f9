import { describe, expect, it } from 'vitest';
import {
  type BusyCandidate,
  EwmaLatency,
  type LatencyCandidate,
  pickLeastBusy,
  pickLeastLatency,
} from '../../lib/routing/load-aware.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { seededRandom, sequenceRandom } from '../helpers/random.js';

function shares(pick: () => number, size: number, rounds = 10_000): number[] {
  const counts = new Array<number>(size).fill(0);
  for (let round = 0; round < rounds; round++) {
    const index = pick();
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts.map((count) => count / rounds);
}

describe('pickLeastBusy', () => {
  it('sends most picks away from a busy target', () => {
    const candidates: BusyCandidate[] = [
      { weight: 1, inFlight: 20 },
      { weight: 1, inFlight: 1 },
      { weight: 1, inFlight: 2 },
    ];
    const random = seededRandom(1);
    const [busy = 0] = shares(() => pickLeastBusy(candidates, random), 3);
    // Two distinct samples: the busiest of three is never the better of a pair.
    expect(busy).toBe(0);
  });

  it('treats weights as capacity: inFlight / weight is compared', () => {
    // 4 in flight on weight 4 (load 1) is less busy than 2 on weight 1 (load 2).
    const candidates: BusyCandidate[] = [
      { weight: 1, inFlight: 2 },
      { weight: 4, inFlight: 4 },
    ];
    expect(pickLeastBusy(candidates, sequenceRandom(0, 0))).toBe(1);
    expect(pickLeastBusy(candidates, sequenceRandom(0.99, 0))).toBe(1);
  });

  it('picks an idle pool by weight (ties go to the first sample)', () => {
    const candidates: BusyCandidate[] = [
      { weight: 1, inFlight: 0 },
      { weight: 3, inFlight: 0 },
    ];
    const random = seededRandom(2);
    const [light = 0] = shares(() => pickLeastBusy(candidates, random), 2);
    // Binomial(10,000, 0.25): sd ≈ 0.0043, five of them ≈ 0.022.
    expect(Math.abs(light - 0.25)).toBeLessThan(0.022);
  });

  it('skips weights of 0, returns the only candidate, or -1 for none', () => {
    const random = seededRandom(3);
    expect(
      pickLeastBusy(
        [
          { weight: 0, inFlight: 0 },
          { weight: 1, inFlight: 9 },
        ],
        random,
      ),
    ).toBe(1);
    expect(pickLeastBusy([{ weight: 1, inFlight: 9 }], random)).toBe(0);
    expect(pickLeastBusy([{ weight: 0, inFlight: 0 }], random)).toBe(-1);
    expect(pickLeastBusy([], random)).toBe(-1);
  });
});

describe('pickLeastLatency', () => {
  const candidates: LatencyCandidate[] = [
    { weight: 1, ewmaMs: 2_000 },
    { weight: 1, ewmaMs: 200 },
  ];

  it('sends most picks to the faster target', () => {
    const random = seededRandom(4);
    const [slow = 0] = shares(() => pickLeastLatency(candidates, random, 0), 2);
    expect(slow).toBe(0);
  });

  it('still picks the slow target sometimes, through exploration', () => {
    const random = seededRandom(5);
    const [slow = 0] = shares(() => pickLeastLatency(candidates, random, 0.1), 2);
    // Exploration is a weighted pick 10% of the time: the slow one gets half of it, 5%.
    // Binomial(10,000, 0.05): sd ≈ 0.0022, five of them ≈ 0.011.
    expect(Math.abs(slow - 0.05)).toBeLessThan(0.011);
  });

  it('prefers a target never measured, so it gets measured', () => {
    const fresh: LatencyCandidate[] = [
      { weight: 1, ewmaMs: 100 },
      { weight: 1, ewmaMs: undefined },
    ];
    const random = seededRandom(6);
    const [, unmeasured = 0] = shares(() => pickLeastLatency(fresh, random, 0), 2);
    expect(unmeasured).toBe(1);
  });
});

describe('EwmaLatency', () => {
  it('starts at the first sample and moves with the half-life', () => {
    const { clock, advance } = fakeClock();
    const ewma = new EwmaLatency({ now: clock.now, halfLifeMs: 1_000 });
    expect(ewma.get('a')).toBeUndefined();
    ewma.record('a', 1_000);
    expect(ewma.get('a')).toBe(1_000);
    advance(1_000);
    ewma.record('a', 0); // half the old value is kept after one half-life
    expect(ewma.get('a')).toBeCloseTo(500);
    advance(2_000);
    ewma.record('a', 0); // a quarter after two
    expect(ewma.get('a')).toBeCloseTo(125);
  });

  it('counts samples that arrive in the same millisecond', () => {
    const { clock } = fakeClock();
    const ewma = new EwmaLatency({ now: clock.now });
    ewma.record('a', 1_000);
    for (let sample = 0; sample < 20; sample++) ewma.record('a', 100);
    expect(ewma.get('a')).toBeLessThan(250);
  });

  it('forgets a stale estimate, so the target is measured again', () => {
    const { clock, advance } = fakeClock();
    const ewma = new EwmaLatency({ now: clock.now, halfLifeMs: 1_000 });
    ewma.record('a', 5_000);
    advance(6_000);
    expect(ewma.get('a')).toBe(5_000);
    advance(1);
    expect(ewma.get('a')).toBeUndefined();
    ewma.record('a', 100);
    expect(ewma.get('a')).toBe(100);
  });

  it('ignores nonsense samples and stays bounded', () => {
    const { clock } = fakeClock();
    const ewma = new EwmaLatency({ now: clock.now, capacity: 2 });
    ewma.record('a', Number.NaN);
    ewma.record('a', -1);
    expect(ewma.get('a')).toBeUndefined();
    ewma.record('a', 1);
    ewma.record('b', 2);
    ewma.record('c', 3);
    expect(ewma.get('a')).toBeUndefined();
    expect(ewma.get('b')).toBe(2);
    expect(ewma.get('c')).toBe(3);
  });

  it('moves least-latency traffic to the faster target after a warm-up, and back', () => {
    const { clock, advance } = fakeClock();
    const ewma = new EwmaLatency({ now: clock.now, halfLifeMs: 5_000 });
    const random = seededRandom(7);
    let latency: Record<string, number> = { a: 800, b: 200 };
    const run = (rounds: number) => {
      const counts: Record<string, number> = { a: 0, b: 0 };
      for (let round = 0; round < rounds; round++) {
        const ids = ['a', 'b'];
        const index = pickLeastLatency(
          ids.map((id) => ({ weight: 1, ewmaMs: ewma.get(id) })),
          random,
        );
        const id = ids[index] as string;
        counts[id] = (counts[id] ?? 0) + 1;
        ewma.record(id, latency[id] as number);
        advance(10);
      }
      return counts;
    };
    run(200); // warm-up
    expect(run(2_000).b).toBeGreaterThan(1_800);
    // a recovers and b slows down: exploration measures a again, and traffic follows.
    latency = { a: 100, b: 900 };
    run(1_000);
    expect(run(2_000).a).toBeGreaterThan(1_800);
  });
});
