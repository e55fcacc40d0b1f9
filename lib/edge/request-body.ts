import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Request, Response } from 'express';
import getRawBody from 'raw-body';
import { LoadBalancerError } from '../errors.js';
import { sendError } from '../proxy/send-error.js';
import { isRecord as isObject } from '../shared/values.js';

/**
 * The JSON body, whether or not the host app already parsed it: an object from its own
 * `express.json()`, text or a Buffer from `express.text()`/`express.raw()`, or the raw stream.
 * `bytes` are the (inflated) bytes it was parsed from, when this middleware read them.
 */
export function readJsonBody(
  req: Request,
  res: Response,
  bodyLimit: number | string,
  then: (body: unknown, bytes: Buffer | undefined) => void,
): void {
  const parsed: unknown = req.body;
  if (
    parsed !== undefined &&
    !(isObject(parsed) && Object.keys(parsed).length === 0 && req.readable)
  ) {
    if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
      try {
        then(JSON.parse(parsed.toString()), Buffer.isBuffer(parsed) ? parsed : undefined);
      } catch {
        sendError(res, invalidJson());
      }
      return;
    }
    then(parsed, undefined);
    return;
  }
  const source = decodedStream(req);
  if (source === undefined) {
    sendError(res, unsupportedEncoding());
    return;
  }
  // raw-body (what body-parser uses underneath) with JSON.parse: the same limits and checks,
  // without body-parser's content-type and charset machinery on every request.
  const length = source === req ? req.headers['content-length'] : undefined;
  getRawBody(source, { length, limit: bodyLimit }, (error, bytes) => {
    if (error) {
      sendError(res, bodyError(error, bodyLimit));
      return;
    }
    // An empty body stays undefined, as `null` stays null: both are refused, never sent as `{}`.
    let body: unknown;
    try {
      body = bytes.length === 0 ? undefined : JSON.parse(bytes.toString('utf8'));
    } catch {
      sendError(res, invalidJson());
      return;
    }
    then(body, bytes);
  });
}

/** The body as sent, inflated when the client compressed it; undefined for unknown encodings. */
function decodedStream(req: Request): Readable | undefined {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  switch (encoding) {
    case 'identity':
      return req;
    case 'gzip':
    case 'x-gzip':
      return req.pipe(createGunzip());
    case 'deflate':
      return req.pipe(createInflate());
    case 'br':
      return req.pipe(createBrotliDecompress());
    default:
      return undefined;
  }
}

function unsupportedEncoding(): LoadBalancerError {
  return new LoadBalancerError(
    'ERR_BODY_UNSUPPORTED_ENCODING',
    'The request body encoding is not supported',
    {
      param: 'body',
    },
  );
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
    default:
      return invalidJson();
  }
}

function invalidJson(): LoadBalancerError {
  return new LoadBalancerError('ERR_BODY_INVALID_JSON', 'The request body is not valid JSON', {
    param: 'body',
  });
}
