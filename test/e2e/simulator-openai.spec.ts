import { Ajv } from 'ajv';
import OpenAI, { AzureOpenAI } from 'openai';
import { describe, expect, it } from 'vitest';
import { exampleOf } from '../../simulators/index.js';
import { azureDeployment, keys, useProviders } from '../helpers/app.js';
import { chunksOf, readEvents } from '../helpers/sse.js';

const providers = useProviders();

const openai = () => new OpenAI({ apiKey: keys.openai, baseURL: providers.openai.url });
const azure = () =>
  new AzureOpenAI({
    apiKey: keys.azure,
    endpoint: providers.azure.url.replace(/\/openai$/, ''),
    apiVersion: azureDeployment.apiVersion,
    deployment: azureDeployment.deploymentId,
  });

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
        required: ['city', 'unit'],
      },
    },
  },
];
const ask: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
  { role: 'user', content: 'Weather in Paris?' },
];

const recipeSchema = {
  type: 'object',
  properties: {
    title: { type: 'string' },
    servings: { type: 'integer', minimum: 2 },
    ingredients: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, grams: { type: 'number' } },
        required: ['name', 'grams'],
        additionalProperties: false,
      },
    },
    vegan: { type: ['boolean', 'null'] },
    course: { anyOf: [{ $ref: '#/$defs/course' }, { type: 'null' }] },
  },
  required: ['title', 'servings', 'ingredients', 'vegan', 'course'],
  additionalProperties: false,
  $defs: { course: { type: 'string', enum: ['starter', 'main', 'dessert'] } },
};

describe('the OpenAI simulator streams tool calls as OpenAI does', () => {
  it('sends delta.tool_calls that the openai SDK reassembles, ending with tool_calls', async () => {
    const stream = openai().chat.completions.stream({ model: 'gpt-4o-mini', messages: ask, tools });
    const completion = await stream.finalChatCompletion();
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call).toMatchObject({
      id: expect.stringMatching(/^call_sim_/),
      type: 'function',
      function: { name: 'get_weather' },
    });
    expect(JSON.parse(String(call?.type === 'function' ? call.function.arguments : ''))).toEqual({
      city: 'Paris',
      unit: 'c',
    });
  });

  it('sends the id, type and name first, then argument fragments, then finish_reason alone', async () => {
    const response = await fetch(`${providers.openai.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.openai}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: ask, tools, stream: true }),
    });
    const chunks = chunksOf(await readEvents(response));
    expect(chunks.at(-1)).toBe('[DONE]');
    const choices = chunks
      .slice(0, -1)
      .map(
        (chunk) =>
          (chunk as { choices: { delta: Record<string, unknown>; finish_reason: unknown }[] })
            .choices[0],
      );
    expect(choices[0]?.delta).toMatchObject({
      role: 'assistant',
      tool_calls: [
        {
          index: 0,
          id: expect.any(String),
          type: 'function',
          function: { name: 'get_weather', arguments: '' },
        },
      ],
    });
    const fragments = choices
      .slice(1, -1)
      .map((choice) => choice?.delta.tool_calls as { function: { arguments: string } }[]);
    expect(fragments.length).toBeGreaterThan(1);
    expect(choices.at(-1)).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
    expect(choices.some((choice) => typeof choice?.delta.content === 'string')).toBe(false);
  });

  it('calls the tool tool_choice names, and none under tool_choice "none"', async () => {
    const second: OpenAI.Chat.Completions.ChatCompletionTool = {
      type: 'function',
      function: { name: 'get_time', parameters: { type: 'object', properties: {} } },
    };
    const named = await openai().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: ask,
      tools: [...tools, second],
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });
    const call = named.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('get_time');
    const none = await openai().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: ask,
      tools,
      tool_choice: 'none',
    });
    expect(none.choices[0]?.finish_reason).toBe('stop');
    expect(none.choices[0]?.message.content).toContain('Hello from openai');
  });

  it('streams the Azure deployment tool calls the same way', async () => {
    const stream = azure().chat.completions.stream({ model: 'ignored', messages: ask, tools });
    const completion = await stream.finalChatCompletion();
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(completion.choices[0]?.message.tool_calls).toHaveLength(1);
  });
});

describe('the OpenAI simulator answers response_format with JSON', () => {
  it('answers json_schema with JSON matching the schema, parsed by the SDK', async () => {
    const completion = await openai().chat.completions.parse({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'A recipe, please' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'recipe', strict: true, schema: recipeSchema },
      },
    });
    const parsed = completion.choices[0]?.message.parsed;
    const validate = new Ajv({ strict: false }).compile(recipeSchema);
    expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);
    expect(parsed).toMatchObject({ servings: 2, course: 'starter' });
  });

  it('streams json_schema content that reassembles into the same JSON', async () => {
    const stream = openai().chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'A recipe, please' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'recipe', strict: true, schema: recipeSchema },
      },
    });
    const completion = await stream.finalChatCompletion();
    const content = String(completion.choices[0]?.message.content);
    expect(JSON.parse(content)).toEqual(exampleOf(recipeSchema));
  });

  it('answers json_object with a JSON object, when the messages mention JSON', async () => {
    const completion = await openai().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Answer in JSON.' }],
      response_format: { type: 'json_object' },
    });
    const content = JSON.parse(String(completion.choices[0]?.message.content));
    expect(content).toEqual({ answer: 'Hello from openai (gpt-4o-mini)' });
  });

  it('answers Azure response_format with JSON too', async () => {
    const completion = await azure().chat.completions.parse({
      model: 'ignored',
      messages: [{ role: 'user', content: 'A recipe, please' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'recipe', schema: recipeSchema },
      },
    });
    expect(completion.choices[0]?.message.parsed).toEqual(exampleOf(recipeSchema));
  });

  it('refuses what OpenAI refuses: json_object without "json", a nameless or loose strict schema', async () => {
    const client = openai();
    await expect(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hello' }],
        response_format: { type: 'json_object' },
      }),
    ).rejects.toMatchObject({ status: 400, param: 'messages' });
    await expect(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: ask,
        response_format: {
          type: 'json_schema',
          json_schema: { schema: recipeSchema } as unknown as { name: string },
        },
      }),
    ).rejects.toMatchObject({ status: 400, param: 'response_format.json_schema.name' });
    await expect(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: ask,
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'loose',
            strict: true,
            schema: { type: 'object', properties: { a: { type: 'string' } } },
          },
        },
      }),
    ).rejects.toMatchObject({ status: 400, param: 'response_format' });
  });
});

describe('exampleOf', () => {
  it('fills every property, follows $ref and anyOf, and honours enum, minItems and formats', () => {
    expect(
      exampleOf({
        type: 'object',
        properties: {
          when: { type: 'string', format: 'date-time' },
          list: { type: 'array', items: { type: 'integer' }, minItems: 2 },
          ref: { $ref: '#/definitions/thing' },
          pick: { oneOf: [{ type: 'null' }, { type: 'number' }] },
          fixed: { const: 'x' },
          both: { allOf: [{ properties: { a: { type: 'boolean' } } }, { properties: { b: {} } }] },
        },
        definitions: { thing: { type: 'string', enum: ['first', 'second'] } },
      }),
    ).toEqual({
      when: '2026-01-01T00:00:00Z',
      list: [1, 1],
      ref: 'first',
      pick: 1.5,
      fixed: 'x',
      both: { a: true, b: 'sample b' },
    });
  });
});
