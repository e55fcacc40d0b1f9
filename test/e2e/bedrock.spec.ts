import type OpenAI from 'openai';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { samplePngBase64 } from '../../simulators/index.js';
import { keys } from '../helpers/app.js';
import { useNativeApp } from '../helpers/native-app.js';
import {
  awsCredentials,
  awsRegion,
  awsSessionCredentials,
  nativeKeys,
  useNativeProviders,
} from '../helpers/native-providers.js';
import { dataOf, reassemble } from '../helpers/sse.js';

/**
 * `provider: "bedrock"` through the middleware, against the strict Bedrock simulator: it
 * recomputes every SigV4 signature from the request it received with the secret it knows,
 * serves only the model ids it lists, refuses unknown fields, and streams real binary
 * event-stream frames (with CRCs), exception frames included. The leak detector scans every
 * answer and event for the AWS secrets.
 */

const native = useNativeProviders();
const harness = useNativeApp(native, () => ({
  providers: { bedrock: { baseURL: native.bedrock.url }, google: { baseURL: native.google.url } },
  virtualKeys: {
    'bedrock-prod': {
      provider: 'bedrock',
      awsAccessKeyId: awsCredentials.accessKeyId,
      awsSecretAccessKey: awsCredentials.secretAccessKey,
      awsRegion,
    },
  },
}));
const { events, client, reset } = harness;

const bedrock = {
  provider: 'bedrock',
  aws_access_key_id: awsCredentials.accessKeyId,
  aws_secret_access_key: awsCredentials.secretAccessKey,
  aws_region: awsRegion,
};
const model = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const ask: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Say hi' }];

