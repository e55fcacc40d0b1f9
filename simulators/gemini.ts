import { imageMatches, isBase64 } from './media.js';
import { exampleOf } from './schema-example.js';
import {
  decodedPath,
  type Exchange,
  isRecord,
  keyAccepted,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator-server.js';

/**
 * Google's Gemini API (`generativelanguage.googleapis.com/v1beta`), as strict as the real one on
 * what an adapter can get wrong, and stricter on one point: a key in the query string (`?key=`)
 * is refused, because we never want keys in URLs.
 *
 * Routes, under `/v1beta/models/{model}`:
 * - `:generateContent` -> a `GenerateContentResponse`;
 * - `:streamGenerateContent?alt=sse` -> SSE `data: {...}` frames separated by `\r\n\r\n` as
 *   Google sends them, no `[DONE]`; every frame carries a partial `usageMetadata`, the last one
 *   the full usage and the `finishReason`. Without `alt=sse` the stream is one JSON array;
 * - `:batchEmbedContents` and `:embedContent` (embedding models only).
 *
 * Deterministic answers:
 * - text `Hello from google (<model>)`, or JSON matching `responseSchema` /
 *   `responseJsonSchema` when `responseMimeType` is `application/json` (`{"answer": ...}` without
 *   a schema), or the first enum value for `text/x.enum`;
 * - a `functionCall` part when `tools` declare functions, the last turn is a user turn without
 *   `functionResponse` parts and `functionCallingConfig.mode` is not `NONE`. The function called
 *   is the first of `allowedFunctionNames` (mode `ANY`), else the first declared one whose name
 *   appears in the last user text, else the first declared; its `args` match its `parameters`;
 * - `maxOutputTokens` below the answer's length truncates it with `MAX_TOKENS` (one token per
 *   word); a stop sequence cuts the text (finish reason `STOP`, as Google reports it);
 * - `gemini-2.5-*` models report `thoughtsTokenCount: 5` unless `thinkingConfig.thinkingBudget`
 *   is 0; `candidateCount` gives that many candidates.
 *
 * Scripted answers (`sim.script({ answer: {...} })`): `finishReason` (`SAFETY`, `RECITATION`,
 * `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII` and `MALFORMED_FUNCTION_CALL` come without content),
 * `text`, and `streamError: { type: 'UNAVAILABLE' | 'RESOURCE_EXHAUSTED' | 'INTERNAL' | ... }`
 * which sends `data: {"error": {code, message, status}}` after `afterEvents` frames and ends.
 */

export interface GeminiSimulatorOptions extends SimulatorOptions {
  /** Model names served (without `models/`). Defaults to `geminiModels`. */
  models?: readonly string[];
}

/** Models the simulator serves by default: chat models and embedding models. */
export const geminiModels: readonly string[] = [
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'gemini-2.5-flash-lite',
  'gemini-2.0-flash',
  'gemini-2.0-flash-lite',
  'gemini-1.5-pro',
  'gemini-1.5-flash',
  'text-embedding-004',
  'gemini-embedding-001',
];

const embeddingModel = /embedding/;

/** A Gemini request problem: the HTTP status, Google's status name and its message. */
interface Problem {
  code: number;
  status: string;
  message: string;
}

const invalid = (message: string): Problem => ({ code: 400, status: 'INVALID_ARGUMENT', message });

const topLevelFields = [
  'contents',
  'systemInstruction',
  'generationConfig',
  'tools',
  'toolConfig',
  'safetySettings',
  'cachedContent',
];
const generationConfigFields = [
  'stopSequences',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'responseModalities',
  'candidateCount',
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'thinkingConfig',
  'mediaResolution',
  'speechConfig',
];
const partDataFields = [
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
];
const partFields = [...partDataFields, 'thought', 'thoughtSignature', 'videoMetadata'];
/** The OpenAPI subset Gemini's `Schema` accepts; `additionalProperties`, `$ref`... are refused. */
const schemaFields = [
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
];
const schemaTypes = [
  'TYPE_UNSPECIFIED',
  'STRING',
  'NUMBER',
  'INTEGER',
  'BOOLEAN',
  'ARRAY',
  'OBJECT',
  'NULL',
];
const mimeTypes = ['text/plain', 'application/json', 'text/x.enum'];
const inlineMimeTypes = [
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/heic',
  'image/heif',
  'application/pdf',
  'text/plain',
];
const functionName = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/;
const callingModes = ['MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED'];
const withoutContent = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'MALFORMED_FUNCTION_CALL',
]);
const statusCodes: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** Google's spelling of a field path in messages: `generation_config.response_schema`. */
function snake(path: string): string {
  return path.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function unknownField(field: string, at: string): Problem {
  const where = at === '' ? '' : ` at '${snake(at)}'`;
  return invalid(
    `Invalid JSON payload received. Unknown name "${field}"${where}: Cannot find field.`,
  );
}

function extraField(value: Record<string, unknown>, allowed: readonly string[], at: string) {
  const extra = Object.keys(value).find((key) => !allowed.includes(key));
  return extra === undefined ? undefined : unknownField(extra, at);
}

/** The first way this body breaks `generateContent`'s contract, in Google's words. */
export function generateContentProblem(
  body: Record<string, unknown> | undefined,
): Problem | undefined {
  if (body === undefined) return invalid('Invalid JSON payload received. Unexpected token.');
  return (
    extraField(body, topLevelFields, '') ??
    contentsProblem(body.contents) ??
    systemInstructionProblem(body.systemInstruction) ??
    generationConfigProblem(body.generationConfig) ??
    toolsProblem(body.tools) ??
    toolConfigProblem(body.toolConfig) ??
    safetySettingsProblem(body.safetySettings)
  );
}

function contentsProblem(contents: unknown): Problem | undefined {
  if (!Array.isArray(contents) || contents.length === 0) {
    return invalid('* GenerateContentRequest.contents: contents is not specified\n');
  }
  let previous: Record<string, unknown> | undefined;
  for (const [index, content] of contents.entries()) {
    const at = `contents[${index}]`;
    if (!isRecord(content)) return invalid(`Invalid value at '${at}': expected an object`);
    const extra = extraField(content, ['role', 'parts'], at);
    if (extra !== undefined) return extra;
    const role = content.role ?? 'user';
    if (role !== 'user' && role !== 'model')
      return invalid('Please use a valid role: user, model.');
    if (!Array.isArray(content.parts) || content.parts.length === 0) {
      return invalid(`* GenerateContentRequest.${at}.parts: contents.parts must not be empty.\n`);
    }
    for (const [partIndex, part] of content.parts.entries()) {
      const problem = partProblem(part, `${at}.parts[${partIndex}]`, role);
      if (problem !== undefined) return problem;
    }
    const problem = turnOrderProblem(content, previous);
    if (problem !== undefined) return problem;
    previous = content;
  }
  return undefined;
}

function partsOf(
  content: Record<string, unknown> | undefined,
  kind: string,
): Record<string, unknown>[] {
  if (content === undefined || !Array.isArray(content.parts)) return [];
  return content.parts
    .filter((part): part is Record<string, unknown> => isRecord(part) && isRecord(part[kind]))
    .map((part) => part[kind] as Record<string, unknown>);
}

/** Function calls follow a user turn; function responses answer the call turn just before. */
function turnOrderProblem(
  content: Record<string, unknown>,
  previous: Record<string, unknown> | undefined,
): Problem | undefined {
  const previousRole = previous === undefined ? undefined : (previous.role ?? 'user');
  if (partsOf(content, 'functionCall').length > 0 && previousRole !== 'user') {
    return invalid(
      'Please ensure that function call turn comes immediately after a user turn or after a function response turn.',
    );
  }
  const responses = partsOf(content, 'functionResponse');
  if (responses.length === 0) return undefined;
  const calls = partsOf(previous, 'functionCall');
  if (previousRole !== 'model' || calls.length === 0) {
    return invalid(
      'Please ensure that function response turn comes immediately after a function call turn.',
    );
  }
  if (calls.length !== responses.length) {
    return invalid(
      'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.',
    );
  }
  const names = calls.map((call) => String(call.name)).sort();
  const answered = responses.map((response) => String(response.name)).sort();
  if (names.join('\n') !== answered.join('\n')) {
    // Simulator-only strictness: the adapter matches tool results back to calls by name.
    return invalid(
      `simulator: functionResponse names (${answered.join(', ')}) do not match the function calls of the previous turn (${names.join(', ')}).`,
    );
  }
  return undefined;
}

function partProblem(part: unknown, at: string, role: unknown): Problem | undefined {
  if (!isRecord(part)) return invalid(`Invalid value at '${snake(at)}': expected an object`);
  const extra = extraField(part, partFields, at);
  if (extra !== undefined) return extra;
  const data = partDataFields.filter((field) => part[field] !== undefined);
  if (data.length === 0 || (data[0] === 'text' && part.text === '')) {
    return invalid(
      `* GenerateContentRequest.${at}.data: required oneof field 'data' must have one initialized field\n`,
    );
  }
  if (data.length > 1) {
    return invalid(
      `Invalid value at '${snake(at)}' (oneof), oneof field 'data' is already set. Cannot set '${data[1]}'`,
    );
  }
  if (part.text !== undefined && typeof part.text !== 'string') {
    return invalid(
      `Invalid value at '${snake(at)}.text' (TYPE_STRING), ${JSON.stringify(part.text)}`,
    );
  }
  if (part.inlineData !== undefined) return inlineDataProblem(part.inlineData, `${at}.inlineData`);
  if (part.functionCall !== undefined) {
    const call = part.functionCall;
    if (role !== 'model') {
      return invalid(
        `* GenerateContentRequest.${at}.function_call: only model turns may carry a function call\n`,
      );
    }
    if (!isRecord(call) || typeof call.name !== 'string' || call.name === '') {
      return invalid(`* GenerateContentRequest.${at}.function_call.name: name must not be empty\n`);
    }
    const extraCall = extraField(call, ['id', 'name', 'args'], `${at}.functionCall`);
    if (extraCall !== undefined) return extraCall;
    if (call.args !== undefined && !isRecord(call.args)) {
      return invalid(
        `Invalid value at '${snake(at)}.function_call.args' (type.googleapis.com/google.protobuf.Struct), ${JSON.stringify(call.args)}`,
      );
    }
  }
  if (part.functionResponse !== undefined) {
    const response = part.functionResponse;
    if (role !== 'user') {
      return invalid(
        `* GenerateContentRequest.${at}.function_response: only user turns may carry a function response\n`,
      );
    }
    if (!isRecord(response) || typeof response.name !== 'string' || response.name === '') {
      return invalid(
        `* GenerateContentRequest.${at}.function_response.name: name must not be empty\n`,
      );
    }
    const extraResponse = extraField(
      response,
      ['id', 'name', 'response', 'willContinue', 'scheduling'],
      `${at}.functionResponse`,
    );
    if (extraResponse !== undefined) return extraResponse;
    if (!isRecord(response.response)) {
      return invalid(
        `Invalid value at '${snake(at)}.function_response.response' (type.googleapis.com/google.protobuf.Struct), ${JSON.stringify(response.response ?? null)}`,
      );
    }
  }
  return undefined;
}

function inlineDataProblem(inline: unknown, at: string): Problem | undefined {
  if (!isRecord(inline)) return invalid(`Invalid value at '${snake(at)}': expected an object`);
  const extra = extraField(inline, ['mimeType', 'data'], at);
  if (extra !== undefined) return extra;
  if (typeof inline.data !== 'string' || !isBase64(inline.data)) {
    return invalid(
      `Invalid value at '${snake(at)}.data' (TYPE_BYTES), Base64 decoding failed for "${String(inline.data).slice(0, 20)}"`,
    );
  }
  const mimeType = String(inline.mimeType);
  if (!inlineMimeTypes.includes(mimeType) && !/^(audio|video)\//.test(mimeType)) {
    return invalid(`Unsupported MIME type: ${mimeType}`);
  }
  if (mimeType.startsWith('image/') && !imageMatches(mimeType.slice(6), inline.data)) {
    return invalid(
      'Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
    );
  }
  return undefined;
}

function systemInstructionProblem(instruction: unknown): Problem | undefined {
  if (instruction === undefined) return undefined;
  if (!isRecord(instruction))
    return invalid("Invalid value at 'system_instruction': expected an object");
  const extra = extraField(instruction, ['role', 'parts'], 'systemInstruction');
  if (extra !== undefined) return extra;
  if (!Array.isArray(instruction.parts) || instruction.parts.length === 0) {
    return invalid(
      '* GenerateContentRequest.system_instruction.parts: contents.parts must not be empty.\n',
    );
  }
  for (const [index, part] of instruction.parts.entries()) {
    const at = `systemInstruction.parts[${index}]`;
    if (!isRecord(part) || typeof part.text !== 'string') {
      return invalid(
        `* GenerateContentRequest.${snake(at)}: system instructions take text parts only\n`,
      );
    }
    const extra = extraField(part, ['text'], at);
    if (extra !== undefined) return extra;
  }
  return undefined;
}

function numberProblem(
  config: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
  integer = false,
) {
  const value = config[field];
  if (value === undefined) return undefined;
  const ok =
    typeof value === 'number' &&
    value >= min &&
    value <= max &&
    (!integer || Number.isInteger(value));
  return ok
    ? undefined
    : invalid(
        `* GenerateContentRequest.generation_config.${snake(field)}: must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}\n`,
      );
}

function generationConfigProblem(config: unknown): Problem | undefined {
  if (config === undefined) return undefined;
  if (!isRecord(config)) return invalid("Invalid value at 'generation_config': expected an object");
  const extra = extraField(config, generationConfigFields, 'generationConfig');
  if (extra !== undefined) return extra;
  const ranges =
    numberProblem(config, 'temperature', 0, 2) ??
    numberProblem(config, 'topP', 0, 1) ??
    numberProblem(config, 'topK', 1, 1_000_000, true) ??
    numberProblem(config, 'maxOutputTokens', 1, 1_000_000, true) ??
    numberProblem(config, 'candidateCount', 1, 8, true) ??
    numberProblem(config, 'seed', -(2 ** 31), 2 ** 31 - 1, true) ??
    numberProblem(config, 'presencePenalty', -2, 2) ??
    numberProblem(config, 'frequencyPenalty', -2, 2);
  if (ranges !== undefined) return ranges;
  const stops = config.stopSequences;
  if (stops !== undefined) {
    if (
      !Array.isArray(stops) ||
      !stops.every((stop) => typeof stop === 'string') ||
      stops.length > 5
    ) {
      return invalid(
        '* GenerateContentRequest.generation_config.stop_sequences: at most 5 strings\n',
      );
    }
  }
  if (
    config.responseMimeType !== undefined &&
    !mimeTypes.includes(String(config.responseMimeType))
  ) {
    return invalid(
      `* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are \`text/plain\`, \`application/json\`, \`text/x.enum\`.\n`,
    );
  }
  if (config.responseSchema !== undefined || config.responseJsonSchema !== undefined) {
    if (config.responseSchema !== undefined && config.responseJsonSchema !== undefined) {
      return invalid(
        '* GenerateContentRequest.generation_config: set response_schema or response_json_schema, not both\n',
      );
    }
    if (
      config.responseMimeType !== 'application/json' &&
      config.responseMimeType !== 'text/x.enum'
    ) {
      return invalid(
        '* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must be application/json or text/x.enum when a response schema is set\n',
      );
    }
    if (config.responseSchema !== undefined) {
      const problem = schemaProblem(config.responseSchema, 'generationConfig.responseSchema');
      if (problem !== undefined) return problem;
    } else if (!isRecord(config.responseJsonSchema)) {
      return invalid(
        "Invalid value at 'generation_config.response_json_schema': expected an object",
      );
    }
  }
  if (config.thinkingConfig !== undefined) {
    if (!isRecord(config.thinkingConfig))
      return invalid("Invalid value at 'generation_config.thinking_config'");
    const extraThinking = extraField(
      config.thinkingConfig,
      ['thinkingBudget', 'includeThoughts', 'thinkingLevel'],
      'generationConfig.thinkingConfig',
    );
    if (extraThinking !== undefined) return extraThinking;
  }
  return undefined;
}

/** Checks a schema against the OpenAPI subset Gemini reads (used for responseSchema and tools). */
export function schemaProblem(schema: unknown, at: string): Problem | undefined {
  if (!isRecord(schema)) return invalid(`Invalid value at '${snake(at)}': expected an object`);
  const extra = extraField(schema, schemaFields, at);
  if (extra !== undefined) return extra;
  if (schema.type !== undefined) {
    if (typeof schema.type !== 'string' || !schemaTypes.includes(schema.type.toUpperCase())) {
      return invalid(
        `Invalid value at '${snake(at)}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ${JSON.stringify(schema.type)}`,
      );
    }
  }
  if (schema.properties !== undefined) {
    if (!isRecord(schema.properties)) return invalid(`Invalid value at '${snake(at)}.properties'`);
    for (const [name, property] of Object.entries(schema.properties)) {
      const problem = schemaProblem(property, `${at}.properties[${name}].value`);
      if (problem !== undefined) return problem;
    }
  }
  if (schema.items !== undefined) {
    const problem = schemaProblem(schema.items, `${at}.items`);
    if (problem !== undefined) return problem;
  }
  if (Array.isArray(schema.anyOf)) {
    for (const [index, option] of schema.anyOf.entries()) {
      const problem = schemaProblem(option, `${at}.anyOf[${index}]`);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

function toolsProblem(tools: unknown): Problem | undefined {
  if (tools === undefined) return undefined;
  if (!Array.isArray(tools)) return invalid("Invalid value at 'tools': expected a list");
  for (const [index, tool] of tools.entries()) {
    const at = `tools[${index}]`;
    if (!isRecord(tool)) return invalid(`Invalid value at '${at}': expected an object`);
    const extra = extraField(
      tool,
      [
        'functionDeclarations',
        'googleSearch',
        'googleSearchRetrieval',
        'codeExecution',
        'urlContext',
      ],
      at,
    );
    if (extra !== undefined) return extra;
    if (tool.functionDeclarations === undefined) continue;
    if (!Array.isArray(tool.functionDeclarations)) {
      return invalid(`Invalid value at '${at}.function_declarations': expected a list`);
    }
    for (const [fnIndex, declaration] of tool.functionDeclarations.entries()) {
      const fnAt = `${at}.functionDeclarations[${fnIndex}]`;
      if (!isRecord(declaration)) return invalid(`Invalid value at '${snake(fnAt)}'`);
      const extraFn = extraField(
        declaration,
        [
          'name',
          'description',
          'parameters',
          'parametersJsonSchema',
          'response',
          'responseJsonSchema',
          'behavior',
        ],
        fnAt,
      );
      if (extraFn !== undefined) return extraFn;
      if (typeof declaration.name !== 'string' || !functionName.test(declaration.name)) {
        return invalid(
          `* GenerateContentRequest.${snake(fnAt)}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n`,
        );
      }
      if (declaration.parameters !== undefined && declaration.parametersJsonSchema !== undefined) {
        return invalid(
          `* GenerateContentRequest.${snake(fnAt)}: set parameters or parameters_json_schema, not both\n`,
        );
      }
      if (declaration.parameters !== undefined) {
        const problem = schemaProblem(declaration.parameters, `${fnAt}.parameters`);
        if (problem !== undefined) return problem;
      }
    }
  }
  return undefined;
}

function toolConfigProblem(config: unknown): Problem | undefined {
  if (config === undefined) return undefined;
  if (!isRecord(config)) return invalid("Invalid value at 'tool_config': expected an object");
  const extra = extraField(config, ['functionCallingConfig', 'retrievalConfig'], 'toolConfig');
  if (extra !== undefined) return extra;
  const calling = config.functionCallingConfig;
  if (calling === undefined) return undefined;
  if (!isRecord(calling)) return invalid("Invalid value at 'tool_config.function_calling_config'");
  const extraCalling = extraField(
    calling,
    ['mode', 'allowedFunctionNames'],
    'toolConfig.functionCallingConfig',
  );
  if (extraCalling !== undefined) return extraCalling;
  if (calling.mode !== undefined && !callingModes.includes(String(calling.mode))) {
    return invalid(
      `Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), ${JSON.stringify(calling.mode)}`,
    );
  }
  return undefined;
}

function safetySettingsProblem(settings: unknown): Problem | undefined {
  if (settings === undefined) return undefined;
  if (!Array.isArray(settings))
    return invalid("Invalid value at 'safety_settings': expected a list");
  for (const [index, setting] of settings.entries()) {
    const at = `safetySettings[${index}]`;
    if (!isRecord(setting)) return invalid(`Invalid value at '${snake(at)}'`);
    const extra = extraField(setting, ['category', 'threshold', 'method'], at);
    if (extra !== undefined) return extra;
    if (!String(setting.category).startsWith('HARM_CATEGORY_')) {
      return invalid(
        `Invalid value at '${snake(at)}.category' (type.googleapis.com/google.ai.generativelanguage.v1beta.HarmCategory), ${JSON.stringify(setting.category)}`,
      );
    }
  }
  return undefined;
}

function embedProblem(
  body: Record<string, unknown> | undefined,
  model: string,
  batch: boolean,
): Problem | undefined {
  if (body === undefined) return invalid('Invalid JSON payload received. Unexpected token.');
  if (!batch) return embedRequestProblem(body, '', model);
  const extra = extraField(body, ['requests'], '');
  if (extra !== undefined) return extra;
  if (!Array.isArray(body.requests) || body.requests.length === 0) {
    return invalid('* BatchEmbedContentsRequest.requests: requests must not be empty\n');
  }
  for (const [index, request] of body.requests.entries()) {
    const problem = embedRequestProblem(request, `requests[${index}]`, model);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function embedRequestProblem(request: unknown, at: string, model: string): Problem | undefined {
  if (!isRecord(request)) return invalid(`Invalid value at '${at}': expected an object`);
  const extra = extraField(
    request,
    ['model', 'content', 'taskType', 'title', 'outputDimensionality'],
    at,
  );
  if (extra !== undefined) return extra;
  if (at !== '' && request.model !== `models/${model}`) {
    return invalid(
      `* BatchEmbedContentsRequest.${at}.model: the model in each request must be "models/${model}", the model of the URL\n`,
    );
  }
  const content = request.content;
  if (!isRecord(content) || !Array.isArray(content.parts) || content.parts.length === 0) {
    return invalid(`* EmbedContentRequest.content: content must not be empty\n`);
  }
  if (!content.parts.every((part) => isRecord(part) && typeof part.text === 'string')) {
    return invalid('* EmbedContentRequest.content.parts: embedding models take text parts\n');
  }
  return undefined;
}

function googleError(exchange: Exchange, problem: Problem, details?: unknown[]): void {
  exchange.json(
    problem.code,
    {
      error: {
        code: problem.code,
        message: problem.message,
        status: problem.status,
        ...(details === undefined ? {} : { details }),
      },
    },
    { 'content-type': 'application/json; charset=UTF-8' },
  );
}

const route =
  /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents|embedContent)$/;

/** Google Gemini: `x-goog-api-key`, model and method in the path, strict protobuf-style JSON. */
export function startGeminiSimulator(options: GeminiSimulatorOptions = {}): Promise<Simulator> {
  const models = options.models ?? geminiModels;
  return startSimulator(
    '/v1beta',
    async (exchange) => {
      const match = route.exec(decodedPath(exchange.url.pathname) ?? '');
      if (exchange.request.method !== 'POST' || match === null) {
        googleError(exchange, {
          code: 404,
          status: 'NOT_FOUND',
          message: `The requested URL ${exchange.url.pathname} was not found on this server.`,
        });
        return;
      }
      const params = exchange.url.searchParams;
      if (params.has('key')) {
        googleError(
          exchange,
          invalid(
            'simulator: an API key in the query string (?key=) is refused: keys in URLs reach logs. Send it in the x-goog-api-key header.',
          ),
        );
        return;
      }
      const unknownParam = [...params.keys()].find((name) => name !== 'alt');
      const alt = params.get('alt');
      if (unknownParam !== undefined || (alt !== null && alt !== 'sse' && alt !== 'json')) {
        googleError(
          exchange,
          invalid(
            `Invalid JSON payload received. Unknown name "${unknownParam ?? 'alt'}": Cannot bind query parameter.`,
          ),
        );
        return;
      }
      const key = exchange.request.headers['x-goog-api-key'];
      if (key === undefined || key === '') {
        googleError(exchange, {
          code: 403,
          status: 'PERMISSION_DENIED',
          message:
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        });
        return;
      }
      if (!keyAccepted(typeof key === 'string' ? key : undefined, options)) {
        googleError(exchange, invalid('API key not valid. Please pass a valid API key.'), [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ]);
        return;
      }
      const model = match[1] as string;
      const method = match[2] as string;
      const embedding = method === 'batchEmbedContents' || method === 'embedContent';
      if (!models.includes(model) || embeddingModel.test(model) !== embedding) {
        googleError(exchange, {
          code: 404,
          status: 'NOT_FOUND',
          message: `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
        });
        return;
      }
      const body = exchange.request.body;
      const problem = embedding
        ? embedProblem(body, model, method === 'batchEmbedContents')
        : generateContentProblem(body);
      if (problem !== undefined || body === undefined) {
        googleError(exchange, problem ?? invalid('Invalid JSON payload received.'));
        return;
      }
      if (embedding) {
        answerEmbedding(exchange, body, method === 'batchEmbedContents');
        return;
      }
      await answer(exchange, body, model, method === 'streamGenerateContent' ? alt : undefined);
    },
    options,
  );
}

function answerEmbedding(exchange: Exchange, body: Record<string, unknown>, batch: boolean): void {
  const vectorFor = (request: unknown) => {
    const size =
      isRecord(request) && Number.isInteger(request.outputDimensionality)
        ? (request.outputDimensionality as number)
        : 3;
    return {
      values: Array.from({ length: size }, (_, index) => Math.round((index + 1) * 0.1 * 10) / 10),
    };
  };
  if (!batch) {
    exchange.json(200, { embedding: vectorFor(body) });
    return;
  }
  exchange.json(200, { embeddings: (body.requests as unknown[]).map(vectorFor) });
}

let sequence = 0;

interface Planned {
  parts: Record<string, unknown>[];
  finishReason: string;
  outputTokens: number;
}

/** What the model "says": a function call, JSON, or text; truncated or cut as configured. */
function plan(exchange: Exchange, body: Record<string, unknown>, model: string): Planned {
  const config = isRecord(body.generationConfig) ? body.generationConfig : {};
  const override = exchange.overrides;
  const call = functionToCall(body);
  if (call !== undefined && override?.text === undefined) {
    return {
      parts: [{ functionCall: call }],
      finishReason: override?.finishReason ?? 'STOP',
      outputTokens: 5,
    };
  }
  let text = override?.text ?? `Hello from google (${model})`;
  const schema = config.responseSchema ?? config.responseJsonSchema;
  if (config.responseMimeType === 'application/json') {
    text = JSON.stringify(schema === undefined ? { answer: text } : exampleOf(schema));
  } else if (
    config.responseMimeType === 'text/x.enum' &&
    isRecord(schema) &&
    Array.isArray(schema.enum)
  ) {
    text = String(schema.enum[0]);
  }
  let finishReason = 'STOP';
  const stops = Array.isArray(config.stopSequences) ? (config.stopSequences as string[]) : [];
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0) text = text.slice(0, at);
  }
  let words = text.split(/(?= )/);
  if (typeof config.maxOutputTokens === 'number' && words.length > config.maxOutputTokens) {
    words = words.slice(0, config.maxOutputTokens);
    finishReason = 'MAX_TOKENS';
  }
  finishReason = override?.finishReason ?? finishReason;
  if (withoutContent.has(finishReason)) return { parts: [], finishReason, outputTokens: 0 };
  return { parts: words.map((word) => ({ text: word })), finishReason, outputTokens: words.length };
}

function functionToCall(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const declarations = (Array.isArray(body.tools) ? body.tools : []).flatMap((tool) =>
    isRecord(tool) && Array.isArray(tool.functionDeclarations)
      ? (tool.functionDeclarations as Record<string, unknown>[])
      : [],
  );
  if (declarations.length === 0) return undefined;
  const calling =
    isRecord(body.toolConfig) && isRecord(body.toolConfig.functionCallingConfig)
      ? body.toolConfig.functionCallingConfig
      : {};
  if (calling.mode === 'NONE') return undefined;
  const contents = body.contents as Record<string, unknown>[];
  const last = contents[contents.length - 1];
  if (
    last === undefined ||
    (last.role ?? 'user') !== 'user' ||
    partsOf(last, 'functionResponse').length > 0
  )
    return undefined;
  const allowed = Array.isArray(calling.allowedFunctionNames)
    ? calling.allowedFunctionNames.map(String)
    : [];
  const lastText = (last.parts as unknown[])
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join(' ');
  const chosen =
    (calling.mode === 'ANY'
      ? declarations.find((fn) => allowed.includes(String(fn.name)))
      : undefined) ??
    declarations.find((fn) => lastText.includes(String(fn.name))) ??
    (declarations[0] as Record<string, unknown>);
  return {
    name: chosen.name,
    args: exampleOf(chosen.parameters ?? chosen.parametersJsonSchema ?? {}),
  };
}

function usageOf(
  body: Record<string, unknown>,
  model: string,
  outputTokens: number,
  final: boolean,
) {
  const config = isRecord(body.generationConfig) ? body.generationConfig : {};
  const thinking = isRecord(config.thinkingConfig) ? config.thinkingConfig : {};
  const thoughts = model.startsWith('gemini-2.5') && thinking.thinkingBudget !== 0 ? 5 : 0;
  const prompt = 12;
  if (!final) return { promptTokenCount: prompt, totalTokenCount: prompt };
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: outputTokens,
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
    totalTokenCount: prompt + outputTokens + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
  };
}

function candidate(
  parts: Record<string, unknown>[],
  index: number,
  finishReason: string | undefined,
) {
  const blocked = finishReason !== undefined && withoutContent.has(finishReason);
  return {
    ...(blocked ? {} : { content: { parts, role: 'model' } }),
    ...(finishReason === undefined ? {} : { finishReason }),
    ...(blocked
      ? {
          safetyRatings: [
            { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
          ],
        }
      : {}),
    index,
  };
}

async function answer(
  exchange: Exchange,
  body: Record<string, unknown>,
  model: string,
  alt: string | null | undefined,
): Promise<void> {
  const responseId = `sim-gemini-${++sequence}`;
  const planned = plan(exchange, body, model);
  const config = isRecord(body.generationConfig) ? body.generationConfig : {};
  const count = typeof config.candidateCount === 'number' ? config.candidateCount : 1;
  const indexes = Array.from({ length: count }, (_, index) => index);
  if (alt === undefined) {
    const text = planned.parts.every((part) => typeof part.text === 'string');
    const parts =
      text && planned.parts.length > 0
        ? [{ text: planned.parts.map((part) => part.text).join('') }]
        : planned.parts;
    exchange.json(
      200,
      {
        candidates: indexes.map((index) => candidate(parts, index, planned.finishReason)),
        usageMetadata: usageOf(body, model, planned.outputTokens * count, true),
        modelVersion: model,
        responseId,
      },
      { 'content-type': 'application/json; charset=UTF-8' },
    );
    return;
  }
  const frames: Record<string, unknown>[] = [];
  const pieces = planned.parts.length === 0 ? [undefined] : planned.parts;
  for (const [position, part] of pieces.entries()) {
    const final = position === pieces.length - 1;
    frames.push({
      candidates: indexes.map((index) =>
        candidate(
          part === undefined ? [] : [part],
          index,
          final ? planned.finishReason : undefined,
        ),
      ),
      usageMetadata: usageOf(body, model, planned.outputTokens * count, final),
      modelVersion: model,
      responseId,
    });
  }
  const failure = exchange.overrides?.streamError;
  const written = failure === undefined ? frames : frames.slice(0, failure.afterEvents ?? 1);
  if (failure !== undefined) {
    const code = statusCodes[failure.type] ?? 500;
    written.push({
      error: {
        code,
        message: failure.message ?? 'The model is overloaded. Please try again later.',
        status: failure.type,
      },
    });
  }
  if (alt === 'sse') {
    await exchange.stream(
      'text/event-stream',
      written.map((frame) => `data: ${JSON.stringify(frame)}\r\n\r\n`),
      { 'cache-control': 'no-cache' },
    );
    return;
  }
  await exchange.stream(
    'application/json; charset=UTF-8',
    written.map(
      (frame, index) =>
        `${index === 0 ? '[' : ',\r\n'}${JSON.stringify(frame)}${index === written.length - 1 ? ']' : ''}`,
    ),
  );
}
