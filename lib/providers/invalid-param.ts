import { LoadBalancerError } from '../errors.js';

/** A request parameter a provider's translation cannot take: a 400 naming `params.<param>`. */
export function invalidParam(param: string, message: string): LoadBalancerError {
  return new LoadBalancerError('ERR_PARAMS_INVALID', message, { param: `params.${param}` });
}
