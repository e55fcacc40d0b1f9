import type { Clock } from '../../lib/index.js';

/** A clock the test moves: `sleep` records the wait and advances time at once. */
export function fakeClock(start = 1_700_000_000_000) {
  const sleeps: number[] = [];
  let now = start;
  const clock: Clock = {
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
  return {
    clock,
    sleeps,
    advance(ms: number) {
      now += ms;
    },
  };
}
