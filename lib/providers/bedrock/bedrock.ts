import { randomUUID } from 'node:crypto';
import { BoundedCache } from '../../shared/bounded-cache.js';
import type { Operation, ProviderOptions } from '../../types.js';
import type { AnswerShape, ProviderAdapter, UpstreamBase } from '../provider.js';
import { parseBaseURL } from '../upstream-base.js';
import { bedrockCredentials } from './bedrock-credentials.js';
import { bedrockErrorBody } from './bedrock-errors.js';
import { bedrockApiKeyHeaders, signBedrockRequest } from './bedrock-signing.js';
import { bedrockBaseURL, bedrockConversePath } from './bedrock-target.js';
import { completionToConverseRequest, toConverseRequest } from './converse-request.js';
import { type CompletionContext, toChatCompletion, toTextCompletion } from './converse-response.js';
import { BedrockToOpenAIStream, bedrockStreamContentType } from './converse-stream.js';

/**
 * AWS Bedrock's Converse API: the model id in the path (`/model/{id}/converse`, or
 * `/converse-stream`), the host from the region, requests signed with SigV4 over the final
 * bytes before every attempt (or a Bedrock API key as a bearer token), answers and binary
 * event streams translated into OpenAI's shapes by the pure modules beside this file.
 */
export function bedrockProvider(options: ProviderOptions = {}): ProviderAdapter {
  const fixedBase =
    options.baseURL === undefined ? undefined : parseBaseURL(options.baseURL, 'bedrock');
  // Regions come from configs (validated by the schema); few exist, but bound the cache anyway.
  const regionBases = new BoundedCache<string, UpstreamBase>(64);
  const extraHeaders = { ...options.headers };

  function regionBase(region: string | undefined): UpstreamBase {
    const key = region ?? '';
    let base = regionBases.get(key);
    if (base === undefined) {
      base = parseBaseURL(bedrockBaseURL(region), 'bedrock');
      regionBases.set(key, base);
    }
    return base;
  }

  return {
    name: 'bedrock',
    credentials: bedrockCredentials,
    operations: new Set<Operation>(['chat', 'complete']),
    translatesResponses: true,
    streamContentType: bedrockStreamContentType,
    base: (target) => fixedBase ?? regionBase(target.credentials.awsRegion),
    endpoint: (_operation, _target, params) =>
      bedrockConversePath(params.model, params.stream === true),
    headers(target) {
      const headers: Record<string, string> = { ...extraHeaders };
      const { apiKey } = target.credentials;
      if (apiKey !== undefined) Object.assign(headers, bedrockApiKeyHeaders(apiKey));
      return headers;
    },
    sign(request, target) {
      const { awsAccessKeyId, awsSecretAccessKey, awsSessionToken, awsRegion } = target.credentials;
      // A Bedrock API key is a bearer token: nothing to sign.
      if (awsAccessKeyId === undefined || awsSecretAccessKey === undefined) {
        return Promise.resolve({ ...request.headers });
      }
      return signBedrockRequest({
        method: request.method,
        url: request.url,
        headers: { ...request.headers },
        body: request.body,
        credentials: {
          accessKeyId: awsAccessKeyId,
          secretAccessKey: awsSecretAccessKey,
          sessionToken: awsSessionToken,
        },
        region: awsRegion as string,
      });
    },
    requestBody: (operation, params) =>
      operation === 'complete' ? completionToConverseRequest(params) : toConverseRequest(params),
    responseBody: (operation, body, shape) =>
      operation === 'chat'
        ? toChatCompletion(body, completionContext(shape))
        : toTextCompletion(body, completionContext(shape)),
    streamTranslator: (shape) => new BedrockToOpenAIStream(shape, completionContext(shape)),
    errorBody(status, body, headers) {
      const errorType = headers['x-amzn-errortype'];
      return bedrockErrorBody(status, body, typeof errorType === 'string' ? errorType : undefined);
    },
  };
}

/** Converse answers carry neither an id nor the model: the request id and the request's model. */
function completionContext(shape: AnswerShape): CompletionContext {
  const requestId = shape.headers['x-amzn-requestid'];
  return {
    id: typeof requestId === 'string' && requestId !== '' ? requestId : randomUUID(),
    model: shape.model ?? '',
    created: shape.created,
  };
}
