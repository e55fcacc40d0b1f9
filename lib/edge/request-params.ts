import type { ConfigSource } from '../config/config-resolver.js';
import { configLimits } from '../config/limits.js';
import { LoadBalancerError } from '../errors.js';
import { tooDeepPath } from '../shared/nesting-depth.js';
import { isRecord } from '../shared/values.js';
import type { Params } from '../types.js';

/**
 * The request params of a body, bounded: Portkey's original API nests them under `params`, the
 * OpenAI-compatible routes send them as the whole body. Throws a 400 naming the field.
 */
export function requestParams(body: unknown, source: ConfigSource): Params {
  if (!isRecord(body)) {
    const empty = body === undefined ? ': it is empty' : '';
    throw new LoadBalancerError(
      'ERR_BODY_INVALID',
      `The request body must be a JSON object${empty}`,
      {
        param: 'body',
      },
    );
  }
  refuseDeepBody(body, source);
  if (source === 'header') return checkedParams(body, 'body');
  if (!isRecord(body.params)) {
    throw new LoadBalancerError(
      'ERR_BODY_INVALID',
      'params must be an object of request parameters',
      {
        param: 'params',
      },
    );
  }
  return checkedParams(body.params, 'params');
}

/**
 * Refuses a body nested deeper than `configLimits.maxNesting` (counted from the body), before
 * anything copies, validates or serialises it: those recurse and would overflow the stack.
 */
function refuseDeepBody(body: Record<string, unknown>, source: ConfigSource): void {
  const path = tooDeepPath(body, configLimits.maxNesting, source === 'body' ? '' : 'body');
  if (path === undefined) return;
  const code = path.startsWith('config')
    ? 'ERR_CONFIG_INVALID'
    : path.startsWith('params') || source === 'header'
      ? 'ERR_PARAMS_INVALID'
      : 'ERR_BODY_INVALID';
  throw new LoadBalancerError(
    code,
    `${path} nests deeper than the ${configLimits.maxNesting} levels of arrays and objects allowed`,
    { param: path },
  );
}

/** Bounds what params may hold, whichever route they came by. */
function checkedParams(params: Params, path: string): Params {
  const messages = params.messages;
  if (!Array.isArray(messages)) return params;
  if (messages.length > configLimits.maxMessages) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      `${path}.messages has ${messages.length} messages; at most ${configLimits.maxMessages} are accepted`,
      { param: `${path}.messages` },
    );
  }
  for (let index = 0; index < messages.length; index++) {
    const content: unknown = isRecord(messages[index]) ? messages[index].content : undefined;
    if (Array.isArray(content) && content.length > configLimits.maxContentParts) {
      const param = `${path}.messages[${index}].content`;
      throw new LoadBalancerError(
        'ERR_PARAMS_INVALID',
        `${param} has ${content.length} parts; at most ${configLimits.maxContentParts} are accepted`,
        { param },
      );
    }
  }
  return params;
}