describe('provider bedrock: signed Converse calls', () => {
  it('answers a chat completion signed with SigV4 over the body sent, the model in the path', async () => {
    reset();
    const completion = await client(bedrock).chat.completions.create({
      model,
      messages: [{ role: 'system', content: 'Be brief.' }, ...ask],
      max_tokens: 50,
      temperature: 0.2,
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe(`Hello from bedrock (${model})`);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    expect(completion.model).toBe(model);
    const sent = native.bedrock.requests[0];
    expect(sent?.url).toBe(`/model/${encodeURIComponent(model)}/converse`);
    expect(sent?.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${awsCredentials.accessKeyId}/\\d{8}/${awsRegion}/bedrock/aws4_request`,
      ),
    );
    expect(sent?.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(sent?.body?.system).toEqual([{ text: 'Be brief.' }]);
    expect(sent?.body?.inferenceConfig).toEqual({ maxTokens: 50, temperature: 0.2 });
    expect(sent?.body?.model).toBeUndefined();
  });

  it('signs temporary credentials with their session token', async () => {
    reset();
    const completion = await client({
      ...bedrock,
      aws_access_key_id: awsSessionCredentials.accessKeyId,
      aws_secret_access_key: awsSessionCredentials.secretAccessKey,
      aws_session_token: awsSessionCredentials.sessionToken,
    }).chat.completions.create({ model, messages: ask });
    expect(completion.choices[0]?.message.content).toContain('Hello from bedrock');
    expect(native.bedrock.requests[0]?.headers['x-amz-security-token']).toBe(
      awsSessionCredentials.sessionToken,
    );
  });

  it('sends a Bedrock API key as a bearer token, unsigned', async () => {
    reset();
    const completion = await client({
      provider: 'bedrock',
      api_key: nativeKeys.bedrockApiKey,
      aws_region: awsRegion,
    }).chat.completions.create({ model, messages: ask });
    expect(completion.choices[0]?.message.content).toContain('Hello from bedrock');
    const sent = native.bedrock.requests[0];
    expect(sent?.headers.authorization).toBe(`Bearer ${nativeKeys.bedrockApiKey}`);
    expect(sent?.headers['x-amz-date']).toBeUndefined();
  });

  it('answers a text completion and works with the config in the body', async () => {
    reset();
    const completion = await client(bedrock).completions.create({ model, prompt: 'Say hi' });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text).toBe(`Hello from bedrock (${model})`);
    const res = await request(harness.app)
      .post('/llm/v1/chatComplete')
      .send({ config: bedrock, params: { model, messages: ask } });
    expect(res.status).toBe(200);
    expect(res.headers['x-portkey-provider']).toBe('bedrock');
  });

  it('uses a server-held virtual key, the secrets never in the request config', async () => {
    reset();
    const completion = await client({ virtual_key: 'bedrock-prod' }).chat.completions.create({
      model,
      messages: ask,
    });
    expect(completion.choices[0]?.message.content).toContain('Hello from bedrock');
  });

  it('signs each of a burst of concurrent requests, every one verified', async () => {
    reset();
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, index) =>
        client(bedrock).chat.completions.create({
          model,
          messages: [{ role: 'user', content: `Say hi ${index}` }],
        }),
      ),
    );
    expect(answers.every((answer) => answer.choices[0]?.message.content?.includes('bedrock'))).toBe(
      true,
    );
    expect(native.bedrock.requests).toHaveLength(24);
  });
});

describe('provider bedrock: binary event streams', () => {
  it('decodes the event stream into chunks the openai SDK reassembles, with usage', async () => {
    reset();
    const stream = await client(bedrock).chat.completions.create({
      model,
      messages: ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { content, finish, usage } = await reassemble(stream);
    expect(content).toBe(`Hello from bedrock (${model})`);
    expect(finish).toBe('stop');
    expect(usage?.total_tokens).toBeGreaterThan(0);
    expect(native.bedrock.requests[0]?.url).toBe(
      `/model/${encodeURIComponent(model)}/converse-stream`,
    );
  });

  it('turns an exception frame mid-stream into an error event and reports it', async () => {
    reset();
    native.bedrock.script({
      answer: { streamError: { type: 'throttlingException', message: 'Too many tokens' } },
    });
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(bedrock))
      .send({ model, messages: ask, stream: true });
    expect(res.status).toBe(200);
    const frames = dataOf(res.text);
    expect(frames.length).toBeGreaterThan(1);
    expect(frames).not.toContain('[DONE]');
    expect(JSON.parse(frames[frames.length - 1] ?? '{}').error.message).toContain(
      'Too many tokens',
    );
    expect(res.text).toContain('Too many tokens');
    expect(events.seen.some((event) => event.name === 'error')).toBe(true);
  });
});

describe('provider bedrock: tools, images and structured output', () => {
  it('calls a tool, then answers from the tool result', async () => {
    reset();
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
          },
        },
      },
    ];
    const first = await client(bedrock).chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
      tool_choice: 'required',
    });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('get_weather');
    const second = await client(bedrock).chat.completions.create({
      model,
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        first.choices[0]?.message as OpenAI.ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: call?.id ?? '', content: '{"temp": 21}' },
      ],
    });
    expect(second.choices[0]?.finish_reason).toBe('stop');
    const turns = native.bedrock.requests[1]?.body?.messages as { content: unknown[] }[];
    expect(JSON.stringify(turns.at(-1))).toContain('toolResult');
  });

  it('sends a data URL image as bytes', async () => {
    reset();
    const completion = await client(bedrock).chat.completions.create({
      model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${samplePngBase64}` } },
          ],
        },
      ],
    });
    expect(completion.choices[0]?.message.content).toContain('Hello from bedrock');
    expect(JSON.stringify(native.bedrock.requests[0]?.body)).toContain('"format":"png"');
  });

  it("answers JSON matching the schema, parsed by the openai SDK's .parse()", async () => {
    reset();
    const completion = await client(bedrock).chat.completions.parse({
      model,
      messages: [{ role: 'user', content: 'A city and its population' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'city',
          strict: true,
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, population: { type: 'integer' } },
            required: ['name', 'population'],
            additionalProperties: false,
          },
        },
      },
    });
    const parsed = completion.choices[0]?.message.parsed as Record<string, unknown> | null;
    expect(typeof parsed?.name).toBe('string');
    expect(typeof parsed?.population).toBe('number');
  });
});

