import type { LoadBalancerError } from '../../errors.js';
import { isRecord } from '../../shared/values.js';
import type { Params } from '../../types.js';
import { invalidParam } from '../invalid-param.js';
import { toGeminiSchema } from './gemini-schema.js';

/**
 * OpenAI requests as Gemini request bodies. Every function is pure. The model is not part of a
 * Gemini body (it is in the path, `models/{model}:generateContent`), so it is not copied; OpenAI
 * fields without a Gemini equivalent are dropped, because Gemini answers 400 to unknown fields.
 */

type Part = Record<string, unknown>;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

/** Image types Gemini reads inline; others (`image/gif`...) are refused before anything is sent. */
const inlineImageTypes = new Set([
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/heic',
  'image/heif',
]);

/** Gemini's rule for function names, stricter than OpenAI's (no leading digit or dash). */
const functionNamePattern = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/;

/** Gemini takes at most five stop sequences. */
const maxStopSequences = 5;

/** Gemini's `candidateCount` range. */
const maxCandidates = 8;

/** `batchEmbedContents` takes at most 100 requests. */
export const maxEmbeddingInputs = 100;

/**
 * An OpenAI chat request as a `generateContent` (or `streamGenerateContent`) body.
 *
 * - `system` and `developer` messages -> `systemInstruction` (text only);
 * - `assistant` -> role `model`; its `tool_calls` -> `functionCall` parts;
 * - `tool` messages -> `functionResponse` parts in one user turn, named after the function the
 *   earlier assistant `tool_call` with that id called (Gemini matches results by name);
 * - `max_tokens` / `max_completion_tokens` -> `maxOutputTokens` (on thinking models this budget
 *   also covers the thoughts), `temperature`, `top_p` -> `topP`, `top_k` -> `topK`, `stop` ->
 *   `stopSequences`, `seed`, `n` -> `candidateCount`;
 * - `response_format` -> `responseMimeType` (+ `responseSchema`);
 * - `tools` -> `functionDeclarations`, `tool_choice` -> `toolConfig.functionCallingConfig`
 *   (`auto` -> `AUTO`, `none` -> `NONE`, `required` -> `ANY`, a named function -> `ANY` with
 *   `allowedFunctionNames`); without tools, `tool_choice` is dropped;
 * - content parts: `text`; `image_url`, `input_audio` and `file` (`file_data`) given as base64
 *   data -> `inlineData`. Image URLs on the web are refused: Gemini's `fileData` reads files
 *   uploaded to Google's File API, not arbitrary URLs, and fetching them here would be I/O.
 *
 * Dropped: `presence_penalty` and `frequency_penalty` (several Gemini models answer 400 to them),
 * `logit_bias`, `logprobs`, `user`, `parallel_tool_calls` (Gemini has no switch), `stream` and
 * `stream_options` (streaming is chosen by the endpoint). Throws `ERR_PARAMS_INVALID` naming the
 * param for what Gemini cannot take.
 */
export function toGenerateContentRequest(params: Params): Params {
  const messages = params.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalidParam('messages', 'params.messages must be a non-empty array');
  }
  const { system, contents } = translateMessages(messages);
  if (contents.length === 0) {
    throw invalidParam(
      'messages',
      'params.messages must hold at least one user, assistant or tool message with content',
    );
  }
  const request: Params = { contents };
  if (system.length > 0) request.systemInstruction = { parts: system };
  const generationConfig = generationConfigOf(params);
  if (Object.keys(generationConfig).length > 0) request.generationConfig = generationConfig;
  const declarations = functionDeclarationsOf(params.tools);
  if (declarations !== undefined) {
    request.tools = [{ functionDeclarations: declarations }];
    const calling = functionCallingConfigOf(params.tool_choice);
    if (calling !== undefined) request.toolConfig = { functionCallingConfig: calling };
  }
  return request;
}

/** An OpenAI text completion request (`prompt`) as a `generateContent` body. */
export function completionToGenerateContentRequest(params: Params): Params {
  const prompt =
    Array.isArray(params.prompt) && params.prompt.length === 1 ? params.prompt[0] : params.prompt;
  if (typeof prompt !== 'string' || prompt === '') {
    throw invalidParam('prompt', 'params.prompt must be a non-empty string for provider google');
  }
  const { prompt: _prompt, suffix: _suffix, ...rest } = params;
  return toGenerateContentRequest({ ...rest, messages: [{ role: 'user', content: prompt }] });
}

/**
 * OpenAI embeddings params as a `batchEmbedContents` body for `model`: one request per input
 * (each must name the model of the URL, `models/<model>`), `dimensions` ->
 * `outputDimensionality`. Token-array inputs are refused: Gemini embeds text only.
 */
