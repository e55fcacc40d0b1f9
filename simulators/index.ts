export { startAnthropicSimulator } from './anthropic.js';
export { type AzureSimulatorOptions, startAzureOpenAISimulator } from './azure-openai.js';
export {
  type BedrockCredential,
  type BedrockSimulatorOptions,
  bedrockEventFrame,
  bedrockExceptionFrame,
  bedrockModels,
  startBedrockSimulator,
} from './bedrock.js';
export { type GeminiSimulatorOptions, geminiModels, startGeminiSimulator } from './gemini.js';
export { samplePngBase64 } from './media.js';
export { startOpenAISimulator } from './openai.js';
export {
  type CompatibleProfile,
  type CompatibleProfileName,
  type CompatibleSimulatorOptions,
  compatibleProfiles,
  startOpenAICompatibleSimulator,
} from './openai-compatible.js';
export { exampleOf } from './schema-example.js';
export type {
  AnswerOverrides,
  Behaviour,
  RecordedRequest,
  Simulator,
  SimulatorOptions,
} from './simulator-server.js';
