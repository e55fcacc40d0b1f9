import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../lib/index.js';
import {
  admitted,
  clockSkewAllowanceMs,
  counterTtlMs,
  overBudget,
  retryAfterMs,
  retryAfterSeconds,
  usageKey,
  windowOf,
} from '../../lib/routing/usage-budget.js';

const minute = 60_000;
const t0 = 1_700_000_040_000; // a whole minute: 28,333,334 × 60 s

describe('windowOf', () => {
  it('aligns fixed windows to the epoch', () => {
    expect(windowOf(t0)).toEqual({ start: t0, end: t0 + minute, keySuffix: '60000:28333334' });
    expect(windowOf(t0 + minute - 1).start).toBe(t0);
    expect(windowOf(t0 + minute).start).toBe(t0 + minute);
    expect(windowOf(t0 + 1_500, 1_000)).toEqual({
      start: t0 + 1_000,
      end: t0 + 2_000,
      keySuffix: `1000:${(t0 + 1_000) / 1_000}`,
    });
  });

  it('names windows of different lengths apart', () => {
    expect(windowOf(t0, minute).keySuffix).not.toBe(windowOf(t0, 1_000).keySuffix);
  });
});

describe('usageKey and counterTtlMs', () => {
  it('puts metric and window before the scope', () => {
    const window = windowOf(t0);
    expect(usageKey('requests', window, 'openai https://api.openai.com - ab12')).toBe(
      'usage:requests:60000:28333334:openai https://api.openai.com - ab12',
    );
    expect(usageKey('tokens', window, 'vk:team-a')).toBe('usage:tokens:60000:28333334:vk:team-a');
  });

  it('keeps a counter until its window ends, plus the skew allowance', () => {
    const window = windowOf(t0 + 15_000);
    expect(counterTtlMs(window, t0 + 15_000)).toBe(45_000 + clockSkewAllowanceMs);
    // A replica whose clock is past the window still gets a positive TTL.
    expect(counterTtlMs(window, t0 + minute + 1_000)).toBe(clockSkewAllowanceMs);
  });
});

describe('overBudget and admitted', () => {
  it('says which budget is used up', () => {
    expect(overBudget({ requests: 4, tokens: 0 }, { rpm: 5 })).toBeUndefined();
    expect(overBudget({ requests: 5, tokens: 0 }, { rpm: 5 })).toBe('rpm');
    expect(overBudget({ requests: 0, tokens: 999 }, { tpm: 1_000 })).toBeUndefined();
    expect(overBudget({ requests: 0, tokens: 1_000 }, { tpm: 1_000 })).toBe('tpm');
    expect(overBudget({ requests: 9, tokens: 9 }, {})).toBeUndefined();
    expect(overBudget({ requests: 0, tokens: 0 }, { rpm: 0 })).toBe('rpm');
  });

  it('admits exactly rpm requests per window through atomic increments', async () => {
    // Two replicas share a store: each increments and is admitted by the count it got back.
    const store = new MemoryStore();
    const rpm = 5;
    let now = t0 + 10_000;
    const admit = async () => {
      const window = windowOf(now);
      const key = usageKey('requests', window, 'target-a');
      const count = await store.increment(key, 1, now, counterTtlMs(window, now));
      return admitted(count, rpm);
    };
    const first = await Promise.all(Array.from({ length: 8 }, admit));
    expect(first.filter(Boolean)).toHaveLength(5);
    now = t0 + minute; // the next window starts from 0
    const second = await Promise.all(Array.from({ length: 8 }, admit));
    expect(second.filter(Boolean)).toHaveLength(5);
    expect(admitted(1_000, undefined)).toBe(true);
  });

  it('stops a target once its counted tokens reach tpm', async () => {
    const store = new MemoryStore();
    const now = t0 + 1_000;
    const window = windowOf(now);
    const key = usageKey('tokens', window, 'target-a');
    const used = async () => ({
      requests: 0,
      tokens: (await store.counters([key], now))[0] ?? 0,
    });
    await store.increment(key, 600, now, counterTtlMs(window, now));
    expect(overBudget(await used(), { tpm: 1_000 })).toBeUndefined();
    await store.increment(key, 400, now, counterTtlMs(window, now));
    expect(overBudget(await used(), { tpm: 1_000 })).toBe('tpm');
  });
});

describe('retryAfterMs and retryAfterSeconds', () => {
  it('waits until the window ends', () => {
    const window = windowOf(t0 + 42_500);
    expect(retryAfterMs(t0 + 42_500, window.end)).toBe(17_500);
    expect(retryAfterMs(window.end + 5, window.end)).toBe(0);
  });

  it('rounds the header up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(17_500)).toBe(18);
    expect(retryAfterSeconds(18_000)).toBe(18);
    expect(retryAfterSeconds(0)).toBe(1);
  });
});
