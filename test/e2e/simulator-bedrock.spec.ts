import { describe, expect, it } from 'vitest';
import {
  bedrockEventFrame,
  samplePngBase64,
  startBedrockSimulator,
} from '../../simulators/index.js';
import { decodeEventStream, eventStreamCodec, framesOf } from '../helpers/event-stream.js';
import {
  awsCredentials,
  awsSessionCredentials,
  nativeKeys,
  type SignOptions,
  signBedrock,
  useNativeProviders,
} from '../helpers/native-providers.js';

const providers = useNativeProviders();

const modelId = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const messages = [{ role: 'user', content: [{ text: 'Hello?' }] }];
const weatherTool = {
  toolSpec: {
    name: 'get_weather',
    description: 'Weather for a city',
    inputSchema: {
      json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
};

const urlOf = (operation: string, model = modelId) =>
  `${providers.bedrock.url}/model/${encodeURIComponent(model)}/${operation}`;

interface Result {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  json: Record<string, unknown>;
}

async function send(url: string, body: string, headers: Record<string, string>): Promise<Result> {
  const response = await fetch(url, { method: 'POST', headers, body });
  const bytes = new Uint8Array(await response.arrayBuffer());
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {}
  return { status: response.status, headers: response.headers, bytes, json };
}

/** A correctly signed Converse call (unless the options say otherwise). */
async function converse(
  body: unknown,
  options: SignOptions & { operation?: string; model?: string } = {},
): Promise<Result> {
  const url = urlOf(options.operation ?? 'converse', options.model);
  const text = JSON.stringify(body);
  return send(url, text, await signBedrock(url, text, options));
}

function expectAwsError(result: Result, status: number, type: string, message: RegExp): void {
  expect(result.status).toBe(status);
  expect(result.headers.get('x-amzn-errortype')?.split(':')[0]).toBe(type);
  expect(result.json.message).toMatch(message);
}

describe('the Bedrock simulator: SigV4', () => {
  it('accepts a correctly signed request and answers in Converse shape', async () => {
    const result = await converse({
      messages,
      system: [{ text: 'Be brief.' }],
      inferenceConfig: { maxTokens: 100, temperature: 0.5, topP: 0.9 },
    });
    expect(result.status).toBe(200);
    expect(result.json).toEqual({
      output: {
        message: {
          role: 'assistant',
          content: [{ text: `Hello from bedrock (${modelId})` }],
        },
      },
      stopReason: 'end_turn',
      usage: { inputTokens: 12, outputTokens: 4, totalTokens: 16 },
      metrics: { latencyMs: expect.any(Number) },
    });
    const recorded = providers.bedrock.requests[0];
    expect(recorded?.url).toBe(`/model/${encodeURIComponent(modelId)}/converse`);
    expect(recorded?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIATESTSIMULATOR001\/\d{8}\/eu-central-1\/bedrock\/aws4_request/,
    );
  });

  it('refuses a body changed after signing', async () => {
    const url = urlOf('converse');
    const signed = JSON.stringify({ messages });
    const headers = await signBedrock(url, signed);
    const tampered = JSON.stringify({
      messages: [{ role: 'user', content: [{ text: 'Hellp?' }] }],
    });
    const withoutHash = { ...headers };
    delete withoutHash['x-amz-content-sha256'];
    expectAwsError(
      await send(url, tampered, withoutHash),
      403,
      'InvalidSignatureException',
      /signature we calculated does not match/,
    );
    expectAwsError(
      await send(url, tampered, headers),
      403,
      'InvalidSignatureException',
      /x-amz-content-sha256/,
    );
  });

  it('refuses a signature made with the wrong secret', async () => {
    const result = await converse(
      { messages },
      { credentials: { ...awsCredentials, secretAccessKey: 'not-the-secret-0123456789' } },
    );
    expectAwsError(result, 403, 'InvalidSignatureException', /does not match/);
  });

  it('refuses a request without x-amz-date', async () => {
    const url = urlOf('converse');
    const body = JSON.stringify({ messages });
    const headers = await signBedrock(url, body);
    delete headers['x-amz-date'];
    expectAwsError(
      await send(url, body, headers),
      403,
      'IncompleteSignatureException',
      /X-Amz-Date/,
    );
  });

  it('refuses a signature more than 5 minutes old or ahead', async () => {
    const old = await converse({ messages }, { signingDate: new Date(Date.now() - 6 * 60_000) });
    expectAwsError(old, 403, 'InvalidSignatureException', /^Signature expired: \d{8}T\d{6}Z/);
    const ahead = await converse({ messages }, { signingDate: new Date(Date.now() + 6 * 60_000) });
    expectAwsError(ahead, 403, 'InvalidSignatureException', /not yet current/);
    const recent = await converse({ messages }, { signingDate: new Date(Date.now() - 60_000) });
    expect(recent.status).toBe(200);
  });

  it('refuses a signature scoped to another region or service', async () => {
    expectAwsError(
      await converse({ messages }, { region: 'us-east-1' }),
      403,
      'InvalidSignatureException',
      /region/,
    );
    expectAwsError(
      await converse({ messages }, { service: 'sagemaker' }),
      403,
      'InvalidSignatureException',
      /service: 'bedrock'/,
    );
  });

  it('refuses an access key it does not know', async () => {
    const result = await converse(
      { messages },
      { credentials: { ...awsCredentials, accessKeyId: 'AKIAUNKNOWN000000000' } },
    );
    expectAwsError(result, 403, 'UnrecognizedClientException', /security token/);
  });

  it('requires the session token of temporary credentials', async () => {
    expect((await converse({ messages }, { credentials: awsSessionCredentials })).status).toBe(200);
    expect(providers.bedrock.requests[0]?.headers['x-amz-security-token']).toBe(
      awsSessionCredentials.sessionToken,
    );
    const { sessionToken: _dropped, ...withoutToken } = awsSessionCredentials;
    expectAwsError(
      await converse({ messages }, { credentials: withoutToken }),
      403,
      'UnrecognizedClientException',
      /security token included in the request is invalid/,
    );
    expectAwsError(
      await converse(
        { messages },
        { credentials: { ...awsSessionCredentials, sessionToken: 'another-token-0123456789' } },
      ),
      403,
      'UnrecognizedClientException',
      /security token/,
    );
  });

  it('accepts a Bedrock API key as a bearer token, and refuses a wrong one or none', async () => {
    const url = urlOf('converse');
    const body = JSON.stringify({ messages });
    const json = { 'content-type': 'application/json' };
    const ok = await send(url, body, {
      ...json,
      authorization: `Bearer ${nativeKeys.bedrockApiKey}`,
    });
    expect(ok.status).toBe(200);
    expectAwsError(
      await send(url, body, { ...json, authorization: 'Bearer wrong-key' }),
      403,
      'AccessDeniedException',
      /API Key/,
    );
    expectAwsError(
      await send(url, body, json),
      403,
      'MissingAuthenticationTokenException',
      /Missing Authentication Token/,
    );
  });

  it('checks signatures against its own clock when given one', async () => {
    const now = Date.now() - 60 * 60_000;
    const sim = await startBedrockSimulator({ credentials: [awsCredentials], now: () => now });
    try {
      const url = `${sim.url}/model/${encodeURIComponent(modelId)}/converse`;
      const body = JSON.stringify({ messages });
      const current = await signBedrock(url, body, {
        region: 'us-east-1',
        signingDate: new Date(now),
      });
      expect((await send(url, body, current)).status).toBe(200);
      const real = await signBedrock(url, body, { region: 'us-east-1' });
      expect((await send(url, body, real)).status).toBe(403);
    } finally {
      await sim.close();
    }
  });
});

describe('the Bedrock simulator: Converse body rules', () => {
  it('refuses a model id it does not serve', async () => {
    expectAwsError(
      await converse({ messages }, { model: 'anthropic.claude-9-v1:0' }),
      400,
      'ValidationException',
      /model identifier is invalid/,
    );
    const url = `${providers.bedrock.url}/model/claude%ZZ/converse`;
    const body = JSON.stringify({ messages });
    expectAwsError(
      await send(url, body, {
        'content-type': 'application/json',
        authorization: `Bearer ${nativeKeys.bedrockApiKey}`,
      }),
      400,
      'ValidationException',
      /model identifier/,
    );
  });

  it('refuses unknown fields at every level', async () => {
    expectAwsError(
      await converse({ messages, max_tokens: 10 }),
      400,
      'ValidationException',
      /extraneous key \[max_tokens\]/,
    );
    expectAwsError(
      await converse({ messages, inferenceConfig: { max_tokens: 10 } }),
      400,
      'ValidationException',
      /extraneous key \[max_tokens\]/,
    );
    expectAwsError(
      await converse({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }),
      400,
      'ValidationException',
      /extraneous key \[type\]/,
    );
  });

  it('requires a first user turn and alternating roles', async () => {
    expectAwsError(
      await converse({ messages: [{ role: 'assistant', content: [{ text: 'Hi' }] }] }),
      400,
      'ValidationException',
      /must start with a user message/,
    );
    expectAwsError(
      await converse({ messages: [...messages, ...messages] }),
      400,
      'ValidationException',
      /must alternate between user and assistant/,
    );
    expectAwsError(
      await converse({ messages: [...messages, { role: 'system', content: [{ text: 'x' }] }] }),
      400,
      'ValidationException',
      /enum value set: \[user, assistant\]/,
    );
    expectAwsError(
      await converse({ messages: [{ role: 'user', content: [] }] }),
      400,
      'ValidationException',
      /content field in the Message object at messages.0 is empty/,
    );
  });

  it('checks inferenceConfig ranges', async () => {
    expectAwsError(
      await converse({ messages, inferenceConfig: { temperature: 1.5 } }),
      400,
      'ValidationException',
      /inferenceConfig.temperature.*less than or equal to 1/,
    );
    expectAwsError(
      await converse({ messages, inferenceConfig: { maxTokens: 0 } }),
      400,
      'ValidationException',
      /inferenceConfig.maxTokens/,
    );
  });

  it('accepts a PNG image block and refuses bytes that are not the declared format', async () => {
    const image = (format: string, bytes: string) => ({
      messages: [
        {
          role: 'user',
          content: [{ text: 'What is it?' }, { image: { format, source: { bytes } } }],
        },
      ],
    });
    expect((await converse(image('png', samplePngBase64))).status).toBe(200);
    expectAwsError(
      await converse(image('jpeg', samplePngBase64)),
      400,
      'ValidationException',
      /jpeg/,
    );
    expectAwsError(
      await converse(image('bmp', samplePngBase64)),
      400,
      'ValidationException',
      /format/,
    );
    expectAwsError(await converse(image('png', '%%%')), 400, 'ValidationException', /base64/);
  });

  it('answers with toolUse, then accepts the matching toolResult', async () => {
    const toolConfig = { tools: [weatherTool] };
    const first = await converse({ messages, toolConfig });
    expect(first.json.stopReason).toBe('tool_use');
    const content = (first.json.output as { message: { content: Record<string, unknown>[] } })
      .message.content;
    expect(content[0]).toEqual({ text: 'Let me check.' });
    const use = content[1]?.toolUse as { toolUseId: string; name: string; input: unknown };
    expect(use).toEqual({
      toolUseId: expect.stringMatching(/^tooluse_/),
      name: 'get_weather',
      input: { city: 'Paris' },
    });
    const conversation = [...messages, { role: 'assistant', content }];
    const second = await converse({
      messages: [
        ...conversation,
        {
          role: 'user',
          content: [
            { toolResult: { toolUseId: use.toolUseId, content: [{ json: { temp: 21 } }] } },
          ],
        },
      ],
      toolConfig,
    });
    expect(second.status).toBe(200);
    expect(second.json.stopReason).toBe('end_turn');
    expectAwsError(
      await converse({ messages: [...conversation, ...messages], toolConfig }),
      400,
      'ValidationException',
      /Expected toolResult blocks at messages.2.content for the following Ids/,
    );
    expectAwsError(
      await converse({
        messages: [
          ...conversation,
          { role: 'user', content: [{ toolResult: { toolUseId: use.toolUseId, content: [] } }] },
        ],
      }),
      400,
      'ValidationException',
      /toolConfig field must be defined/,
    );
  });

  it('forces the tool toolChoice names, without text (structured output)', async () => {
    const result = await converse({
      messages,
      toolConfig: {
        tools: [
          { toolSpec: { name: 'other', inputSchema: { json: { type: 'object' } } } },
          weatherTool,
        ],
        toolChoice: { tool: { name: 'get_weather' } },
      },
    });
    const content = (result.json.output as { message: { content: Record<string, unknown>[] } })
      .message.content;
    expect(content).toHaveLength(1);
    expect(content[0]?.toolUse).toMatchObject({ name: 'get_weather', input: { city: 'Paris' } });
    expectAwsError(
      await converse({
        messages,
        toolConfig: { tools: [weatherTool], toolChoice: { tool: { name: 'missing' } } },
      }),
      400,
      'ValidationException',
      /toolChoice/,
    );
  });

  it('reports max_tokens and stop_sequence stops', async () => {
    const short = await converse({ messages, inferenceConfig: { maxTokens: 2 } });
    expect(short.json.stopReason).toBe('max_tokens');
    const stopped = await converse({ messages, inferenceConfig: { stopSequences: [' bedrock'] } });
    expect(stopped.json.stopReason).toBe('stop_sequence');
    providers.bedrock.script({ answer: { finishReason: 'guardrail_intervened' } });
    expect((await converse({ messages })).json.stopReason).toBe('guardrail_intervened');
  });
});

describe('the Bedrock simulator: converse-stream', () => {
  it('streams binary event-stream frames that the AWS codec decodes', async () => {
    const result = await converse({ messages }, { operation: 'converse-stream' });
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('application/vnd.amazon.eventstream');
    const events = decodeEventStream(result.bytes);
    expect(events.every((event) => event.messageType === 'event')).toBe(true);
    expect(events.every((event) => event.contentType === 'application/json')).toBe(true);
    expect(events.map((event) => event.type)).toEqual([
      'messageStart',
      'contentBlockDelta',
      'contentBlockDelta',
      'contentBlockDelta',
      'contentBlockDelta',
      'contentBlockStop',
      'messageStop',
      'metadata',
    ]);
    expect(events[0]?.payload.role).toBe('assistant');
    const text = events
      .filter((event) => event.type === 'contentBlockDelta')
      .map((event) => (event.payload.delta as { text: string }).text)
      .join('');
    expect(text).toBe(`Hello from bedrock (${modelId})`);
    expect(events.at(-2)?.payload.stopReason).toBe('end_turn');
    expect(events.at(-1)?.payload.usage).toEqual({
      inputTokens: 12,
      outputTokens: 4,
      totalTokens: 16,
    });
  });

  it('has CRCs that catch a corrupted frame', async () => {
    const result = await converse({ messages }, { operation: 'converse-stream' });
    const frame = Uint8Array.from(framesOf(result.bytes)[1] ?? []);
    expect(() => eventStreamCodec.decode(frame)).not.toThrow();
    const flipped = (index: number) => {
      const copy = Uint8Array.from(frame);
      copy[index] = (copy[index] ?? 0) ^ 0xff;
      return copy;
    };
    // A payload byte breaks the message CRC; a length byte breaks the prelude CRC.
    expect(() => eventStreamCodec.decode(flipped(frame.length - 10))).toThrow(/checksum/i);
    expect(() => eventStreamCodec.decode(flipped(6))).toThrow(/checksum/i);
  });

  it('streams tool use as contentBlockStart and input deltas', async () => {
    const result = await converse(
      { messages, toolConfig: { tools: [weatherTool], toolChoice: { any: {} } } },
      { operation: 'converse-stream' },
    );
    const events = decodeEventStream(result.bytes);
    const start = events.find((event) => event.type === 'contentBlockStart');
    expect(start?.payload).toMatchObject({
      contentBlockIndex: 0,
      start: { toolUse: { toolUseId: expect.stringMatching(/^tooluse_/), name: 'get_weather' } },
    });
    const input = events
      .filter((event) => event.type === 'contentBlockDelta')
      .map((event) => (event.payload.delta as { toolUse: { input: string } }).toolUse.input);
    expect(input.length).toBeGreaterThan(1);
    expect(JSON.parse(input.join(''))).toEqual({ city: 'Paris' });
    expect(events.find((event) => event.type === 'messageStop')?.payload.stopReason).toBe(
      'tool_use',
    );
  });

  it('sends a scripted exception frame mid-stream, then ends', async () => {
    providers.bedrock.script({
      answer: {
        streamError: { type: 'throttlingException', message: 'Slow down', afterEvents: 2 },
      },
    });
    const result = await converse({ messages }, { operation: 'converse-stream' });
    const events = decodeEventStream(result.bytes);
    expect(events).toHaveLength(3);
    expect(events[2]).toEqual({
      messageType: 'exception',
      type: 'throttlingException',
      contentType: 'application/json',
      payload: { message: 'Slow down' },
    });
  });

  it('lets a test script raw frames, split across writes', async () => {
    const frame = bedrockEventFrame('messageStart', { role: 'assistant' });
    providers.bedrock.script({
      stream: [Buffer.from(frame.subarray(0, 5)), Buffer.from(frame.subarray(5))],
      headers: { 'content-type': 'application/vnd.amazon.eventstream' },
    });
    const result = await converse({ messages }, { operation: 'converse-stream' });
    expect(decodeEventStream(result.bytes).map((event) => event.type)).toEqual(['messageStart']);
  });
});
