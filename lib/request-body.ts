import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import { LoadBalancerError } from './errors.js';
import { sendError } from './proxy/send-error.js';

type JsonParser = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * The JSON body, whether or not the host app already parsed it: an object from its own
 * `express.json()`, text or a Buffer from `express.text()`/`express.raw()`, or the raw stream.
 */
export function readJsonBody(
  req: Request,
  res: Response,
  parse: JsonParser,
  bodyLimit: number | string,
  then: (body: unknown) => void,
): void {
  const parsed: unknown = req.body;
  if (
    parsed !== undefined &&
    !(isObject(parsed) && Object.keys(parsed).length === 0 && req.readable)
  ) {
    if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
      try {
        then(JSON.parse(parsed.toString()));
      } catch {
        sendError(res, invalidJson());
      }
      return;
    }
    then(parsed);
    return;
  }
  parse(req, res, (error) => {
    if (error === undefined) {
      then(req.body);
      return;
    }
    sendError(res, bodyError(error, bodyLimit));
  });
}

function bodyError(error: unknown, bodyLimit: number | string): LoadBalancerError {
  const type = (error as { type?: string }).type;
  switch (type) {
    case 'entity.too.large':
      return new LoadBalancerError(
        'ERR_BODY_TOO_LARGE',
        `The request body is larger than the limit of ${String(bodyLimit)}`,
        { param: 'body' },
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new LoadBalancerError(
        'ERR_BODY_UNSUPPORTED_ENCODING',
        'The request body encoding is not supported',
        {
          param: 'body',
        },
      );
    default:
      return invalidJson();
  }
}

function invalidJson(): LoadBalancerError {
  return new LoadBalancerError('ERR_BODY_INVALID_JSON', 'The request body is not valid JSON', {
    param: 'body',
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
