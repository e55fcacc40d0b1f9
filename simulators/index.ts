export { startAnthropicSimulator } from './anthropic.js';
export { type AzureSimulatorOptions, startAzureOpenAISimulator } from './azure-openai.js';
export { startOpenAISimulator } from './openai.js';
export type {
  Behaviour,
  RecordedRequest,
  Simulator,
  SimulatorOptions,
} from './simulator-server.js';
