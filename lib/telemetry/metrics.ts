import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoadBalancerListeners, ResponseEvent } from './events.js';

type Labels = Record<string, string>;

interface CounterLike {
  inc(labels: Labels, value?: number): void;
}
interface GaugeLike {
  inc(value?: number): void;
  dec(value?: number): void;
  set(labels: Labels, value: number): void;
}
interface HistogramLike {
  observe(labels: Labels, value: number): void;
}
interface MetricConfiguration<R> {
  name: string;
  help: string;
  labelNames?: readonly string[];
  buckets?: number[];
  registers?: R[];
}

/** The parts of a prom-client `Registry` the metrics use. */
export interface RegistryLike {
  readonly contentType: string;
  metrics(): Promise<string>;
  getSingleMetric(name: string): unknown;
}

/** The parts of the `prom-client` module the metrics use. */
export interface PromClientLike<R extends RegistryLike = RegistryLike> {
  Counter: new (configuration: MetricConfiguration<R>) => CounterLike;
  Gauge: new (configuration: MetricConfiguration<R>) => GaugeLike;
  Histogram: new (configuration: MetricConfiguration<R>) => HistogramLike;
  register: R;
}

export interface PrometheusMetricsOptions<R extends RegistryLike = RegistryLike> {
  /** The registry to register the metrics in. Defaults to prom-client's global `register`. */
  registry?: R;
  /** Prefix of every metric name. Defaults to `'llm_lb_'`. */
  prefix?: string;
  /** Buckets of the latency histograms, in seconds. Defaults to `[0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]`. */
  latencyBuckets?: number[];
}

export interface PrometheusMetrics {
  /** Pass to the middleware's `on` option (alone or beside your own listeners). */
  listeners: LoadBalancerListeners;
  registry: RegistryLike;
  /** Serves the registry in Prometheus' text format: `app.get('/metrics', metrics.handler)`. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

const defaultBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Prometheus metrics for the load balancer through `prom-client` (an optional peer dependency):
 * you pass the module, so the package itself never loads it.
 *
 * @example
 * import * as promClient from 'prom-client';
 * const metrics = prometheusMetrics(promClient);
 * app.get('/metrics', metrics.handler);
 * app.use('/internal/llm', portkeyLoadBalancer({ on: metrics.listeners }));
 */
export function prometheusMetrics<R extends RegistryLike>(
  client: PromClientLike<R>,
  options: PrometheusMetricsOptions<R> = {},
): PrometheusMetrics {
  const registry = options.registry ?? client.register;
  const prefix = options.prefix ?? 'llm_lb_';
  const buckets = options.latencyBuckets ?? defaultBuckets;

  // Creating the middleware twice (tests, hot reload) reuses the registered metrics.
  function metric<T>(
    kind: new (configuration: MetricConfiguration<R>) => T,
    configuration: MetricConfiguration<R>,
  ): T {
    const existing = registry.getSingleMetric(configuration.name);
    return (existing as T | undefined) ?? new kind({ ...configuration, registers: [registry] });
  }

  const requests = metric(client.Counter, {
    name: `${prefix}requests_total`,
    help: 'Requests answered, by provider, target and HTTP status (provider "none": refused before any provider).',
    labelNames: ['provider', 'target', 'status'],
  });
  const duration = metric(client.Histogram, {
    name: `${prefix}request_duration_seconds`,
    help: 'Time from the request to the end of the answer, in seconds.',
    labelNames: ['provider', 'target'],
    buckets,
  });
  const firstToken = metric(client.Histogram, {
    name: `${prefix}time_to_first_token_seconds`,
    help: 'Time from the request to the first streamed byte, in seconds (streams only).',
    labelNames: ['provider', 'target'],
    buckets,
  });
  const tokens = metric(client.Counter, {
    name: `${prefix}tokens_total`,
    help: 'Tokens reported by providers, by type (prompt or completion).',
    labelNames: ['provider', 'target', 'type'],
  });
  const inFlight = metric(client.Gauge, {
    name: `${prefix}in_flight_requests`,
    help: 'Requests being handled now.',
  });
  const retries = metric(client.Counter, {
    name: `${prefix}retries_total`,
    help: 'Retries of a target.',
    labelNames: ['provider', 'target'],
  });
  const fallbacks = metric(client.Counter, {
    name: `${prefix}fallbacks_total`,
    help: 'Times a strategy moved past a failed target.',
    labelNames: ['from'],
  });
  const breaker = metric(client.Gauge, {
    name: `${prefix}circuit_open`,
    help: 'Whether a target is ejected by its circuit breaker (1) or not (0), by target identity.',
    labelNames: ['provider', 'target_key'],
  });

  const storeErrors = metric(client.Counter, {
    name: `${prefix}store_errors_total`,
    help: 'State store operations that failed or timed out and fell back to local state, by reason.',
    labelNames: ['operation', 'reason'],
  });

  const budgetSkips = metric(client.Counter, {
    name: `${prefix}budget_skips_total`,
    help: 'Targets skipped by a request because their rpm or tpm budget was used up, by limit and whose budget (target or virtual-key).',
    labelNames: ['provider', 'target', 'limit', 'scope'],
  });
  const stickyMoves = metric(client.Counter, {
    name: `${prefix}sticky_moves_total`,
    help: 'Sticky sessions moved off an unavailable target, by loadbalance node.',
    labelNames: ['node'],
  });

  function answered(event: ResponseEvent): void {
    const labels = { provider: event.provider, target: event.target };
    requests.inc({ ...labels, status: String(event.status) });
    duration.observe(labels, event.latencyMs / 1000);
    if (event.stream) firstToken.observe(labels, event.timeToFirstByteMs / 1000);
    if (event.usage !== undefined) {
      tokens.inc({ ...labels, type: 'prompt' }, event.usage.promptTokens);
      tokens.inc({ ...labels, type: 'completion' }, event.usage.completionTokens);
    }
    inFlight.dec();
  }

  return {
    registry,
    listeners: {
      request: () => inFlight.inc(),
      response: answered,
      error: (event) => {
        requests.inc({
          provider: event.provider ?? 'none',
          target: event.target ?? 'none',
          status: String(event.status),
        });
        inFlight.dec();
      },
      retry: (event) => retries.inc({ provider: event.provider, target: event.target }),
      fallback: (event) => fallbacks.inc({ from: event.from }),
      'circuit-open': (event) =>
        breaker.set({ provider: event.provider, target_key: event.targetKey }, 1),
      'circuit-close': (event) =>
        breaker.set({ provider: event.provider, target_key: event.targetKey }, 0),
      'budget-skip': (event) =>
        budgetSkips.inc({
          provider: event.provider,
          target: event.target,
          limit: event.limit,
          scope: event.scope,
        }),
      'sticky-move': (event) => stickyMoves.inc({ node: event.node }),
      'store-error': (event) =>
        storeErrors.inc({ operation: event.operation, reason: event.reason }, event.count),
    },
    handler: (_req, res) => {
      registry.metrics().then(
        (text) => {
          res.setHeader('content-type', registry.contentType);
          res.end(text);
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
    },
  };
}