describe('provider bedrock: refusals and errors', () => {
  it('answers a bad signature (wrong secret) with the OpenAI error shape, the secret nowhere', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({ ...bedrock, aws_secret_access_key: 'wrong-secret-0123456789abcdef' }),
      )
      .send({ model, messages: ask });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('InvalidSignatureException');
    expect(res.text).not.toContain('wrong-secret-0123456789abcdef');
  });

  it('answers a model the simulator does not serve in the OpenAI error shape', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(bedrock))
      .send({ model: 'amazon.unknown-model-v1:0', messages: ask });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.body.error.message).toEqual(expect.any(String));
  });

  it.each([
    ['a region that could change the host', { aws_region: 'evil.example.com/x' }, 'aws_region'],
    ['AWS credentials without a region', { aws_region: undefined }, 'awsRegion'],
    ['half a key pair', { aws_secret_access_key: undefined }, 'awsSecretAccessKey'],
    ['an API key next to a key pair', { api_key: nativeKeys.bedrockApiKey }, 'api_key'],
  ])('refuses %s with a 400 naming the field, nothing sent', async (_name, change, field) => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify({ ...bedrock, ...change }))
      .send({ model, messages: ask });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toContain(field);
    expect(native.bedrock.requests).toHaveLength(0);
  });

  it('refuses a model id that could leave its path segment, nothing sent', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set('x-portkey-config', JSON.stringify(bedrock))
      .send({ model: '../../evil', messages: ask });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('params.model');
    expect(native.bedrock.requests).toHaveLength(0);
  });

  it('refuses embeddings to bedrock as an operation it does not serve', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/embeddings')
      .set('x-portkey-config', JSON.stringify(bedrock))
      .send({ model, input: 'hi' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_OPERATION_UNSUPPORTED');
  });

  it('describes a bedrock target in a dry run, every secret masked, nothing sent', async () => {
    reset();
    const res = await request(harness.app)
      .post('/llm/v1/chat/completions')
      .set(
        'x-portkey-config',
        JSON.stringify({ ...bedrock, aws_session_token: 'tok-0123456789abcdef' }),
      )
      .set('x-portkey-dry-run', 'true')
      .send({ model, messages: ask });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(awsCredentials.secretAccessKey);
    expect(res.text).not.toContain('tok-0123456789abcdef');
    expect(res.body.config.tree.aws_region).toBe(awsRegion);
    expect(res.body.upstream.url).toContain(`/model/${encodeURIComponent(model)}/converse`);
    expect(native.bedrock.requests).toHaveLength(0);
  });

  it('falls back from a Bedrock that throttles to Gemini, the AWS secrets never reaching Google', async () => {
    reset();
    native.bedrock.script({
      status: 429,
      body: { message: 'Too many requests' },
      headers: { 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/' },
    });
    const google = { provider: 'google', api_key: nativeKeys.google };
    const completion = await client({
      strategy: { mode: 'fallback' },
      targets: [bedrock, { ...google, override_params: { model: 'gemini-2.0-flash' } }],
    }).chat.completions.create({ model, messages: ask });
    expect(completion.choices[0]?.message.content).toContain('Hello from google');
    expect(native.bedrock.requests).toHaveLength(1);
    const sent = JSON.stringify(native.google.requests[0]);
    for (const secret of [awsCredentials.secretAccessKey, awsCredentials.accessKeyId]) {
      expect(sent).not.toContain(secret);
    }
  });

  it('load-balances a burst between Bedrock and Gemini, each answering in the OpenAI shape', async () => {
    reset();
    const config = {
      strategy: { mode: 'loadbalance' },
      targets: [
        bedrock,
        {
          provider: 'google',
          api_key: nativeKeys.google,
          override_params: { model: 'gemini-2.0-flash' },
        },
      ],
    };
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        client(config).chat.completions.create({ model, messages: ask, stream: true }),
      ).map(async (pending) => (await reassemble(await pending)).content),
    );
    expect(answers.every((text) => /^Hello from (bedrock|google) /.test(text))).toBe(true);
    expect(native.bedrock.requests.length).toBeGreaterThan(0);
    expect(native.google.requests.length).toBeGreaterThan(0);
    expect(native.bedrock.requests.length + native.google.requests.length).toBe(30);
  });

  it('falls back from a failing Bedrock to OpenAI', async () => {
    reset();
    native.bedrock.script({ status: 500, body: { message: 'boom' } });
    const completion = await client({
      strategy: { mode: 'fallback' },
      targets: [bedrock, { provider: 'openai', api_key: keys.openai }],
    }).chat.completions.create({ model, messages: ask });
    expect(completion.choices[0]?.message.content).toEqual(expect.any(String));
    expect(native.bedrock.requests).toHaveLength(1);
    expect(harness.providers.openai.requests).toHaveLength(1);
  });
});
