import { answerOpenAI, openAIRequestProblem } from './openai.js';
import {
  answerResponses,
  responsesRequestProblem,
  type StoredResponses,
} from './openai-responses.js';
import {
  type Exchange,
  keyAccepted,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator-server.js';

export interface AzureSimulatorOptions extends SimulatorOptions {
  /** Deployment name -> model it serves; undefined accepts any deployment (demo mode). */
  deployments?: Record<string, string>;
}

const operations: Record<string, string> = {
  'chat/completions': 'chat',
  completions: 'complete',
  embeddings: 'embed',
};

/**
 * Azure OpenAI: `/openai/deployments/{deployment}/{operation}?api-version=...` with an `api-key`
 * header. A missing api-version is a 404, as on Azure; the deployment decides the model.
 */
export function startAzureOpenAISimulator(options: AzureSimulatorOptions = {}): Promise<Simulator> {
  const stored: StoredResponses = new Map();
  return startSimulator(
    '/openai',
    async (exchange) => {
      if (/^\/openai(\/v1)?\/responses$/.test(exchange.url.pathname)) {
        await responses(exchange, options, stored);
        return;
      }
      const match =
        /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(
          exchange.url.pathname,
        );
      const apiVersion = exchange.url.searchParams.get('api-version');
      if (
        exchange.request.method !== 'POST' ||
        match === null ||
        apiVersion === null ||
        apiVersion === ''
      ) {
        exchange.json(404, { error: { code: '404', message: 'Resource not found' } });
        return;
      }
      const key = exchange.request.headers['api-key'];
      if (!keyAccepted(typeof key === 'string' ? key : undefined, options)) {
        exchange.json(401, {
          error: {
            code: '401',
            message:
              'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
          },
        });
        return;
      }
      const deployment = decodeURIComponent(match[1] as string);
      const model =
        options.deployments === undefined ? deployment : options.deployments[deployment];
      if (model === undefined) {
        exchange.json(404, {
          error: {
            code: 'DeploymentNotFound',
            message:
              'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
          },
        });
        return;
      }
      const operation = operations[match[2] as string] as string;
      const problem = openAIRequestProblem(operation, exchange.request.body, false);
      if (problem !== undefined) {
        exchange.json(400, {
          error: {
            code: 'BadRequest',
            message: problem.message,
            param: problem.param,
            type: 'invalid_request_error',
          },
        });
        return;
      }
      await answerOpenAI(exchange, operation, 'azure-openai', model);
    },
    options,
  );
}

/**
 * Azure's Responses API: `/openai/responses?api-version=` (2025-03-01-preview or later) or the
 * v1 API's `/openai/v1/responses`, beside the deployments, with the deployment named as `model`.
 */
async function responses(
  exchange: Exchange,
  options: AzureSimulatorOptions,
  stored: StoredResponses,
): Promise<void> {
  const apiVersion = exchange.url.searchParams.get('api-version');
  const v1 = exchange.url.pathname.startsWith('/openai/v1/');
  if (exchange.request.method !== 'POST' || (!v1 && (apiVersion === null || apiVersion === ''))) {
    exchange.json(404, { error: { code: '404', message: 'Resource not found' } });
    return;
  }
  if (!v1 && (apiVersion as string) < '2025-03-01-preview') {
    exchange.json(400, {
      error: {
        code: 'BadRequest',
        message:
          'Azure OpenAI Responses API is enabled only for api-version 2025-03-01-preview and later',
      },
    });
    return;
  }
  const key = exchange.request.headers['api-key'];
  if (!keyAccepted(typeof key === 'string' ? key : undefined, options)) {
    exchange.json(401, {
      error: { code: '401', message: 'Access denied due to invalid subscription key.' },
    });
    return;
  }
  const problem = responsesRequestProblem(exchange.request.body, stored);
  if (problem !== undefined) {
    exchange.json(400, {
      error: {
        code: 'BadRequest',
        message: problem.message,
        param: problem.param,
        type: 'invalid_request_error',
      },
    });
    return;
  }
  const deployment = String(exchange.request.body?.model);
  const model = options.deployments === undefined ? deployment : options.deployments[deployment];
  if (model === undefined) {
    exchange.json(404, {
      error: {
        code: 'DeploymentNotFound',
        message: 'The API deployment for this resource does not exist.',
      },
    });
    return;
  }
  await answerResponses(exchange, 'azure-openai', model, stored);
}
