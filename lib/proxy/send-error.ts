import type { ServerResponse } from 'node:http';
import { LoadBalancerError } from '../errors.js';
import type { ErrorShape } from '../inbound/inbound-api.js';

const errorShapeKey = Symbol('portkeyLoadBalancer.errorShape');

type Locals = Record<symbol, unknown>;
type WithLocals = ServerResponse & { locals?: Locals };

/**
 * Sets how errors are worded on this response (Anthropic's shape on `/v1/messages`), for every
 * error answered from here on: the middleware's own and the providers'. Only inbound routes set
 * one; like the attempt, it travels in `res.locals` under a symbol.
 */
export function setErrorShape(res: ServerResponse, shape: ErrorShape): void {
  const withLocals = res as WithLocals;
  withLocals.locals ??= Object.create(null) as Locals;
  withLocals.locals[errorShapeKey] = shape;
}

/** The error shape of a response's route; undefined for OpenAI's. */
export function errorShapeOf(res: ServerResponse): ErrorShape | undefined {
  return (res as WithLocals).locals?.[errorShapeKey] as ErrorShape | undefined;
}

/**
 * Answers with the route's error shape (OpenAI's unless the route set another), or cuts the
 * connection if the answer had already begun.
 */
export function sendError(
  res: ServerResponse,
  error: LoadBalancerError,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const shape = errorShapeOf(res);
  const body = shape === undefined ? error.toJSON() : shape.body(error.status, error.toJSON());
  sendJson(res, error.status, body, headers);
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
