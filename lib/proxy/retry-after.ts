import type { IncomingHttpHeaders } from 'node:http';

const httpDateStart = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/;

/**
 * How long a provider asks us to wait, in milliseconds: `retry-after-ms` (OpenAI),
 * `x-ms-retry-after-ms` (Azure), then `retry-after` as seconds or an HTTP date.
 */
export function retryAfterMs(headers: IncomingHttpHeaders, now: number): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const header = headers[name];
    // Number('') is 0: an empty header must not read as "retry now".
    if (header === undefined || header === '') continue;
    const value = Number(header);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const header = headers['retry-after'];
  if (header === undefined || header === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  // Every HTTP-date form starts with a day name; Date.parse alone takes 'soon 1' for a date.
  const date = httpDateStart.test(header) ? Date.parse(header) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
