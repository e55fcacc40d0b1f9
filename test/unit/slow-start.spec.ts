import { describe, expect, it } from 'vitest';
import {
  slowStartDefaults,
  slowStartFraction,
  slowStartWeight,
} from '../../lib/routing/slow-start.js';
import { pickByWeight } from '../../lib/routing/weighted-pick.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { seededRandom } from '../helpers/random.js';

const closedAt = 1_700_000_000_000;

describe('slowStartWeight', () => {
  it('ramps linearly from the floor to the full weight over the window', () => {
    const at = (ms: number) => slowStartWeight(10, closedAt, closedAt + ms, 10_000);
    expect(at(0)).toBeCloseTo(1); // the 10% floor
    expect(at(500)).toBeCloseTo(1); // 5% of the window: still the floor
    expect(at(2_500)).toBeCloseTo(2.5);
    expect(at(5_000)).toBeCloseTo(5);
    expect(at(9_999)).toBeCloseTo(9.999);
    expect(at(10_000)).toBe(10);
    expect(at(60_000)).toBe(10);
  });

  it('gives the full weight when slow start is off or the breaker never opened', () => {
    expect(slowStartWeight(4, undefined, closedAt)).toBe(4);
    expect(slowStartWeight(4, closedAt, closedAt, 0)).toBe(4);
  });

  it('treats a closedAt in the future (a clock behind) as just closed', () => {
    expect(slowStartFraction(closedAt + 5_000, closedAt, 10_000)).toBeCloseTo(0.1);
  });

  it('takes a floor and an aggression: above 1 ramps slower first', () => {
    expect(slowStartFraction(closedAt, closedAt, 10_000, 0.25)).toBe(0.25);
    expect(slowStartFraction(closedAt, closedAt + 5_000, 10_000, 0, 2)).toBeCloseTo(Math.SQRT1_2);
    expect(slowStartFraction(closedAt, closedAt + 2_500, 10_000, 0, 0.5)).toBeCloseTo(0.0625);
  });

  it('defaults to a 30 s window and a 10% floor, as documented', () => {
    expect(slowStartDefaults).toEqual({ windowMs: 30_000, minFraction: 0.1, aggression: 1 });
    expect(slowStartWeight(1, closedAt, closedAt + 15_000)).toBeCloseTo(0.5);
  });

  it('ramps the share of a recovering target over many picks (fake clock)', () => {
    const { clock, advance } = fakeClock(closedAt);
    const random = seededRandom(13);
    const shares: number[] = [];
    for (let step = 0; step < 5; step++) {
      let recovering = 0;
      for (let pick = 0; pick < 4_000; pick++) {
        const weights = [
          { weight: slowStartWeight(1, closedAt, clock.now(), 20_000) },
          { weight: 1 },
        ];
        if (pickByWeight(weights, random) === 0) recovering++;
      }
      shares.push(recovering / 4_000);
      advance(5_000);
    }
    // Expected shares w / (w + 1) for w = 0.1, 0.25, 0.5, 0.75, 1: 9%, 20%, 33%, 43%, 50%.
    // sd of a share over 4,000 picks is at most 0.8%: 4% is five of them.
    const expected = [0.1, 0.25, 0.5, 0.75, 1].map((w) => w / (w + 1));
    shares.forEach((share, index) => {
      expect(Math.abs(share - (expected[index] as number))).toBeLessThan(0.04);
    });
  });
});
