import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../lib/proxy/retry-after.js';

const now = Date.parse('2026-01-01T00:00:00Z');

describe('retryAfterMs', () => {
  it('is undefined without any retry header', () => {
    expect(retryAfterMs({}, now)).toBeUndefined();
    expect(retryAfterMs({ 'content-type': 'application/json' }, now)).toBeUndefined();
  });

  it("reads OpenAI's retry-after-ms", () => {
    expect(retryAfterMs({ 'retry-after-ms': '1500' }, now)).toBe(1500);
    expect(retryAfterMs({ 'retry-after-ms': '0' }, now)).toBe(0);
    expect(retryAfterMs({ 'retry-after-ms': '12.5' }, now)).toBe(12.5);
  });

  it("reads Azure's x-ms-retry-after-ms", () => {
    expect(retryAfterMs({ 'x-ms-retry-after-ms': '250' }, now)).toBe(250);
  });

  it('prefers the millisecond headers over retry-after, retry-after-ms first', () => {
    expect(
      retryAfterMs(
        { 'retry-after-ms': '100', 'x-ms-retry-after-ms': '200', 'retry-after': '3' },
        now,
      ),
    ).toBe(100);
    expect(retryAfterMs({ 'x-ms-retry-after-ms': '200', 'retry-after': '3' }, now)).toBe(200);
  });

  it('reads retry-after as seconds', () => {
    expect(retryAfterMs({ 'retry-after': '3' }, now)).toBe(3000);
    expect(retryAfterMs({ 'retry-after': '0' }, now)).toBe(0);
    expect(retryAfterMs({ 'retry-after': '1.5' }, now)).toBe(1500);
  });

  it('reads retry-after as an HTTP date, relative to now', () => {
    expect(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:07 GMT' }, now)).toBe(7000);
  });

  it('reads the obsolete RFC 850 date form', () => {
    expect(retryAfterMs({ 'retry-after': 'Thursday, 01-Jan-26 00:00:04 GMT' }, now)).toBe(4000);
  });

  it('waits 0 for an HTTP date in the past', () => {
    expect(retryAfterMs({ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }, now)).toBe(0);
  });

  it('ignores garbage', () => {
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '' }, now)).toBeUndefined();
    // Date.parse reads these as dates in 2001; they are not HTTP dates.
    expect(retryAfterMs({ 'retry-after': 'soon 1' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': 'retry 5' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after-ms': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'x-ms-retry-after-ms': 'NaN' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after-ms': 'Infinity' }, now)).toBeUndefined();
  });

  it('ignores negative values', () => {
    expect(retryAfterMs({ 'retry-after-ms': '-5' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'x-ms-retry-after-ms': '-1' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '-3' }, now)).toBeUndefined();
  });

  it('falls through an unusable millisecond header to retry-after', () => {
    expect(retryAfterMs({ 'retry-after-ms': 'soon', 'retry-after': '2' }, now)).toBe(2000);
    expect(retryAfterMs({ 'retry-after-ms': '-1', 'retry-after': '2' }, now)).toBe(2000);
  });

  it('treats an empty millisecond header as absent, not as "retry now"', () => {
    expect(retryAfterMs({ 'retry-after-ms': '' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'x-ms-retry-after-ms': '', 'retry-after': '2' }, now)).toBe(2000);
  });
});
