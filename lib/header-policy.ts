/** Client headers every provider may see: content negotiation and tracing, nothing that identifies. */
export const defaultForwardedHeaders = [
  'accept',
  'accept-language',
  'user-agent',
  'traceparent',
  'tracestate',
] as const;

/** Headers that never leave, whatever a config or option says: credentials, hop-by-hop, framing. */
const neverForwarded = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
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
