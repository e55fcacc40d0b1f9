import { describe, expect, it } from 'vitest';
import { pickByWeight } from '../../lib/routing/weighted-pick.js';
import { seededRandom, sequenceRandom } from '../helpers/random.js';

const weights = (...values: number[]) => values.map((weight) => ({ weight }));

describe('pickByWeight', () => {
  it("walks the targets in order with Portkey's algorithm", () => {
    const candidates = weights(0.5, 0.7);
    // total 1.2: r < 0.5 -> 0, otherwise 1.
    expect(pickByWeight(candidates, sequenceRandom(0))).toBe(0);
    expect(pickByWeight(candidates, sequenceRandom(0.41))).toBe(0);
    expect(pickByWeight(candidates, sequenceRandom(0.42))).toBe(1);
    expect(pickByWeight(candidates, sequenceRandom(0.9999))).toBe(1);
  });

  it('treats weights as relative: 0.5 and 0.7 give 41.7% / 58.3%', () => {
    const random = seededRandom(1);
    const counts = [0, 0];
    const total = 20_000;
    for (let index = 0; index < total; index++) {
      const picked = pickByWeight(weights(0.5, 0.7), random);
      counts[picked] = (counts[picked] ?? 0) + 1;
    }
    // sd = sqrt(20000 * 0.417 * 0.583) ≈ 70: ±350 is five standard deviations.
    expect(counts[0]).toBeGreaterThan(0.4167 * total - 350);
    expect(counts[0]).toBeLessThan(0.4167 * total + 350);
  });

  it('never picks a zero weight, wherever it stands', () => {
    for (const value of [0, 0.3, 0.5, 0.99999]) {
      expect(pickByWeight(weights(0, 1, 0), sequenceRandom(value))).toBe(1);
      expect(pickByWeight(weights(1, 0), sequenceRandom(value))).toBe(0);
      expect(pickByWeight(weights(0, 1), sequenceRandom(value))).toBe(1);
    }
  });

  it('returns -1 when no candidate has a positive weight', () => {
    expect(pickByWeight(weights(0, 0), Math.random)).toBe(-1);
    expect(pickByWeight([], Math.random)).toBe(-1);
  });

  it('picks the last positive target when random() rounds up to the total', () => {
    expect(pickByWeight(weights(0.1, 0.2, 0), () => 0.9999999999999999)).toBe(1);
  });
});
