import { providerNames } from '../../lib/providers/provider-names.js';
import { adapterOf, createProviderRegistry } from '../../lib/providers/registry.js';
import { messagesRequestProblem } from '../../simulators/anthropic.js';
import { bedrockEventFrame, converseRequestProblem } from '../../simulators/bedrock.js';
import { generateContentProblem } from '../../simulators/gemini.js';
import { type AdapterFixture, describeAdapterContract } from '../helpers/adapter-contract.js';

/**
 * Every built-in adapter through the same contract. An adapter without a fixture of its own is
 * held to OpenAI's (the OpenAI-compatible family): adding a provider adds it here by itself.
 */

const sse = (events: unknown[]) =>
  Buffer.from(events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join(''));

const openaiFixture: AdapterFixture = {
  credentials: { apiKey: 'sk-contract-openai-0123456789' },
  model: 'gpt-4o-mini',
  chatAnswer: {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  },
  streamBytes: Buffer.concat([
    sse([
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { content: 'H' } }],
      },
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { content: 'i' }, finish_reason: 'stop' }],
      },
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        choices: [],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      },
    ]),
    Buffer.from(': keep-alive comment\n\ndata: [DONE]\n\n'),
  ]),
  error: {
    status: 401,
    body: { error: { message: 'Incorrect API key', type: 'invalid_request_error', code: null } },
    headers: {},
  },
};

const fixtures: Partial<Record<string, AdapterFixture>> = {
  'azure-openai': {
    ...openaiFixture,
    credentials: {
      apiKey: 'azure-contract-0123456789',
      resourceName: 'contoso',
      deploymentId: 'gpt4o',
      apiVersion: '2024-10-21',
    },
  },
  anthropic: {
    credentials: { apiKey: 'sk-ant-contract-0123456789' },
    model: 'claude-3-5-haiku-latest',
    chatAnswer: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-3-5-haiku-latest',
      content: [{ type: 'text', text: 'Hi' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 1, output_tokens: 1 },
    },
    streamBytes: Buffer.from(
      [
        [
          'message_start',
          {
            type: 'message_start',
            message: { id: 'msg_1', model: 'claude', usage: { input_tokens: 1, output_tokens: 0 } },
          },
        ],
        [
          'content_block_start',
          { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        ],
        [
          'content_block_delta',
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
        ],
        ['content_block_stop', { type: 'content_block_stop', index: 0 }],
        [
          'message_delta',
          {
            type: 'message_delta',
            delta: { stop_reason: 'end_turn' },
            usage: { output_tokens: 1 },
          },
        ],
        ['message_stop', { type: 'message_stop' }],
      ]
        .map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
        .join(''),
    ),
    error: {
      status: 400,
      body: { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } },
      headers: {},
    },
    requestProblem: messagesRequestProblem,
  },
  google: {
    credentials: { apiKey: 'AIza-contract-0123456789' },
    model: 'gemini-2.0-flash',
    chatAnswer: {
      candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }],
      usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
    },
    streamBytes: sse([
      { candidates: [{ content: { role: 'model', parts: [{ text: 'H' }] } }] },
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'i' }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
      },
    ]),
    error: {
      status: 400,
      body: { error: { code: 400, message: 'bad', status: 'INVALID_ARGUMENT' } },
      headers: {},
    },
    requestProblem: generateContentProblem,
  },
  bedrock: {
    credentials: {
      awsAccessKeyId: 'AKIACONTRACT0000001',
      awsSecretAccessKey: 'aws-secret-contract-0123456789',
      awsSessionToken: 'aws-session-contract-0123456789',
      awsRegion: 'eu-west-1',
    },
    model: 'anthropic.claude-3-5-haiku-20241022-v1:0',
    chatAnswer: {
      output: { message: { role: 'assistant', content: [{ text: 'Hi' }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
    },
    streamBytes: Buffer.concat([
      bedrockEventFrame('messageStart', { role: 'assistant' }),
      bedrockEventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hi' } }),
      bedrockEventFrame('contentBlockStop', { contentBlockIndex: 0 }),
      bedrockEventFrame('messageStop', { stopReason: 'end_turn' }),
      bedrockEventFrame('metadata', {
        usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
        metrics: { latencyMs: 1 },
      }),
    ]),
    error: {
      status: 400,
      body: { message: 'bad' },
      headers: { 'x-amzn-errortype': 'ValidationException:http://internal.amazon.com/' },
    },
    requestProblem: converseRequestProblem,
  },
};

// ollama has no public base URL: the server gives it one.
const registry = createProviderRegistry({ ollama: { baseURL: 'http://127.0.0.1:11434/v1' } });

for (const name of providerNames) {
  describeAdapterContract(adapterOf(registry, name), fixtures[name] ?? openaiFixture);
}
