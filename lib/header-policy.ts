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