export function toBatchEmbedContentsRequest(params: Params): Params {
  const model = params.model;
  if (typeof model !== 'string' || model === '') {
    throw invalidParam('model', 'params.model must be a non-empty string');
  }
  const inputs = typeof params.input === 'string' ? [params.input] : params.input;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw invalidParam('input', 'params.input must be a string or a non-empty array of strings');
  }
  if (inputs.length > maxEmbeddingInputs) {
    throw invalidParam(
      'input',
      `params.input has ${inputs.length} items; provider google embeds at most ${maxEmbeddingInputs} per request`,
    );
  }
  const dimensions = params.dimensions;
  if (dimensions !== undefined && (!Number.isInteger(dimensions) || (dimensions as number) < 1)) {
    throw invalidParam('dimensions', 'params.dimensions must be a positive integer');
  }
  const requests = inputs.map((input, index) => {
    if (typeof input !== 'string' || input === '') {
      throw invalidParam(
        `input[${index}]`,
        `params.input[${index}] must be a non-empty string (provider google embeds text, not token arrays)`,
      );
    }
    const request: Params = { model: `models/${model}`, content: { parts: [{ text: input }] } };
    if (dimensions !== undefined) request.outputDimensionality = dimensions;
    return request;
  });
  return { requests };
}

function generationConfigOf(params: Params): Params {
  const config: Params = {};
  const maxTokens = params.max_completion_tokens ?? params.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) config.maxOutputTokens = maxTokens;
  if (typeof params.temperature === 'number') config.temperature = params.temperature;
  if (typeof params.top_p === 'number') config.topP = params.top_p;
  if (typeof params.top_k === 'number') config.topK = params.top_k;
  if (typeof params.seed === 'number') config.seed = params.seed;
  const stop = stopSequencesOf(params.stop);
  if (stop !== undefined) config.stopSequences = stop;
  const candidates = candidateCountOf(params.n);
  if (candidates !== undefined) config.candidateCount = candidates;
  Object.assign(config, responseFormatOf(params.response_format));
  return config;
}

function stopSequencesOf(stop: unknown): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw invalidParam('stop', 'params.stop must be a string or an array of strings');
  }
  if (list.length > maxStopSequences) {
    throw invalidParam(
      'stop',
      `params.stop has ${list.length} sequences; provider google takes at most ${maxStopSequences}`,
    );
  }
  return list.length === 0 ? undefined : list;
}

/** `n` -> `candidateCount`; 1 is Gemini's default and is left out. */
function candidateCountOf(n: unknown): number | undefined {
  if (n === undefined || n === null || n === 1) return undefined;
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > maxCandidates) {
    throw invalidParam(
      'n',
      `params.n must be an integer from 1 to ${maxCandidates} for provider google`,
    );
  }
  return n as number;
}

function responseFormatOf(format: unknown): Params {
  if (format === undefined || format === null) return {};
  if (!isRecord(format)) throw responseFormatError();
  if (format.type === 'text') return {};
  if (format.type === 'json_object') return { responseMimeType: 'application/json' };
  const spec = isRecord(format.json_schema) ? format.json_schema : undefined;
  if (format.type !== 'json_schema' || spec === undefined || !isRecord(spec.schema)) {
    throw responseFormatError();
  }
  const schema = toGeminiSchema(spec.schema, 'response_format.json_schema.schema', {
    propertyOrdering: true,
  });
  if (isOpenObject(schema)) {
    // Gemini refuses an OBJECT schema without properties; "any object" is what JSON mode gives.
    return { responseMimeType: 'application/json' };
  }
  return { responseMimeType: 'application/json', responseSchema: schema };
}

function responseFormatError(): LoadBalancerError {
  return invalidParam(
    'response_format',
    'params.response_format must be {type: "text"}, {type: "json_object"} or {type: "json_schema", json_schema: {name, schema}}',
  );
}

function isOpenObject(schema: Record<string, unknown>): boolean {
  return (
    schema.type === 'OBJECT' &&
    (!isRecord(schema.properties) || Object.keys(schema.properties).length === 0) &&
    schema.anyOf === undefined
  );
}

