import express, { type Express, type RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import {
  type LoadBalancerOptions,
  type PortkeyConfig,
  portkeyLoadBalancer,
  type VirtualKey,
} from '../lib/index.js';

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
 * The host's own auth: `Authorization: Bearer <token>` (what the openai SDK sends as its apiKey),
 * `x-api-key: <token>` (what the Anthropic SDK sends) or `x-portkey-api-key: <token>` (what
 * Portkey's original API sent). The load balancer never forwards any of them.
 */
function requireToken(expected: string | undefined): RequestHandler {
  return (req, res, next) => {
    const bearer = req.headers.authorization?.replace(/^Bearer\s+/i, '');
    const anthropic = req.headers['x-api-key'];
    const portkey = req.headers['x-portkey-api-key'];
    const token =
      bearer ||
      (typeof anthropic === 'string' && anthropic !== '' ? anthropic : undefined) ||
      (typeof portkey === 'string' ? portkey : undefined);
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

/** Server-held keys, named so that configs can use them without carrying them. */
export function virtualKeysOf(keys: ProviderKeys): Record<string, VirtualKey> {
  const table: Record<string, VirtualKey> = {};
  if (keys.openai) table.openai = { provider: 'openai', apiKey: keys.openai };
  if (keys.anthropic) table.anthropic = { provider: 'anthropic', apiKey: keys.anthropic };
  if (keys.google) table.google = { provider: 'google', apiKey: keys.google };
  if (keys.bedrock) {
    const { accessKeyId, secretAccessKey, sessionToken, region } = keys.bedrock;
    table.bedrock = {
      provider: 'bedrock',
      awsAccessKeyId: accessKeyId,
      awsSecretAccessKey: secretAccessKey,
      awsRegion: region,
      ...(sessionToken === undefined ? {} : { awsSessionToken: sessionToken }),
    };
  }
  if (keys.azure) {
    const { resource_name, deployment_id, api_version } = keys.azure.deployment;
    table.azure = {
      provider: 'azure-openai',
      apiKey: keys.azure.apiKey,
      resourceName: resource_name,
      deploymentId: deployment_id,
      apiVersion: api_version,
    };
  }
  return table;
}

/** The server's default config over every server-held key, used when a request carries none. */
export function defaultConfig(keys: ProviderKeys): PortkeyConfig | undefined {
  const models: Record<string, string | undefined> = {
    openai: 'gpt-4o-mini',
    anthropic: 'claude-3-5-haiku-latest',
    google: 'gemini-2.5-flash',
    bedrock: process.env.BEDROCK_MODEL ?? 'anthropic.claude-3-5-haiku-20241022-v1:0',
    azure: undefined,
  };
  const targets = Object.keys(virtualKeysOf(keys)).map((name) => {
    const model = models[name];
    return model === undefined
      ? { virtual_key: name }
      : { virtual_key: name, override_params: { model } };
  });
  if (targets.length === 0) return undefined;
  return { strategy: { mode: 'loadbalance' }, targets };
}

export interface ProviderKeys {
  openai?: string;
  anthropic?: string;
  /** A Gemini API key (`GEMINI_API_KEY` or `GOOGLE_API_KEY`). */
  google?: string;
  /** AWS credentials for Bedrock (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`). */
  bedrock?: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string | undefined;
    region: string;
  };
  azure?: {
    apiKey: string;
    deployment: { resource_name: string; deployment_id: string; api_version: string };
  };
}
