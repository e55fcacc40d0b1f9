export { bedrockProvider } from './bedrock.js';
export { bedrockCredentials } from './bedrock-credentials.js';
export {
  bedrockErrorBody,
  bedrockErrorType,
  bedrockExceptionName,
} from './bedrock-errors.js';
export {
  type AwsCredentials,
  type BedrockSigningRequest,
  bedrockApiKeyHeaders,
  signBedrockRequest,
} from './bedrock-signing.js';
export {
  bedrockBaseURL,
  bedrockConversePath,
  bedrockPatterns,
  encodeBedrockModelId,
  isBedrockModelId,
  isBedrockRegion,
} from './bedrock-target.js';
export {
  type ConverseMessage,
  completionToConverseRequest,
  structuredOutputToolName,
  toConverseRequest,
} from './converse-request.js';
export {
  type CompletionContext,
  finishReasonOf,
  toChatCompletion,
  toTextCompletion,
  usageOf,
} from './converse-response.js';
export { BedrockToOpenAIStream, bedrockStreamContentType } from './converse-stream.js';