function translateMessages(messages: unknown[]): { system: Part[]; contents: Content[] } {
  const system: Part[] = [];
  const contents: Content[] = [];
  /** Function names by the id of the assistant tool call that called them. */
  const calledNames = new Map<string, string>();
  messages.forEach((message, index) => {
    if (!isRecord(message)) {
      throw invalidParam(`messages[${index}]`, `params.messages[${index}] must be an object`);
    }
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...systemParts(message.content, index));
        return;
      case 'user':
        appendTurn(contents, 'user', contentParts(message.content, index));
        return;
      case 'assistant':
        appendTurn(contents, 'model', assistantParts(message, index, calledNames));
        return;
      case 'tool':
        // Consecutive tool results share one user turn, as Gemini wants one response per call.
        appendTurn(contents, 'user', [functionResponsePart(message, index, calledNames)]);
        return;
      default:
        throw invalidParam(
          `messages[${index}].role`,
          `params.messages[${index}].role must be system, developer, user, assistant or tool`,
        );
    }
  });
  return { system, contents };
}

/** Consecutive same-role messages share a turn; messages with no parts send nothing (Gemini refuses empty turns). */
function appendTurn(contents: Content[], role: 'user' | 'model', parts: Part[]): void {
  if (parts.length === 0) return;
  const last = contents[contents.length - 1];
  if (last !== undefined && last.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function systemParts(content: unknown, index: number): Part[] {
  const parts = contentParts(content, index);
  const other = parts.findIndex((part) => part.text === undefined);
  if (other >= 0) {
    // Dropping an image from instructions would change their meaning silently.
    throw invalidParam(
      `messages[${index}].content[${other}]`,
      `params.messages[${index}].content[${other}]: provider google takes text only in system messages`,
    );
  }
  return parts;
}

function contentParts(content: unknown, index: number): Part[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) {
    throw invalidParam(
      `messages[${index}].content`,
      `params.messages[${index}].content must be a string or an array of parts`,
    );
  }
  return content
    .map((part, partIndex) => contentPart(part, `messages[${index}].content[${partIndex}]`))
    .filter((part) => part.text !== '');
}

function contentPart(part: unknown, path: string): Part {
  if (!isRecord(part)) throw invalidParam(path, `params.${path} must be an object`);
  switch (part.type) {
    case 'text':
      if (typeof part.text !== 'string') {
        throw invalidParam(`${path}.text`, `params.${path}.text must be a string`);
      }
      return { text: part.text };
    case 'image_url':
      return imagePart(part.image_url, path);
    case 'input_audio':
      return audioPart(part.input_audio, path);
    case 'file':
      return filePart(part.file, path);
    default:
      throw invalidParam(
        path,
        `params.${path} has a part type provider google cannot take (text, image_url, input_audio and file are supported)`,
      );
  }
}

function imagePart(imageURL: unknown, path: string): Part {
  const url = isRecord(imageURL) ? imageURL.url : imageURL;
  const param = `${path}.image_url.url`;
  if (typeof url !== 'string') throw invalidParam(param, `params.${param} must be a string`);
  const dataURL = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (dataURL === null) {
    const why = /^https?:\/\//i.test(url)
      ? 'provider google reads images sent inline only (its fileData takes files uploaded to Google, not web URLs); send the image as a data:image/...;base64 URL'
      : 'must be a data:image/...;base64 URL';
    throw invalidParam(param, `params.${param}: ${why}`);
  }
  const mimeType = (dataURL[1] as string).toLowerCase();
  if (!inlineImageTypes.has(mimeType)) {
    throw invalidParam(
      param,
      `params.${param} is ${mimeType}; provider google reads ${[...inlineImageTypes].join(', ')}`,
    );
  }
  return { inlineData: { mimeType, data: dataURL[2] } };
}

/** Document types Gemini reads inline from an OpenAI `file` part. */
const inlineFileTypes = new Set(['application/pdf', 'text/plain', ...inlineImageTypes]);

/** An OpenAI `file` part sent as `file_data` (a data: URL); uploaded `file_id`s live at OpenAI only. */
function filePart(file: unknown, path: string): Part {
  const param = `${path}.file.file_data`;
  const data = isRecord(file) ? file.file_data : undefined;
  const dataURL = typeof data === 'string' ? /^data:([^;,]+);base64,(.*)$/s.exec(data) : null;
  if (dataURL === null) {
    throw invalidParam(
      param,
      `params.${param} must be a data:...;base64 URL (provider google cannot read OpenAI file ids)`,
    );
  }
  const mimeType = (dataURL[1] as string).toLowerCase();
  if (!inlineFileTypes.has(mimeType)) {
    throw invalidParam(
      param,
      `params.${param} is ${mimeType}; provider google reads ${[...inlineFileTypes].join(', ')}`,
    );
  }
  return { inlineData: { mimeType, data: dataURL[2] } };
}

function audioPart(audio: unknown, path: string): Part {
  const param = `${path}.input_audio`;
  if (!isRecord(audio) || typeof audio.data !== 'string' || typeof audio.format !== 'string') {
    throw invalidParam(param, `params.${param} must be {data, format}`);
  }
  return { inlineData: { mimeType: `audio/${audio.format}`, data: audio.data } };
}

function assistantParts(
  message: Record<string, unknown>,
  index: number,
  calledNames: Map<string, string>,
): Part[] {
  const parts = contentParts(message.content, index);
  if (message.tool_calls === undefined || message.tool_calls === null) return parts;
  if (!Array.isArray(message.tool_calls)) {
    throw invalidParam(
      `messages[${index}].tool_calls`,
      `params.messages[${index}].tool_calls must be an array`,
    );
  }
  message.tool_calls.forEach((call, callIndex) => {
    const path = `messages[${index}].tool_calls[${callIndex}]`;
    const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
    if (!isRecord(call) || fn === undefined || typeof fn.name !== 'string' || fn.name === '') {
      throw invalidParam(path, `params.${path} must have an id and a function with a name`);
    }
    if (typeof call.id === 'string') calledNames.set(call.id, fn.name);
    // No id is sent: Gemini's function calls carry none, and it matches responses by name.
    parts.push({ functionCall: { name: fn.name, args: argumentsOf(fn.arguments, path) } });
  });
  return parts;
}

function argumentsOf(text: unknown, path: string): Record<string, unknown> {
  const param = `${path}.function.arguments`;
  let value: unknown = text;
  if (text === undefined || text === null || text === '') return {};
  if (typeof text === 'string') {
    try {
      value = JSON.parse(text);
    } catch {
      throw invalidParam(param, `params.${param} must be a JSON string`);
    }
  }
  // Gemini's args is a protobuf Struct: an object.
  if (!isRecord(value)) throw invalidParam(param, `params.${param} must encode a JSON object`);
  return value;
}

function functionResponsePart(
  message: Record<string, unknown>,
  index: number,
  calledNames: Map<string, string>,
): Part {
  const id = message.tool_call_id;
  const name =
    (typeof id === 'string' ? calledNames.get(id) : undefined) ??
    (typeof message.name === 'string' ? message.name : undefined);
  if (name === undefined) {
    throw invalidParam(
      `messages[${index}].tool_call_id`,
      `params.messages[${index}].tool_call_id must be the id of a tool call of an earlier assistant message (provider google matches tool results to calls by function name)`,
    );
  }
  return { functionResponse: { name, response: responseOf(message.content, index) } };
}

/**
 * A tool result as Gemini's `response` Struct: a JSON object result is passed as it is, any
 * other result is wrapped as `{content: ...}`, the convention Google's own SDKs follow.
 */
function responseOf(content: unknown, index: number): Record<string, unknown> {
  const text =
    typeof content === 'string'
      ? content
      : contentParts(content, index)
          .map((part) => (typeof part.text === 'string' ? part.text : ''))
          .join('');
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value)) return value;
  } catch {
    // Not JSON: sent as text.
  }
  return { content: text };
}

