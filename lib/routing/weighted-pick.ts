/** Anything that carries a relative weight. */
export interface Weighted {
  readonly weight: number;
}

/**
 * Index of the candidate chosen by weight, with Portkey's algorithm: `r = random() * total`,
 * then the first candidate with `r < weight`, subtracting each weight passed. Weights are
 * relative; a weight of 0 is never chosen. Returns -1 when no candidate has a positive weight.
 */
export function pickByWeight(candidates: readonly Weighted[], random: () => number): number {
  let total = 0;
  let lastPositive = -1;
  for (let index = 0; index < candidates.length; index++) {
    const weight = (candidates[index] as Weighted).weight;
    if (weight > 0) {
      total += weight;
      lastPositive = index;
    }
  }
  if (lastPositive === -1) return -1;
  let remaining = random() * total;
  for (let index = 0; index < lastPositive; index++) {
    const weight = (candidates[index] as Weighted).weight;
    if (weight > 0 && remaining < weight) return index;
    remaining -= weight;
  }
  // Also where rounding leaves `remaining` a hair above the last weight.
  return lastPositive;
}
