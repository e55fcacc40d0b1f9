import type { ServerResponse } from 'node:http';
import { LoadBalancerError } from '../errors.js';

/** Answers with the OpenAI error shape, or cuts the connection if the answer had already begun. */
export function sendError(
  res: ServerResponse,
  error: LoadBalancerError,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, error.toJSON(), headers);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Like {@link sendJson} for a body already serialised (and, where needed, redacted). */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  payload: string,
  headers: Record<string, string | string[]> = {},
): void {
  for (const name in headers) res.setHeader(name, headers[name] as string | string[]);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  res.end(payload);
}

/** Any thrown value as a LoadBalancerError; unknown ones become ERR_INTERNAL without their message. */
export function asLoadBalancerError(error: unknown): LoadBalancerError {
  if (error instanceof LoadBalancerError) return error;
  return new LoadBalancerError('ERR_INTERNAL', 'The load balancer failed to handle the request', {
    cause: error,
  });
}
