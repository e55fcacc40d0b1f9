import type { TargetNode } from '../config/config-tree.js';
import { patternSchema } from '../config/field-schemas.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import type { Operation, Params, ProviderOptions } from '../types.js';
import { apiKeyField, type CredentialSpec, missingFields } from './credentials.js';
import { responsesStreamEvents } from './openai.js';
import { openAIErrorBody } from './openai-errors.js';
import type { NativeOperation, ProviderAdapter, UpstreamBase } from './provider.js';
import { parseBaseURL } from './upstream-base.js';

const resourcePlaceholder = '{resourceName}';
const defaultBaseURL = `https://${resourcePlaceholder}.openai.azure.com/openai`;

const operationPaths: Record<Operation, string> = {
  chat: '/chat/completions',
  complete: '/completions',
  embed: '/embeddings',
};

/** Azure names become a host name, a path segment and a query value: only safe characters. */
export const azurePatterns = {
  resourceName: '^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$',
  deploymentId: '^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$',
  apiVersion: '^([0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?|preview|latest|v1)$',
} as const;

const deploymentFields = ['resourceName', 'deploymentId', 'apiVersion'] as const;

/**
 * Azure's credentials: a key and the deployment it serves. The resource picks the host, so it
 * stays with a virtual key; a config may choose the deployment and API version on it.
 */
export const azureCredentials: CredentialSpec = {
  fields: {
    apiKey: apiKeyField,
    resourceName: { schema: patternSchema(azurePatterns.resourceName), serverOnly: true },
    deploymentId: { schema: patternSchema(azurePatterns.deploymentId), identity: true },
    apiVersion: { schema: patternSchema(azurePatterns.apiVersion) },
  },
  check: (credentials, path) => missingFields(credentials, deploymentFields, 'azure-openai', path),
};

interface AzureDeployment {
  resourceName: string;
  deploymentId: string;
  apiVersion: string;
}

/**
 * Azure OpenAI: OpenAI's bodies and responses, a deployment in the path, `api-version` in the
 * query and an `api-key` header. The resource name becomes part of the host name; the schema has
 * already restricted it (and the deployment and version) to safe characters.
 */
export function azureOpenAIProvider(options: ProviderOptions = {}): ProviderAdapter {
  const template = options.baseURL ?? defaultBaseURL;
  const templated = template.includes(resourcePlaceholder);
  // Validates the template once; a fixed base URL is also the one every target uses.
  const fixedBase = parseBaseURL(template.replace(resourcePlaceholder, 'resource'), 'azure-openai');
  // Resource names come from requests: a bounded cache rather than one that grows forever.
  const bases = new BoundedCache<string, UpstreamBase>(1000);
  const extraHeaders = { ...options.headers };

  function baseFor(resourceName: string): UpstreamBase {
    let base = bases.get(resourceName);
    if (base === undefined) {
      base = parseBaseURL(template.replace(resourcePlaceholder, resourceName), 'azure-openai');
      bases.set(resourceName, base);
    }
    return base;
  }

  return {
    name: 'azure-openai',
    credentials: azureCredentials,
    operations: new Set<Operation>(['chat', 'complete', 'embed']),
    translatesResponses: false,
    forwardsRequestBody: true,
    native: { 'openai-responses': azureResponses },
    base: (target: TargetNode) =>
      templated ? baseFor(deploymentOf(target).resourceName) : fixedBase,
    endpoint(operation, target) {
      const { deploymentId, apiVersion } = deploymentOf(target);
      return `/deployments/${encodeURIComponent(deploymentId)}${operationPaths[operation]}?api-version=${encodeURIComponent(apiVersion)}`;
    },
    headers(target) {
      const headers: Record<string, string> = { ...extraHeaders };
      if (target.credentials.apiKey !== undefined) headers['api-key'] = target.credentials.apiKey;
      return headers;
    },
    requestBody: (_operation, params: Params) => params,
    responseBody: (_operation, body) => body,
    errorBody: (status, body) => openAIErrorBody('azure-openai', status, body),
  };
}

/**
 * Azure's Responses API: not under a deployment but beside them, with the deployment named as
 * the `model` (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses). Its
 * `v1` API takes no api-version; dated ones need 2025-03-01-preview or later.
 */
const azureResponses: NativeOperation = {
  ...responsesStreamEvents,
  endpoint(target) {
    const { apiVersion } = deploymentOf(target);
    return apiVersion === 'v1'
      ? '/v1/responses'
      : `/responses?api-version=${encodeURIComponent(apiVersion)}`;
  },
  requestBody: (target, params) => ({ ...params, model: deploymentOf(target).deploymentId }),
};

function deploymentOf(target: TargetNode): AzureDeployment {
  // Validation refuses an azure-openai target without its deployment fields.
  return target.credentials as unknown as AzureDeployment;
}
