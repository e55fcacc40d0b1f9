export { configSchema } from './config/schema.js';
export type { ConfigProblem } from './config/validate.js';
export { type ConfigValidationResult, validateConfig } from './config/validate-config.js';
export {
  type ErrorCode,
  type ErrorType,
  errorCodes,
  LoadBalancerError,
  type OpenAIErrorBody,
} from './errors.js';
export { MemoryStore } from './health/memory-store.js';
export { type RedisStoreOptions, redisStore } from './health/redis-store.js';
export { portkeyLoadBalancer, portkeyLoadBalancer as default } from './load-balancer.js';
export type {
  AttemptEvent,
  BudgetSkipEvent,
  CircuitEvent,
  ErrorEvent,
  FailureReason,
  FallbackEvent,
  LoadBalancerEventMap,
  LoadBalancerEventName,
  LoadBalancerListeners,
  RequestEvent,
  ResponseEvent,
  RetryEvent,
  SelectCandidate,
  SelectEvent,
  SelectionRule,
  StickyMoveEvent,
  StoreErrorEvent,
  TokenUsage,
} from './telemetry/events.js';
export {
  type PromClientLike,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
  prometheusMetrics,
  type RegistryLike,
} from './telemetry/metrics.js';
export type {
  AnthropicOptions,
  BackoffOptions,
  CircuitBreakerOptions,
  Clock,
  FailurePolicy,
  LoadBalancerOptions,
  MaybePromise,
  OpenAICompatibleProviderOptions,
  Operation,
  Params,
  PinMove,
  PortkeyConfig,
  PortkeyConfigV1,
  PortkeyOption,
  PortkeyRetry,
  PortkeyStrategy,
  PortkeyTarget,
  ProviderName,
  ProviderOptions,
  ProvidersOptions,
  RequestConfigPolicy,
  RequestMetadata,
  StateStore,
  StrategyMode,
  SuccessPolicy,
  TargetHealth,
  TargetProviderName,
  VirtualKey,
} from './types.js';
