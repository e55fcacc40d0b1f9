/** Client headers every provider may see: content negotiation and tracing, nothing that identifies. */
export const defaultForwardedHeaders = [
  'accept',
  'accept-language',
  'user-agent',
  'traceparent',
  'tracestate',
] as const;

/** Hop-by-hop headers: they describe one connection and never cross a proxy, either way. */
export const hopByHopHeaders = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
] as const;

/** Headers that never leave, whatever a config or option says: credentials, hop-by-hop, framing. */
const neverForwarded = new Set<string>([
  ...hopByHopHeaders,
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'host',
  'expect',
  'content-length',
  'content-encoding',
  'accept-encoding',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
]);

/** Whether a client header may be forwarded to a provider when a server or config asks. */
export function isForwardable(name: string): boolean {
  const lower = name.toLowerCase();
  return !neverForwarded.has(lower) && !lower.startsWith('x-portkey-');
}

// Node's own rules (`_http_common`): a header name is an RFC 7230 token; a value may hold tab,
// printable ASCII and Latin-1, nothing else. Checked up front so a bad value is an error naming
// its option instead of a throw while an upstream request is being built.
const headerNamePattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The characters of a header value, as a regular expression class body (the schema uses it too). */
export const headerValueChars = '\\t\\x20-\\x7e\\x80-\\xff';
const invalidHeaderValueChar = new RegExp(`[^${headerValueChars}]`);

/** Whether Node accepts `name` as a header name. */
export function isHeaderName(name: string): boolean {
  return headerNamePattern.test(name);
}

/** Whether Node accepts `value` as a header value (no CR, LF, NUL, other controls, > U+00FF). */
export function isHeaderValue(value: string): boolean {
  return !invalidHeaderValueChar.test(value);
}
