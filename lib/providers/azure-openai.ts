import type { AzureDeployment, TargetNode } from '../config/config-tree.js';
import { BoundedCache } from '../shared/bounded-cache.js';
import type { Operation, Params, ProviderOptions } from '../types.js';
import { openAIErrorBody } from './openai-errors.js';
import type { ProviderAdapter, UpstreamBase } from './provider.js';
import { parseBaseURL } from './upstream-base.js';

const resourcePlaceholder = '{resourceName}';
const defaultBaseURL = `https://${resourcePlaceholder}.openai.azure.com/openai`;

const operationPaths: Record<Operation, string> = {
  chat: '/chat/completions',
  complete: '/completions',
  embed: '/embeddings',
};

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
    operations: new Set<Operation>(['chat', 'complete', 'embed']),
    translatesResponses: false,
    base: (target: TargetNode) =>
      templated ? baseFor(deploymentOf(target).resourceName) : fixedBase,
    endpoint(operation, target) {
      const { deploymentId, apiVersion } = deploymentOf(target);
      return `/deployments/${encodeURIComponent(deploymentId)}${operationPaths[operation]}?api-version=${encodeURIComponent(apiVersion)}`;
    },
    headers(target) {
      const headers: Record<string, string> = { ...extraHeaders };
      if (target.apiKey !== undefined) headers['api-key'] = target.apiKey;
      return headers;
    },
    requestBody: (_operation, params: Params) => params,
    responseBody: (_operation, body) => body,
    errorBody: (status, body) => openAIErrorBody('azure-openai', status, body),
  };
}

function deploymentOf(target: TargetNode): AzureDeployment {
  // Validation refuses an azure-openai target without its deployment fields.
  return target.azure as AzureDeployment;
}