function functionDeclarationsOf(tools: unknown): Part[] | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw invalidParam('tools', 'params.tools must be an array');
  if (tools.length === 0) return undefined;
  return tools.map((tool, index) => {
    const fn =
      isRecord(tool) && tool.type === 'function' && isRecord(tool.function)
        ? tool.function
        : undefined;
    if (fn === undefined || typeof fn.name !== 'string') {
      throw invalidParam(
        `tools[${index}]`,
        `params.tools[${index}] must be {type: "function", function: {name, ...}}`,
      );
    }
    if (!functionNamePattern.test(fn.name)) {
      throw invalidParam(
        `tools[${index}].function.name`,
        `params.tools[${index}].function.name must start with a letter or an underscore and hold at most 64 letters, digits, _ . : or - (provider google)`,
      );
    }
    const declaration: Part = { name: fn.name };
    if (typeof fn.description === 'string' && fn.description !== '') {
      declaration.description = fn.description;
    }
    if (fn.parameters !== undefined && fn.parameters !== null) {
      const parameters = toGeminiSchema(fn.parameters, `tools[${index}].function.parameters`);
      // A function without arguments has no parameters: Gemini refuses an OBJECT without properties.
      if (!isOpenObject(parameters)) declaration.parameters = parameters;
    }
    return declaration;
  });
}

function functionCallingConfigOf(choice: unknown): Part | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
  }
  throw invalidParam(
    'tool_choice',
    'params.tool_choice must be "auto", "none", "required" or {type: "function", function: {name}}',
  );
}
