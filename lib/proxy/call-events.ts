import type { ServerResponse } from 'node:http';
import type { ConfigNode, StrategyNode, TargetNode } from '../config/config-tree.js';
import type { LoadBalancerError } from '../errors.js';
import type { BreakerChange } from '../health/health-gate.js';
import type { Metadata } from '../routing/metadata.js';
import type { BudgetSkip } from '../routing/router.js';
import type { Availability, Outcome, SelectionReason } from '../routing/run-plan.js';
import { isRecord } from '../shared/values.js';
import type { EventSink, FailureReason, SelectCandidate, TokenUsage } from '../telemetry/events.js';

/**
 * The events of one request. Builds nothing unless a listener wants it, and makes sure every
 * request ends with exactly one `response` or `error`.
 */
export class CallEvents {
  readonly #startedAt = performance.now();
  #firstByteAt: number | undefined;
  #usage: TokenUsage | undefined;
  #ended = false;
  /** Set once the request's metadata is known; reported by `response` and `error`. */
  metadata: Metadata | undefined = undefined;
  /** Set when a usage budget counts tokens: answers are then read for `usage`. */
  countUsage = false;

  constructor(
    readonly sink: EventSink,
    readonly requestId: string,
  ) {}

  /** Whether anyone listens for usage, so answers are worth inspecting for it. */
  get wantsUsage(): boolean {
    return this.countUsage || this.sink.has('response');
  }

  /** The usage the answer reported so far (the last one seen). */
  get tokenUsage(): TokenUsage | undefined {
    return this.#usage;
  }

  selected(
    node: StrategyNode,
    remaining: readonly ConfigNode[],
    available: readonly ConfigNode[],
    picked: ConfigNode,
    availability: (node: ConfigNode) => Availability,
    reason: SelectionReason,
  ): void {
    if (reason.rule === 'sticky-move' && this.sink.has('sticky-move')) {
      this.sink.emit('sticky-move', {
        requestId: this.requestId,
        node: node.label,
        to: picked.label,
      });
    }
    if (!this.sink.has('select')) return;
    this.sink.emit('select', {
      requestId: this.requestId,
      node: node.label,
      candidates: describeCandidates(node, remaining, available, availability),
      picked: picked.label,
      ...reason,
    });
  }

  budgetSkipped(skip: BudgetSkip): void {
    if (!this.sink.has('budget-skip')) return;
    this.sink.emit('budget-skip', {
      requestId: this.requestId,
      target: skip.target.label,
      provider: skip.target.provider,
      scope: skip.scope,
      limit: skip.limit,
      retryAt: skip.retryAt,
    });
  }

  attempt(target: TargetNode, retry: number, url: string): void {
    this.sink.emit('attempt', {
      requestId: this.requestId,
      target: target.label,
      provider: target.provider,
      retry,
      url,
    });
  }

  retry<R>(target: TargetNode, retry: number, delayMs: number, outcome: Outcome<R>): void {
    this.sink.emit('retry', {
      requestId: this.requestId,
      target: target.label,
      provider: target.provider,
      retry,
      delayMs,
      reason: reasonOf(outcome),
    });
  }

  movedOn<R>(from: ConfigNode, outcome: Outcome<R>): void {
    this.sink.emit('fallback', {
      requestId: this.requestId,
      from: from.label,
      reason: reasonOf(outcome),
    });
  }

  breaker(change: BreakerChange): void {
    this.sink.emit(change.state === 'open' ? 'circuit-open' : 'circuit-close', {
      requestId: this.requestId,
      targetKey: change.key,
      target: change.target.label,
      provider: change.target.provider,
      until: change.until,
    });
  }

  firstByte(): void {
    this.#firstByteAt ??= performance.now();
  }

  usage(body: unknown): void {
    const next = usageOf(body);
    if (next === undefined) return;
    const before = this.#usage;
    // A native Anthropic stream counts input in message_start and output in message_delta.
    this.#usage =
      before !== undefined && next.promptTokens === 0 && before.promptTokens > 0
        ? {
            promptTokens: before.promptTokens,
            completionTokens: next.completionTokens,
            totalTokens: before.promptTokens + next.completionTokens,
          }
        : next;
  }

