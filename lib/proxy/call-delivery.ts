import type { TargetNode } from '../config/config-tree.js';
import { LoadBalancerError } from '../errors.js';
import type { AttemptOutcome } from './attempt.js';
import type { Call, CallSettings } from './call.js';
import type { CallDriver } from './call-driver.js';
import { budgetExceeded, countTokensWhenSent } from './call-routing.js';
import { isStreamAnswer } from './event-stream.js';
import { sendError } from './send-error.js';
import { handleUpstreamResponse } from './upstream-response.js';

/** Answers the client from the plan's outcome: the provider's answer, or why there is none. */
export function deliver(
  call: Call,
  outcome: AttemptOutcome,
  settings: CallSettings,
  driver: CallDriver,
): void {
  switch (outcome.kind) {
    case 'response': {
      const { attempt, upstream } = outcome.response;
      const target = attempt.prepared.target;
      const stream = isStreamAnswer(upstream, attempt.prepared.adapter);
      call.events.answered(call.res, target, outcome.status, stream, () => call.retries);
      countTokensWhenSent(call, target);
      driver.answerHeaders = answerHeaders(call, target);
      driver.delivered = { prepared: attempt.prepared, status: outcome.status };
      handleUpstreamResponse(attempt, upstream, call.res, driver);
      return;
    }
    case 'failure': {
      const message = `Provider ${outcome.target.provider} ${outcome.detail}`;
      const code = outcome.timedOut ? 'ERR_UPSTREAM_TIMEOUT' : 'ERR_UPSTREAM_UNREACHABLE';
      fail(
        call,
        new LoadBalancerError(code, message),
        answerHeaders(call, outcome.target),
        outcome.target,
      );
      return;
    }
    case 'unavailable': {
      if (outcome.overBudget === true) {
        const { error, seconds } = budgetExceeded(outcome.retryAt, settings.clock.now());
        fail(call, error, { 'retry-after': String(seconds), 'x-portkey-trace-id': call.traceId });
        return;
      }
      const waitSeconds = Math.max(1, Math.ceil((outcome.retryAt - settings.clock.now()) / 1000));
      const error = outcome.rateLimited
        ? new LoadBalancerError(
            'ERR_RATE_LIMITED',
            `Every target of this config is rate-limited by its provider; retry in ${waitSeconds} s`,
            { type: 'rate_limit_error' },
          )
        : new LoadBalancerError(
            'ERR_NO_HEALTHY_TARGET',
            `Every target of this config is ejected after repeated failures; retry in ${waitSeconds} s`,
          );
      fail(call, error, { 'retry-after': String(waitSeconds), 'x-portkey-trace-id': call.traceId });
      return;
    }
    case 'stopped': {
      if (call.clientGone) return;
      const error = new LoadBalancerError(
        'ERR_UPSTREAM_TIMEOUT',
        `No provider answered within the deadline of ${settings.deadline} ms`,
      );
      fail(call, error, { 'x-portkey-trace-id': call.traceId });
      return;
    }
  }
}

function fail(
  call: Call,
  error: LoadBalancerError,
  headers: Record<string, string>,
  target?: TargetNode,
): void {
  call.events.error(error, target);
  sendError(call.res, error, headers);
}

/** Headers this middleware adds to an answer from (or about) a target. */
function answerHeaders(call: Call, target: TargetNode): Record<string, string> {
  return {
    'x-portkey-provider': target.provider,
    'x-portkey-last-used-option-index': target.label,
    'x-portkey-retry-attempt-count': String(call.retries),
    'x-portkey-trace-id': call.traceId,
  };
}
