import net from 'node:net';
import { afterEach, expect } from 'vitest';

/**
 * Test-wide guard: every TCP connection must go to loopback. Anything else is refused before a
 * packet leaves (and before any DNS lookup) and recorded, and the test that caused it fails.
 * Installed for every test file through vitest's setupFiles.
 */

const refused: string[] = [];

function isLoopback(host: string): boolean {
  return (
    host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

type Lookup = (hostname: string, options: object, callback: (...args: unknown[]) => void) => void;

function destinationOf(args: unknown[]): {
  host: string;
  isPipe: boolean;
  options?: { lookup?: Lookup };
} {
  const [first, second] = args;
  if (Array.isArray(first)) return destinationOf(first);
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; path?: string; lookup?: Lookup };
    if (options.path !== undefined) return { host: '', isPipe: true };
    return { host: options.host ?? 'localhost', isPipe: false, options };
  }
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { host: '', isPipe: true };
  return { host: typeof second === 'string' ? second : 'localhost', isPipe: false };
}

const originalConnect = net.Socket.prototype.connect;
if (!(originalConnect as { guarded?: boolean }).guarded) {
  const guardedConnect = function (this: net.Socket, ...args: unknown[]) {
    const { host, isPipe, options } = destinationOf(args);
    const lookup = options?.lookup;
    if (!isPipe && !isLoopback(host) && options !== undefined && lookup !== undefined) {
      // A name resolved by the code under test: judge the addresses it resolves to.
      options.lookup = (hostname, lookupOptions, callback) =>
        lookup(hostname, lookupOptions, (error, address, family) => {
          const addresses = Array.isArray(address)
            ? address.map((entry) => (entry as { address: string }).address)
            : [address];
          const outside = addresses.find(
            (entry) => typeof entry === 'string' && entry !== '' && !isLoopback(entry),
          );
          if (error === null && outside !== undefined) {
            refused.push(`${hostname} -> ${String(outside)}`);
            callback(
              Object.assign(new Error(`network guard: ${hostname} resolved outside loopback`), {
                code: 'ECONNREFUSED',
              }),
            );
            return;
          }
          callback(error, address, family);
        });
      return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
    }
    if (!isPipe && !isLoopback(host)) {
      refused.push(host);
      const error = Object.assign(
        new Error(`network guard: connection to ${host} refused in tests`),
        {
          code: 'ECONNREFUSED',
        },
      );
      process.nextTick(() => this.destroy(error));
      return this;
    }
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof originalConnect;
  (guardedConnect as { guarded?: boolean }).guarded = true;
  net.Socket.prototype.connect = guardedConnect;
}

/** Destinations refused so far in this test file. */
export function refusedDestinations(): readonly string[] {
  return refused;
}

afterEach(() => {
  const seen = refused.splice(0);
  expect(seen, 'a test tried to connect outside loopback').toEqual([]);
});
