import type { Operation, TargetProviderName } from '../types.js';

/** Token counts as OpenAI reports them. */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Fields every request-scoped event carries. */
export interface RequestScoped {
  /** The request's `x-portkey-trace-id` (echoed in the response), or a generated UUID. */
  requestId: string;
}

/** A request reached the middleware. Every `request` is followed by one `response` or `error`. */
export interface RequestEvent extends RequestScoped {
  operation: Operation;
  stream: boolean;
}

/** One candidate of a weighted pick. */
export interface SelectCandidate {
  /** The candidate's path (`config.targets[1]`) or Format 1 index. */
  target: string;
  /** The provider, when the candidate is a single target. */
  provider: TargetProviderName | undefined;
  weight: number;
  /** Its probability in this pick: weight over the sum of the available candidates' weights. */
  normalizedWeight: number;
  /** False when excluded: `weight 0`, or ejected by its circuit breaker until `retryAt`. */
  available: boolean;
  excludedBecause?: 'weight-zero' | 'circuit-open' | 'already-failed' | 'over-budget';
  retryAt?: number;
}

/** A loadbalance or conditional node chose among its targets. */
export interface SelectEvent extends RequestScoped {
  node: string;
  candidates: SelectCandidate[];
  picked: string;
  /**
   * The rule that chose: `weighted`, `sticky-hit` (the session's own target, or where it was
   * held after a move), `sticky-move` (its target was unavailable: moved and held there for
   * the sticky `ttl`), `least-busy`, `least-latency`, `condition` or `default`.
   */
  rule: SelectionRule;
  /** For `condition`: the index of the matching rule in `strategy.conditions`. */
  condition?: number;
  /** Candidates whose weight slow start lowered (their breaker closed recently), by path. */
  slowStart?: string[];
}

export type SelectionRule =
  | 'weighted'
  | 'sticky-hit'
  | 'sticky-move'
  | 'least-busy'
  | 'least-latency'
  | 'condition'
  | 'default';

/**
 * A sticky session moved: its target was unavailable (breaker open, over budget), so it went to
 * its next choice, where it is held for the sticky `ttl`. Emitted only on moves.
 */
export interface StickyMoveEvent extends RequestScoped {
  /** The loadbalance node's path. */
  node: string;
  /** Where the session goes now. */
  to: string;
}

/** A target was skipped for the rest of its window: its `rpm` or `tpm` budget is used up. */
export interface BudgetSkipEvent extends RequestScoped {
  target: string;
  provider: TargetProviderName;
  /** Whose budget: the target's own `rpm`/`tpm`, or its virtual key's. */
  scope: 'target' | 'virtual-key';
  limit: 'rpm' | 'tpm';
  /** Epoch milliseconds the window ends (capacity is free again). */
  retryAt: number;
}

/** A call to a provider is starting. */
export interface AttemptEvent extends RequestScoped {
  target: string;
  provider: TargetProviderName;
  /** 0 for the first try of this target, then 1, 2, ... for retries. */
  retry: number;
  /** Where the call goes (no credentials are ever part of it). */
  url: string;
}

/** Why an attempt did not end the request. */
export interface FailureReason {
  /** The provider's status, when it answered. */
  status?: number;
  /** `timeout`, or the connection error code (`ECONNREFUSED`, ...). */
  error?: string;
  /** Ejected by its circuit breaker. */
  unavailable?: boolean;
}

/** A target will be retried after `delayMs`. */
export interface RetryEvent extends RequestScoped {
  target: string;
  provider: TargetProviderName;
  /** The number of the coming retry, from 1. */
  retry: number;
  delayMs: number;
  reason: FailureReason;
}

/** A fallback moves to its next target, or a loadbalance re-picks, after `from` failed. */
export interface FallbackEvent extends RequestScoped {
  from: string;
  reason: FailureReason;
}

/** A target's circuit breaker opened (ejected until `until`) or closed. */
export interface CircuitEvent extends RequestScoped {
  /** The target's health identity: provider, base URL, deployment and a hash of its key. */
  targetKey: string;
  target: string;
  provider: TargetProviderName;
  until?: number;
}

