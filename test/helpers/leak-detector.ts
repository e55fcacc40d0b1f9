import { ServerResponse } from 'node:http';
import { afterEach, expect } from 'vitest';
import {
  EventSink,
  type LoadBalancerEventName,
  type LoadBalancerListeners,
} from '../../lib/telemetry/events.js';

/**
 * Test-wide scan of everything the code under test says: every status line, header and body
 * byte written by any HTTP server in the test process (except the provider simulators, which
 * play the providers), and every event the middleware emits, is searched for the provider keys
 * the tests use. A test that leaks one fails. Installed for every test file through vitest's
 * setupFiles.
 */

const secrets = new Set<string>();
const leaks: string[] = [];

/** Adds a secret the scan must never find in an answer. */
export function registerSecret(secret: string): void {
  if (secret.length >= 8) secrets.add(secret);
}

/** Marks a response as a simulated provider's, which the scan skips. */
export const simulatorResponse = Symbol.for('express-portkey-loadbalancer.test.simulator-response');

function scan(res: ServerResponse, chunk: unknown, where: string): void {
  if (
    (res as unknown as Record<symbol, unknown>)[simulatorResponse] === true ||
    chunk === undefined ||
    chunk === null
  )
    return;
  const text =
    typeof chunk === 'string'
      ? chunk
      : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array
        ? Buffer.from(chunk).toString('utf8')
        : JSON.stringify(chunk);
  for (const secret of secrets) {
    if (text.includes(secret)) leaks.push(`${where} contains a key ending ${secret.slice(-4)}`);
  }
}

const prototype = ServerResponse.prototype as unknown as Record<
  string,
  (...args: unknown[]) => unknown
> & { guarded?: boolean };
if (prototype.guarded !== true) {
  prototype.guarded = true;
  for (const method of ['write', 'end'] as const) {
    const original = prototype[method] as (...args: unknown[]) => unknown;
    prototype[method] = function (this: ServerResponse, ...args: unknown[]) {
      if (typeof args[0] !== 'function') scan(this, args[0], `response ${method}`);
      return original.apply(this, args);
    };
  }
  const setHeader = prototype.setHeader as (...args: unknown[]) => unknown;
  prototype.setHeader = function (this: ServerResponse, name: unknown, value: unknown) {
    scan(this, `${String(name)}: ${String(value)}`, 'a response header');
    return setHeader.call(this, name, value);
  };
  const writeHead = prototype.writeHead as (...args: unknown[]) => unknown;
  prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    for (const arg of args.slice(1))
      if (typeof arg === 'object') scan(this, arg, 'a response header');
    return writeHead.apply(this, args);
  };
}

function scanEvent(name: string, event: unknown): void {
  const text = JSON.stringify(event) ?? '';
  for (const secret of secrets) {
    const leak = `event ${name} contains a key ending ${secret.slice(-4)}`;
    if (text.includes(secret) && !leaks.includes(leak)) leaks.push(leak);
  }
}

// Every payload the middleware emits is scanned before any listener sees it. `has()` stays
// honest, so a middleware built without listeners takes the production path that builds no event.
const sink = EventSink.prototype as unknown as {
  emit: (name: string, event: unknown) => void;
  scanned?: boolean;
};
if (sink.scanned !== true) {
  sink.scanned = true;
  const emit = sink.emit;
  sink.emit = function (this: unknown, name: string, event: unknown) {
    scanEvent(name, event);
    emit.call(this, name, event);
  };
}

const eventNames: readonly LoadBalancerEventName[] = [
  'request',
  'select',
  'attempt',
  'retry',
  'fallback',
  'circuit-open',
  'circuit-close',
  'response',
  'error',
];

/**
 * A listener for every event that scans its payload: `simulatorOptions()` adds it so that the
 * suite's middlewares build every event (and the emit scan above sees each of them).
 */
export const scanningListeners: LoadBalancerListeners = Object.fromEntries(
  eventNames.map((name) => [name, (event: unknown) => scanEvent(name, event)]),
);

afterEach(() => {
  const found = leaks.splice(0);
  expect(found, 'a provider key reached a client').toEqual([]);
});