  /** Reports the provider's answer once it has been fully sent (or the client left). */
  answered(
    res: ServerResponse,
    target: TargetNode,
    status: number,
    stream: boolean,
    retries: () => number,
  ): void {
    const done = () => {
      if (this.#ended) return;
      if (!res.writableFinished) {
        this.failed(
          'ERR_CLIENT_CLOSED',
          499,
          'The client closed the connection before the answer ended',
          target,
        );
        return;
      }
      this.#ended = true;
      const now = performance.now();
      this.sink.emit('response', {
        requestId: this.requestId,
        provider: target.provider,
        target: target.label,
        status,
        stream,
        retries: retries(),
        latencyMs: now - this.#startedAt,
        timeToFirstByteMs: (this.#firstByteAt ?? now) - this.#startedAt,
        usage: this.#usage,
        ...(this.metadata === undefined ? {} : { metadata: { ...this.metadata } }),
      });
    };
    res.once('close', done);
  }

  error(error: LoadBalancerError, target?: TargetNode): void {
    this.failed(error.code, error.status, error.message, target);
  }

  failed(code: string, status: number, message: string, target?: TargetNode): void {
    if (this.#ended) return;
    this.#ended = true;
    this.sink.emit('error', {
      requestId: this.requestId,
      code,
      status,
      message,
      provider: target?.provider,
      target: target?.label,
      ...(this.metadata === undefined ? {} : { metadata: { ...this.metadata } }),
    });
  }
}

export function describeCandidates(
  node: StrategyNode,
  remaining: readonly ConfigNode[],
  available: readonly ConfigNode[],
  availability: (node: ConfigNode) => Availability,
): SelectCandidate[] {
  const total = available.reduce((sum, child) => sum + child.weight, 0);
  return node.targets.map((child) => {
    const candidate: SelectCandidate = {
      target: child.label,
      provider: child.kind === 'target' ? child.provider : undefined,
      weight: child.weight,
      normalizedWeight: available.includes(child) && total > 0 ? child.weight / total : 0,
      available: available.includes(child) && child.weight > 0,
    };
    if (!remaining.includes(child)) candidate.excludedBecause = 'already-failed';
    else if (child.weight === 0) candidate.excludedBecause = 'weight-zero';
    else if (!available.includes(child)) {
      const health = availability(child);
      candidate.excludedBecause = health.overBudget === true ? 'over-budget' : 'circuit-open';
      candidate.retryAt = health.retryAt;
    }
    return candidate;
  });
}

function reasonOf<R>(outcome: Outcome<R>): FailureReason {
  switch (outcome.kind) {
    case 'response':
      return { status: outcome.status };
    case 'failure':
      return { error: outcome.timedOut ? 'timeout' : outcome.detail };
    case 'unavailable':
      return { unavailable: true };
    case 'stopped':
      return { error: 'stopped' };
  }
}

/** OpenAI-shaped usage from a response body or stream chunk, if it has one. */
export function usageOf(body: unknown): TokenUsage | undefined {
  const usage = usageField(body);
  if (!isRecord(usage)) return undefined;
  // OpenAI chat names; Anthropic's and the Responses API's (inbound routes) otherwise.
  const promptTokens =
    usage.prompt_tokens !== undefined
      ? Number(usage.prompt_tokens)
      : Number(usage.input_tokens ?? 0) +
        Number(usage.cache_read_input_tokens ?? 0) +
        Number(usage.cache_creation_input_tokens ?? 0);
  const completionTokens = Number(usage.completion_tokens ?? usage.output_tokens ?? 0);
  const totalTokens = Number(usage.total_tokens ?? promptTokens + completionTokens);
  if (![promptTokens, completionTokens, totalTokens].every(Number.isFinite)) return undefined;
  return { promptTokens, completionTokens, totalTokens };
}

/** `usage`, or the one of an event's `response` (Responses) or `message` (Anthropic). */
function usageField(body: unknown): unknown {
  if (!isRecord(body)) return undefined;
  if (body.usage !== undefined) return body.usage;
  if (isRecord(body.response)) return body.response.usage;
  return isRecord(body.message) ? body.message.usage : undefined;
}