/** The client got a provider's answer (success or the provider's own error). */
export interface ResponseEvent extends RequestScoped {
  provider: TargetProviderName;
  target: string;
  status: number;
  stream: boolean;
  retries: number;
  /** From the request's arrival to the end of the answer, in milliseconds. */
  latencyMs: number;
  /** From the request's arrival to the first byte of the answer's body, in milliseconds. */
  timeToFirstByteMs: number;
  /** Token counts, when the answer carried them. */
  usage?: TokenUsage;
  /** The request's metadata (`x-portkey-metadata` and `getMetadata`), when it has any. */
  metadata?: Record<string, string>;
}

/** The client got an error of the middleware's own (or went away). */
export interface ErrorEvent extends RequestScoped {
  /** `ERR_*`, or `ERR_CLIENT_CLOSED` when the client left before the answer ended. */
  code: string;
  status: number;
  message: string;
  provider?: TargetProviderName;
  target?: string;
  /** The request's metadata, when it has any (and it was valid). */
  metadata?: Record<string, string>;
}

/**
 * The state store failed (rejected, threw) or did not answer within `storeTimeout`: the request
 * went on with this process's local state. Not tied to a request, and rate-limited: at most one
 * event per 10 seconds per middleware, `count` telling how many failures it stands for. Never
 * carries a key or an error message (either could hold data from your store).
 */
export interface StoreErrorEvent {
  operation:
    | 'init'
    | 'snapshot'
    | 'recordFailure'
    | 'recordSuccess'
    | 'tryProbe'
    | 'releaseProbe'
    | 'increment'
    | 'counters'
    | 'pin';
  reason: 'timeout' | 'error';
  /** The error's `code` or class name (`ECONNREFUSED`, `ClientClosedError`), for `error`. */
  error?: string;
  /** Store failures since the previous `store-error` event, this one included. */
  count: number;
}

/** Every event and its payload. */
export interface LoadBalancerEventMap {
  request: RequestEvent;
  select: SelectEvent;
  'budget-skip': BudgetSkipEvent;
  'sticky-move': StickyMoveEvent;
  attempt: AttemptEvent;
  retry: RetryEvent;
  fallback: FallbackEvent;
  'circuit-open': CircuitEvent;
  'circuit-close': CircuitEvent;
  response: ResponseEvent;
  error: ErrorEvent;
  'store-error': StoreErrorEvent;
}

export type LoadBalancerEventName = keyof LoadBalancerEventMap;

/** Listeners by event name; a listener may return a Promise, whose rejection is ignored too. */
export type LoadBalancerListeners = {
  [Name in LoadBalancerEventName]?: (event: LoadBalancerEventMap[Name]) => unknown;
};

type AnyListener = (event: unknown) => unknown;

/**
 * Delivers events to listeners. A listener that throws or rejects cannot break a request; with
 * no listener for an event, nothing is built or called.
 */
export class EventSink {
  readonly #listeners = new Map<string, AnyListener[]>();

  constructor(sets: readonly LoadBalancerListeners[]) {
    for (const set of sets) {
      for (const [name, listener] of Object.entries(set)) {
        if (typeof listener !== 'function') continue;
        const list = this.#listeners.get(name) ?? [];
        list.push(listener as AnyListener);
        this.#listeners.set(name, list);
      }
    }
  }

  has(name: LoadBalancerEventName): boolean {
    return this.#listeners.has(name);
  }

  emit<Name extends LoadBalancerEventName>(name: Name, event: LoadBalancerEventMap[Name]): void {
    const listeners = this.#listeners.get(name);
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        const result = listener(event);
        if (typeof (result as { catch?: unknown } | undefined)?.catch === 'function') {
          (result as Promise<unknown>).catch(ignore);
        }
      } catch {
        // A listener's failure is its own; the request goes on.
      }
    }
  }
}

function ignore(): void {
  // See emit.
}
