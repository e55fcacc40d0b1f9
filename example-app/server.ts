import { type LoadBalancerOptions, redisStore, type StateStore } from '../lib/index.js';
import {
  startAnthropicSimulator,
  startAzureOpenAISimulator,
  startBedrockSimulator,
  startGeminiSimulator,
  startOpenAISimulator,
} from '../simulators/index.js';
import { createExampleApp, defaultConfig, type ProviderKeys, virtualKeysOf } from './app.js';

/**
 * `npm start`. With provider keys in the environment it talks to the real providers; without
 * any, it starts local simulators on 127.0.0.1 and routes there, so the README's requests work
 * on a fresh machine.
 */

const env = process.env;
const port = Number(env.PORT ?? 8787);
const host = env.HOST ?? '127.0.0.1';

function keysFromEnvironment(): ProviderKeys {
  const keys: ProviderKeys = {};
  if (env.OPENAI_API_KEY) keys.openai = env.OPENAI_API_KEY;
  if (env.ANTHROPIC_API_KEY) keys.anthropic = env.ANTHROPIC_API_KEY;
  // Google's SDKs read either name.
  const googleKey = env.GEMINI_API_KEY || env.GOOGLE_API_KEY;
  if (googleKey) keys.google = googleKey;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY && env.AWS_REGION) {
    keys.bedrock = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
      region: env.AWS_REGION,
    };
  }
  if (env.AZURE_OPENAI_API_KEY && env.AZURE_OPENAI_RESOURCE && env.AZURE_OPENAI_DEPLOYMENT) {
    keys.azure = {
      apiKey: env.AZURE_OPENAI_API_KEY,
      deployment: {
        resource_name: env.AZURE_OPENAI_RESOURCE,
        deployment_id: env.AZURE_OPENAI_DEPLOYMENT,
        api_version: env.AZURE_OPENAI_API_VERSION ?? '2024-10-21',
      },
    };
  }
  return keys;
}

/**
 * With `REDIS_URL` set, circuit-breaker state lives in Redis, shared by every replica of the app
 * (node-redis here; any client with a `sendCommand`-style call works). Without it, in memory.
 */
async function stateStore(): Promise<StateStore | undefined> {
  const url = env.REDIS_URL;
  if (!url) {
    console.log(
      'State store: in-memory (this process only; set REDIS_URL to share it between replicas)',
    );
    return undefined;
  }
  const { createClient } = await import('redis');
  const client = createClient({ url });
  // node-redis reconnects by itself; meanwhile the load balancer serves from local state.
  client.on('error', (error: Error) => console.error(`Redis: ${error.message}`));
  await client.connect();
  const prefix = env.REDIS_PREFIX ?? 'pklb:';
  console.log(`State store: Redis at ${new URL(url).host} (prefix ${prefix})`);
  return redisStore({ sendCommand: (args) => client.sendCommand(args), prefix });
}

async function main(): Promise<void> {
  let keys = keysFromEnvironment();
  let loadBalancer: LoadBalancerOptions;
  const simulated = Object.keys(keys).length === 0;
  if (simulated) {
    const [openai, anthropic, azure, google, bedrock] = await Promise.all([
      startOpenAISimulator({ chunkDelayMs: 40 }),
      startAnthropicSimulator({ chunkDelayMs: 40 }),
      startAzureOpenAISimulator({ chunkDelayMs: 40 }),
      startGeminiSimulator({ chunkDelayMs: 40 }),
      // Demo mode: any well-formed SigV4 signature scoped to us-east-1 verifies.
      startBedrockSimulator({ chunkDelayMs: 40, region: 'us-east-1' }),
    ]);
    keys = {
      openai: 'sk-demo-openai',
      anthropic: 'sk-ant-demo',
      google: 'demo-google-key',
      bedrock: {
        accessKeyId: 'AKIADEMODEMODEMO0001',
        secretAccessKey: 'demo-aws-secret-key',
        region: 'us-east-1',
      },
      azure: {
        apiKey: 'demo-azure-key',
        deployment: {
          resource_name: 'demo-resource',
          deployment_id: 'gpt-4o-mini',
          api_version: '2024-10-21',
        },
      },
    };
    loadBalancer = {
      providers: {
        openai: { baseURL: openai.url },
        anthropic: { baseURL: anthropic.url },
        'azure-openai': { baseURL: azure.url },
        google: { baseURL: google.url },
        bedrock: { baseURL: bedrock.url },
      },
    };
    console.log(
      'No provider keys in the environment: routing to local simulators (any API key is accepted):',
    );
    console.log(
      `  openai       ${openai.url}\n  anthropic    ${anthropic.url}\n  azure-openai ${azure.url}\n  google       ${google.url}\n  bedrock      ${bedrock.url}`,
    );
  } else {
    loadBalancer = {};
    console.log(`Using the real providers for: ${Object.keys(keys).join(', ')}`);
  }
  loadBalancer.store = await stateStore();
  loadBalancer.on = {
    'store-error': (event) =>
      console.warn(
        `State store ${event.reason} in ${event.operation} (x${event.count}): using local state`,
      ),
  };
  loadBalancer.virtualKeys = virtualKeysOf(keys);
  loadBalancer.config = defaultConfig(keys);
  // allow (default) keeps Portkey's inline-key requests working; virtual-keys-only or deny
  // keep keys on the server.
  const policy = env.REQUEST_CONFIG;
  if (policy === 'allow' || policy === 'virtual-keys-only' || policy === 'deny')
    loadBalancer.requestConfig = policy;
  console.log(
    `Virtual keys: ${Object.keys(loadBalancer.virtualKeys).join(', ')}; request configs: ${loadBalancer.requestConfig ?? 'allow'}`,
  );

  const apiToken = env.APP_API_TOKEN || undefined;
  if (apiToken === undefined) {
    console.log('APP_API_TOKEN is not set: any non-empty token is accepted (demo only).');
  }
  const app = createExampleApp({ apiToken, loadBalancer });
  const server = app.listen(port, host, () => {
    const address = server.address();
    const actualPort = typeof address === 'object' && address !== null ? address.port : port;
    console.log(`Example app listening on http://${host}:${actualPort}/internal/llm`);
  });
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
