import { createHash } from 'node:crypto';
import { ownValue } from './own-value.js';

/**
 * Weighted rendezvous hashing (highest random weight) for sticky sessions. Every replica
 * computes the same order from the session key and the candidates alone, so a session lands
 * on the same target everywhere without shared state; the store only needs to remember
 * sessions that moved (their first choice was unavailable).
 *
 * Each candidate scores `-weight / ln(u)`, `u` in (0, 1) drawn from a hash of key and id: the
 * highest score wins with probability `weight / Σ weights` (Schindelhauer & Schomaker's
 * weighted variant), and removing a candidate moves only the keys it held, each to its
 * second choice.
 */

/** A target that may be chosen: a stable id (its position or name in the config) and weight. */
export interface RendezvousCandidate {
  readonly id: string;
  readonly weight: number;
}

/**
 * Candidate ids in preference order for `key`: the first is the sticky choice, the next ones
 * are where the session goes when those before are unavailable. Candidates with a weight of 0
 * (or not a finite positive number) are left out, as a weighted pick never chooses them. Ties
 * (practically impossible with 53-bit hashes) go to the smaller id, so the order is total.
 */
export function rendezvousOrder(key: string, candidates: readonly RendezvousCandidate[]): string[] {
  const scored: { id: string; score: number }[] = [];
  for (const { id, weight } of candidates) {
    if (!(weight > 0) || !Number.isFinite(weight)) continue;
    scored.push({ id, score: -weight / Math.log(unitHash(key, id)) });
  }
  scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return scored.map((entry) => entry.id);
}

/**
 * A number in (0, 1) from SHA-256 of key and id: the same in every process and version of
 * Node (unlike a seeded `Math.random`), and uniform enough that the weights hold. The NUL
 * separator keeps `("ab", "c")` and `("a", "bc")` apart.
 */
function unitHash(key: string, id: string): number {
  const digest = createHash('sha256').update(key).update('\0').update(id).digest();
  // 53 bits: all a double holds exactly. +0.5 keeps u off 0 and 1, where ln(u) is -∞ or 0.
  const high = digest.readUInt32BE(0) >>> 11; // 21 bits
  const low = digest.readUInt32BE(4); // 32 bits
  return (high * 2 ** 32 + low + 0.5) / 2 ** 53;
}

/** What a sticky key may be built from: the metadata, the body's params and request headers. */
export interface StickyFacts {
  metadata?: Readonly<Record<string, string>> | undefined;
  params?: Readonly<Record<string, unknown>> | undefined;
  /** Node's `IncomingHttpHeaders`: lower-case names. */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>> | undefined;
}

/** A `hash_fields` entry: `metadata.<name>`, `params.<path>` or `headers.<name>`. */
export const stickyFieldPattern =
  '^(metadata\\.[^\\s]{1,128}|params\\.[A-Za-z0-9_.-]{1,128}|headers\\.[A-Za-z0-9-]{1,64})$';

/** The longest value of one field that goes into a key; longer ones are cut (then hashed). */
export const maxStickyValueLength = 1024;

/**
 * The session key for `hashFields` (`["metadata.session_id", "params.user", "headers.x-session"]`),
 * or undefined when none of the fields has a value: such a request has no session and gets an
 * ordinary weighted pick. A field that is missing while others are present counts as empty, so
 * `{session_id: "a"}` and `{session_id: "a", user: undefined}` are the same session.
 *
 * The key is a SHA-256 digest (43 base64url characters) of the field names and values: bounded
 * in length whatever the values, safe in a store key, and it does not put session ids or user
 * ids in the store or in events. Values are cut at {@link maxStickyValueLength} characters before
 * hashing so a huge value costs little; numbers and booleans count by their text, other
 * non-string values (objects, arrays) as missing, since their key order is not stable.
 */
export function stickyKeyOf(hashFields: readonly string[], facts: StickyFacts): string | undefined {
  const hash = createHash('sha256');
  let found = false;
  for (const field of hashFields) {
    const value = fieldValue(field, facts);
    if (value !== undefined) found = true;
    // Length-prefixed parts: no value can forge the boundary between two fields.
    const part = value === undefined ? '' : value.slice(0, maxStickyValueLength);
    hash.update(`${field.length}:${field}${part.length}:${part}`);
  }
  return found ? hash.digest('base64url') : undefined;
}

function fieldValue(field: string, facts: StickyFacts): string | undefined {
  const dot = field.indexOf('.');
  if (dot === -1) return undefined;
  const source = field.slice(0, dot);
  const name = field.slice(dot + 1);
  switch (source) {
    case 'metadata':
      return textOf(ownValue(facts.metadata, name));
    case 'params': {
      let value: unknown = facts.params;
      for (const step of name.split('.')) value = ownValue(value, step);
      return textOf(value);
    }
    case 'headers': {
      const value = ownValue(facts.headers, name.toLowerCase());
      return Array.isArray(value) ? textOf(value.join(', ')) : textOf(value);
    }
    default:
      return undefined;
  }
}

/** Text of a scalar; an empty string is no value (a blank header is not a session). */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
