// Type-checked as an ES module consumer of the built package.
import express from 'express';
import portkeyLoadBalancer, {
  LoadBalancerError,
  type LoadBalancerOptions,
  MemoryStore,
  redisStore,
  type StateStore,
  validateConfig,
} from 'express-portkey-loadbalancer';

const app = express();
const options: LoadBalancerOptions = {
  config: { mode: 'single', options: [{ provider: 'openai' }] },
};
app.use('/internal/llm', portkeyLoadBalancer(options));
const shared: StateStore = redisStore({ sendCommand: async () => null, prefix: 'app:' });
app.use('/replicated', portkeyLoadBalancer({ store: shared, storeTimeout: 50 }));
app.use('/local', portkeyLoadBalancer({ store: new MemoryStore(100) }));
export const code: string | undefined = validateConfig({}).errors[0]?.param;
export const isError = (value: unknown): boolean => value instanceof LoadBalancerError;
