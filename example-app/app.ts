import express, { type Express, type RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { type LoadBalancerOptions, type PortkeyConfig, portkeyLoadBalancer } from '../lib/index.js';

export interface ExampleAppOptions {
  /** Token clients must present; undefined accepts any non-empty token (demo only). */
  apiToken: string | undefined;
  /** Passed to the load balancer: provider base URLs, the default config. */
  loadBalancer: LoadBalancerOptions;
  /** Requests per minute per client IP. */
  rateLimitPerMinute?: number;
}

/**
 * A host backend as teams have them: its own auth and rate limit in front, the load balancer
 * mounted under an internal prefix, its own routes beside it.
 */
export function createExampleApp(options: ExampleAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(
    '/internal/llm',
    requireToken(options.apiToken),
    rateLimit({
      windowMs: 60_000,
      limit: options.rateLimitPerMinute ?? 120,
      standardHeaders: 'draft-6',
      legacyHeaders: false,
      message: {
        error: {
          message: 'Too many requests',
          type: 'rate_limit_error',
          param: null,
          code: 'rate_limited',
        },
      },
    }),
    portkeyLoadBalancer(options.loadBalancer),
  );
  app.use((_req, res) => {
    res.status(404).json({
      error: {
        message: 'Not found',
        type: 'invalid_request_error',
        param: null,
        code: 'not_found',
      },
    });
  });
  return app;
}

/**
 * The host's own auth: `Authorization: Bearer <token>` (what the openai SDK sends as its apiKey)
 * or `x-portkey-api-key: <token>` (what Portkey's original API sent). The load balancer never
 * forwards either.
 */
function requireToken(expected: string | undefined): RequestHandler {
  return (req, res, next) => {
    const bearer = req.headers.authorization?.replace(/^Bearer\s+/i, '');
    const portkey = req.headers['x-portkey-api-key'];
    const token = bearer || (typeof portkey === 'string' ? portkey : undefined);
    const accepted = expected === undefined ? Boolean(token) : token === expected;
    if (accepted) {
      next();
      return;
    }
    res.status(401).json({
      error: {
        message: 'Missing or wrong API token',
        type: 'invalid_request_error',
        param: null,
        code: 'unauthorized',
      },
    });
  };
}

/** The server's default config, used when a request carries none. */
export function defaultConfig(keys: ProviderKeys): PortkeyConfig | undefined {
  const targets: Record<string, unknown>[] = [];
  if (keys.openai)
    targets.push({
      provider: 'openai',
      api_key: keys.openai,
      override_params: { model: 'gpt-4o-mini' },
    });
  if (keys.anthropic) {
    targets.push({
      provider: 'anthropic',
      api_key: keys.anthropic,
      override_params: { model: 'claude-3-5-haiku-latest' },
    });
  }
  if (keys.azure)
    targets.push({
      provider: 'azure-openai',
      api_key: keys.azure.apiKey,
      ...keys.azure.deployment,
    });
  if (targets.length === 0) return undefined;
  return { strategy: { mode: 'loadbalance' }, targets } as PortkeyConfig;
}

export interface ProviderKeys {
  openai?: string;
  anthropic?: string;
  azure?: {
    apiKey: string;
    deployment: { resource_name: string; deployment_id: string; api_version: string };
  };
}
