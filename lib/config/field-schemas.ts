import { headerValueChars } from '../security/header-policy.js';
import { configLimits } from './limits.js';

/**
 * JSON Schemas of the values config fields carry, shared by the config schema and the
 * credential fields each provider declares.
 */

/**
 * What Node accepts in a header value: tab, printable ASCII and Latin-1. Fields sent as headers
 * carry it, so a CR, LF or NUL is a 400 naming the field instead of a throw while the upstream
 * request is built (or a header injected into it).
 */
export const headerValuePattern = `^[${headerValueChars}]*$`;

/** A key or token: non-empty, bounded, and safe in a header. */
export const secretSchema = {
  type: 'string',
  minLength: 1,
  maxLength: configLimits.maxStringLength,
  pattern: headerValuePattern,
} as const;

/** A short value sent as a header (an organization or project id). */
export const headerValueSchema = {
  type: 'string',
  maxLength: 256,
  pattern: headerValuePattern,
} as const;

/** A value that reaches a host name, path or query: only the characters `pattern` allows. */
export function patternSchema(pattern: string): object {
  return { type: 'string', pattern };
}
