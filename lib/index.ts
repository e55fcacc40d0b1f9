export { type ConfigValidationResult, validateConfig } from './config/normalize.js';
export { configSchema } from './config/schema.js';
export type { ConfigProblem } from './config/validate.js';
export {
  type ErrorCode,
  type ErrorType,
  errorCodes,
  LoadBalancerError,
  type OpenAIErrorBody,
} from './errors.js';
export { MemoryHealthStore } from './health/memory-store.js';
export { portkeyLoadBalancer, portkeyLoadBalancer as default } from './load-balancer.js';
export type {
  AnthropicOptions,
  BackoffOptions,
  CircuitBreakerOptions,
  Clock,
  HealthRecord,
  HealthStore,
  LoadBalancerOptions,
  Operation,
  Params,
  PortkeyConfig,
  PortkeyConfigV1,
  PortkeyOption,
  PortkeyRetry,
  PortkeyTarget,
  ProviderName,
  ProviderOptions,
  RequestConfigPolicy,
  StrategyMode,
  VirtualKey,
} from './types.js';
