import { createHash, timingSafeEqual } from 'node:crypto';
import { EventStreamCodec, type MessageHeaders } from '@smithy/core/event-streams';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
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
 * AWS Bedrock's Converse API (`bedrock-runtime.{region}.amazonaws.com`), checking auth the way AWS
 * does: a SigV4 signature is recomputed with `@smithy/signature-v4` from the request as received
 * (method, path as sent, query, the headers listed in `SignedHeaders`, the exact body bytes) and
 * the secret the simulator knows; or a Bedrock API key as `Authorization: Bearer <key>`.
 *
 * Routes: `POST /model/{modelId}/converse` (JSON) and `POST /model/{modelId}/converse-stream`
 * (`application/vnd.amazon.eventstream`: binary frames with prelude and message CRC32s, encoded
 * with the same codec the AWS SDK decodes with). The model id is read percent-decoded, so
 * `anthropic.claude-3-5-haiku-20241022-v1%3A0` names `...-v1:0`.
 *
 * Deterministic answers: text `Hello from bedrock (<modelId>)`; with `toolConfig` and a last user
 * turn without `toolResult` blocks, a `toolUse` of the tool `toolChoice.tool` names, else the
 * first (preceded by a text block `Let me check.` under `toolChoice.auto` or no choice), its
 * input matching `inputSchema.json`; `maxTokens` below the answer's word count truncates it
 * (`max_tokens`); a stop sequence in the text cuts it (`stop_sequence`). Usage: 12 input tokens,
 * one output token per word.
 *
 * Stream events, as Bedrock sends them (each payload also carries Bedrock's `p` padding field):
 * `messageStart {role}`; text as `contentBlockDelta {contentBlockIndex, delta: {text}}` with no
 * `contentBlockStart` (Bedrock sends that for tool use only); a tool as `contentBlockStart
 * {start: {toolUse: {toolUseId, name}}}` then `contentBlockDelta {delta: {toolUse: {input}}}`
 * fragments; `contentBlockStop`; `messageStop {stopReason}`; `metadata {usage, metrics}`.
 *
 * Scripted answers (`sim.script({ answer: {...} })`): `finishReason` (any `stopReason`, e.g.
 * `guardrail_intervened`), `text`, and `streamError: { type: 'throttlingException' |
 * 'modelStreamErrorException' | 'internalServerException' | 'validationException' |
 * 'serviceUnavailableException', message?, afterEvents? }`: after `afterEvents` frames (default
 * 1) an exception frame (`:message-type` `exception`) ends the stream.
 */

export interface BedrockCredential {
  accessKeyId: string;
  secretAccessKey: string;
  /** Set for temporary credentials: requests must then carry it as `x-amz-security-token`. */
  sessionToken?: string;
}

export interface BedrockSimulatorOptions extends SimulatorOptions {
  /**
   * SigV4 credentials the simulator verifies signatures with. `apiKeys` (inherited) are the
   * Bedrock API keys accepted as bearer tokens. With neither set the simulator runs in demo mode:
   * any bearer token and any well-formed, current signature scoped to its region are accepted.
   * Set one and the other accepts nothing it does not list.
   */
  credentials?: readonly BedrockCredential[];
  /** The region signatures must be scoped to. Defaults to `us-east-1`. */
  region?: string;
  /** Model ids served. Defaults to `bedrockModels`. */
  models?: readonly string[];
  /** The clock signatures are checked against (ms since the epoch). Defaults to `Date.now`. */
  now?: () => number;
}

/** Model ids the simulator serves by default (inference profiles included). */
export const bedrockModels: readonly string[] = [
  'anthropic.claude-3-5-haiku-20241022-v1:0',
  'anthropic.claude-3-5-sonnet-20240620-v1:0',
  'us.anthropic.claude-3-5-haiku-20241022-v1:0',
  'amazon.nova-lite-v1:0',
  'amazon.nova-pro-v1:0',
  'meta.llama3-1-8b-instruct-v1:0',
  'mistral.mistral-large-2407-v1:0',
];

/** Signatures more than this far from the simulator's clock are refused, as AWS does. */
const maxSkewMs = 5 * 60_000;

interface AwsProblem {
  status: number;
  type: string;
  message: string;
}

const validation = (message: string): AwsProblem => ({
  status: 400,
  type: 'ValidationException',
  message,
});

function awsError(exchange: Exchange, problem: AwsProblem): void {
  exchange.json(
    problem.status,
    { message: problem.message },
    {
      'x-amzn-errortype': `${problem.type}:http://internal.amazon.com/coral/com.amazon.coral.service/`,
      'x-amzn-requestid': requestId(),
    },
  );
}

let sequence = 0;
const requestId = () => `00000000-0000-4000-8000-${String(++sequence).padStart(12, '0')}`;

const route = /^\/model\/([^/]+)\/(converse|converse-stream)$/;

/** AWS Bedrock Converse: SigV4 (or a bearer API key), the model id in the path, a strict body. */
export function startBedrockSimulator(options: BedrockSimulatorOptions = {}): Promise<Simulator> {
  const models = options.models ?? bedrockModels;
  return startSimulator(
    '',
    async (exchange) => {
      const match = route.exec(exchange.url.pathname);
      if (exchange.request.method !== 'POST' || match === null) {
        awsError(exchange, {
          status: 404,
          type: 'UnknownOperationException',
          message: `Unknown operation ${exchange.request.method} ${exchange.url.pathname}`,
        });
        return;
      }
      const authProblem = await authenticationProblem(exchange, options);
      if (authProblem !== undefined) {
        awsError(exchange, authProblem);
        return;
      }
      const modelId = decodedPath(match[1] as string);
      if (modelId === undefined || !models.includes(modelId)) {
        awsError(exchange, validation('The provided model identifier is invalid.'));
        return;
      }
      const body = exchange.request.body;
      if (body === undefined) {
        awsError(exchange, {
          status: 400,
          type: 'SerializationException',
          message: 'Unexpected character: the request body is not a JSON object',
        });
        return;
      }
      const problem = converseRequestProblem(body);
      if (problem !== undefined) {
        awsError(exchange, validation(problem));
        return;
      }
      if (match[2] === 'converse') answer(exchange, body, modelId);
      else await answerStream(exchange, body, modelId);
    },
    options,
  );
}

// ---------------------------------------------------------------------------------------------
// Authentication

const authorizationPattern =
  /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/;

function header(exchange: Exchange, name: string): string | undefined {
  const value = exchange.request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

const incomplete = (message: string): AwsProblem => ({
  status: 403,
  type: 'IncompleteSignatureException',
  message,
});
const invalidSignature = (message: string): AwsProblem => ({
  status: 403,
  type: 'InvalidSignatureException',
  message,
});
const unrecognized: AwsProblem = {
  status: 403,
  type: 'UnrecognizedClientException',
  message: 'The security token included in the request is invalid.',
};

async function authenticationProblem(
  exchange: Exchange,
  options: BedrockSimulatorOptions,
): Promise<AwsProblem | undefined> {
  const authorization = header(exchange, 'authorization');
  if (authorization === undefined || authorization === '') {
    return {
      status: 403,
      type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    };
  }
  const demo = options.credentials === undefined && options.apiKeys === undefined;
  if (authorization.startsWith('Bearer ')) {
    const key = authorization.slice(7);
    const accepted = demo ? key !== '' : keyAccepted(key, { apiKeys: options.apiKeys ?? [] });
    return accepted
      ? undefined
      : {
          status: 403,
          type: 'AccessDeniedException',
          message: 'Authentication failed: Please make sure your API Key is valid.',
        };
  }
  const parsed = authorizationPattern.exec(authorization);
  if (parsed === null) {
    return incomplete(
      "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  }
  const [, scope = '', signedList = '', signature = ''] = parsed;
  const amzDate = header(exchange, 'x-amz-date');
  const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (signingDate === undefined) {
    return incomplete(
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  }
  const signedHeaders = signedList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
    return incomplete("'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.");
  }
  const now = (options.now ?? Date.now)();
  if (now - signingDate.getTime() > maxSkewMs) {
    return invalidSignature(
      `Signature expired: ${amzDate} is now earlier than ${amzDateOf(now - maxSkewMs)} (${amzDateOf(now)} - 5 min.)`,
    );
  }
  if (signingDate.getTime() - now > maxSkewMs) {
    return invalidSignature(
      `Signature not yet current: ${amzDate} is still later than ${amzDateOf(now + maxSkewMs)} (${amzDateOf(now)} + 5 min.)`,
    );
  }
  const [accessKeyId = '', day, region, service, terminator] = scope.split('/');
  const expectedRegion = options.region ?? 'us-east-1';
  if (day !== amzDate?.slice(0, 8) || terminator !== 'aws4_request') {
    return invalidSignature(
      `Credential should be scoped to a valid date and end in aws4_request: ${scope.split('/').slice(1).join('/')}`,
    );
  }
  if (region !== expectedRegion) {
    return invalidSignature(
      `Credential should be scoped to a valid region, not '${String(region)}'. `,
    );
  }
  if (service !== 'bedrock') {
    return invalidSignature("Credential should be scoped to correct service: 'bedrock'. ");
  }
  const contentHash = header(exchange, 'x-amz-content-sha256');
  if (contentHash !== undefined && contentHash !== sha256Hex(exchange.request.rawBytes)) {
    return invalidSignature(
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
  if (demo) return undefined;
  const credential = options.credentials?.find((entry) => entry.accessKeyId === accessKeyId);
  if (credential === undefined) return unrecognized;
  const token = header(exchange, 'x-amz-security-token');
  if (token !== credential.sessionToken) return unrecognized;
  const expected = await expectedSignature(
    exchange,
    credential,
    expectedRegion,
    signingDate,
    signedHeaders,
  );
  return expected !== undefined && safeEqual(expected, signature)
    ? undefined
    : invalidSignature(
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
}

/** The signature AWS would compute for this request, over exactly the headers the client signed. */
async function expectedSignature(
  exchange: Exchange,
  credential: BedrockCredential,
  region: string,
  signingDate: Date,
  signedHeaders: readonly string[],
): Promise<string | undefined> {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(exchange.request.headers)) {
    const value = header(exchange, name);
    if (name !== 'authorization' && value !== undefined) headers[name] = value;
  }
  const signed = new Set(signedHeaders);
  const unsigned = new Set(
    [...Object.keys(headers), 'x-amz-security-token'].filter((name) => !signed.has(name)),
  );
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of exchange.url.searchParams) {
    const previous = query[name];
    query[name] = previous === undefined ? value : [...[previous].flat(), value];
  }
  const host = headers.host ?? '127.0.0.1';
  const signer = new SignatureV4({
    service: 'bedrock',
    region,
    credentials: credential,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
    uriEscapePath: true,
  });
  const result = await signer.sign(
    {
      method: exchange.request.method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      path: exchange.url.pathname,
      query,
      headers,
      body: new Uint8Array(exchange.request.rawBytes),
    },
    { signingDate, signableHeaders: signed, unsignableHeaders: unsigned },
  );
  const computed = String(result.headers.authorization ?? '');
  const computedHeaders = /SignedHeaders=([^,\s]+)/.exec(computed)?.[1];
  if (computedHeaders !== signedHeaders.join(';')) return undefined;
  return /Signature=([0-9a-f]{64})/.exec(computed)?.[1];
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `20260101T101500Z` -> a Date, or undefined when it is not that format. */
function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number) as number[];
  const date = new Date(Date.UTC(year as number, (month as number) - 1, day, hour, minute, second));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function amzDateOf(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

// ---------------------------------------------------------------------------------------------
// Request validation

const topLevelFields = [
  'messages',
  'system',
  'inferenceConfig',
  'toolConfig',
  'guardrailConfig',
  'additionalModelRequestFields',
  'additionalModelResponseFieldPaths',
  'promptVariables',
  'requestMetadata',
  'performanceConfig',
];
const blockKinds = [
  'text',
  'image',
  'document',
  'video',
  'toolUse',
  'toolResult',
  'guardContent',
  'reasoningContent',
  'cachePoint',
];
const imageFormats = ['png', 'jpeg', 'gif', 'webp'];
const toolName = /^[a-zA-Z0-9_-]{1,64}$/;

function extraneous(
  value: Record<string, unknown>,
  allowed: readonly string[],
): string | undefined {
  const extra = Object.keys(value).find((key) => !allowed.includes(key));
  return extra === undefined
    ? undefined
    : `Malformed input request: extraneous key [${extra}] is not permitted, please reformat your input and try again.`;
}

/** The first way this body breaks the Converse API's rules, in Bedrock's words. */
export function converseRequestProblem(body: Record<string, unknown>): string | undefined {
  return (
    extraneous(body, topLevelFields) ??
    systemProblem(body.system) ??
    inferenceConfigProblem(body.inferenceConfig) ??
    toolConfigProblem(body.toolConfig) ??
    messagesProblem(body.messages, body.toolConfig !== undefined) ??
    (body.additionalModelRequestFields === undefined || isRecord(body.additionalModelRequestFields)
      ? undefined
      : "1 validation error detected: Value at 'additionalModelRequestFields' failed to satisfy constraint: Member must be a JSON object")
  );
}

function systemProblem(system: unknown): string | undefined {
  if (system === undefined) return undefined;
  if (!Array.isArray(system))
    return "1 validation error detected: Value at 'system' failed to satisfy constraint: Member must be a list";
  for (const [index, block] of system.entries()) {
    if (!isRecord(block)) return `Invalid SystemContentBlock at system.${index}`;
    const extra = extraneous(block, ['text', 'guardContent', 'cachePoint']);
    if (extra !== undefined) return extra;
    if ('text' in block && (typeof block.text !== 'string' || block.text.trim() === '')) {
      return `The text field in the SystemContentBlock object at system.${index} is blank. Add text to the text field, and try again.`;
    }
  }
  return undefined;
}

function inferenceConfigProblem(config: unknown): string | undefined {
  if (config === undefined) return undefined;
  if (!isRecord(config))
    return "1 validation error detected: Value at 'inferenceConfig' failed to satisfy constraint: Member must be an object";
  const extra = extraneous(config, ['maxTokens', 'temperature', 'topP', 'stopSequences']);
  if (extra !== undefined) return extra;
  const bound = (field: string, min: number, max: number, integer: boolean) => {
    const value = config[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || (integer && !Number.isInteger(value))) {
      return `1 validation error detected: Value '${String(value)}' at 'inferenceConfig.${field}' failed to satisfy constraint: Member must be a ${integer ? 'integer' : 'number'}`;
    }
    if (value < min)
      return `1 validation error detected: Value '${value}' at 'inferenceConfig.${field}' failed to satisfy constraint: Member must have value greater than or equal to ${min}`;
    if (value > max)
      return `1 validation error detected: Value '${value}' at 'inferenceConfig.${field}' failed to satisfy constraint: Member must have value less than or equal to ${max}`;
    return undefined;
  };
  const stops = config.stopSequences;
  if (
    stops !== undefined &&
    (!Array.isArray(stops) ||
      !stops.every((stop) => typeof stop === 'string' && stop !== '') ||
      stops.length > 4)
  ) {
    return "1 validation error detected: Value at 'inferenceConfig.stopSequences' failed to satisfy constraint: Member must have length less than or equal to 4 and contain non-empty strings";
  }
  return (
    bound('maxTokens', 1, 1_000_000, true) ??
    bound('temperature', 0, 1, false) ??
    bound('topP', 0, 1, false)
  );
}

function toolConfigProblem(config: unknown): string | undefined {
  if (config === undefined) return undefined;
  if (!isRecord(config))
    return "1 validation error detected: Value at 'toolConfig' failed to satisfy constraint: Member must be an object";
  const extra = extraneous(config, ['tools', 'toolChoice']);
  if (extra !== undefined) return extra;
  if (!Array.isArray(config.tools) || config.tools.length === 0) {
    return "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1";
  }
  const names: string[] = [];
  for (const [index, tool] of config.tools.entries()) {
    if (!isRecord(tool)) return `Invalid Tool at toolConfig.tools.${index}`;
    const extraTool = extraneous(tool, ['toolSpec', 'cachePoint']);
    if (extraTool !== undefined) return extraTool;
    if (tool.cachePoint !== undefined) continue;
    const spec = tool.toolSpec;
    if (!isRecord(spec))
      return `1 validation error detected: Value null at 'toolConfig.tools.${index}.member.toolSpec' failed to satisfy constraint: Member must not be null`;
    const extraSpec = extraneous(spec, ['name', 'description', 'inputSchema']);
    if (extraSpec !== undefined) return extraSpec;
    if (typeof spec.name !== 'string' || !toolName.test(spec.name)) {
      return `1 validation error detected: Value '${String(spec.name)}' at 'toolConfig.tools.${index}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+`;
    }
    if (
      spec.description !== undefined &&
      (typeof spec.description !== 'string' || spec.description === '')
    ) {
      return `1 validation error detected: Value at 'toolConfig.tools.${index}.member.toolSpec.description' failed to satisfy constraint: Member must have length greater than or equal to 1`;
    }
    if (
      !isRecord(spec.inputSchema) ||
      !isRecord(spec.inputSchema.json) ||
      extraneous(spec.inputSchema, ['json']) !== undefined
    ) {
      return `The inputSchema of toolConfig.tools.${index}.toolSpec must be {"json": <a JSON Schema object>}.`;
    }
    if (spec.inputSchema.json.type !== 'object') {
      return `The json schema definition at toolConfig.tools.${index}.toolSpec.inputSchema is invalid: its type must be object.`;
    }
    names.push(spec.name);
  }
  return toolChoiceProblem(config.toolChoice, names);
}

function toolChoiceProblem(choice: unknown, names: readonly string[]): string | undefined {
  if (choice === undefined) return undefined;
  if (
    !isRecord(choice) ||
    Object.keys(choice).length !== 1 ||
    !['auto', 'any', 'tool'].includes(Object.keys(choice)[0] as string)
  ) {
    return 'toolConfig.toolChoice must set exactly one of auto, any or tool.';
  }
  const tool = choice.tool;
  if (
    tool !== undefined &&
    (!isRecord(tool) || typeof tool.name !== 'string' || !names.includes(tool.name))
  ) {
    return `The tool named in toolConfig.toolChoice.tool (${String(isRecord(tool) ? tool.name : tool)}) is not one of toolConfig.tools.`;
  }
  return undefined;
}

function messagesProblem(messages: unknown, hasToolConfig: boolean): string | undefined {
  if (!Array.isArray(messages)) {
    return "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null";
  }
  if (messages.length === 0 || !isRecord(messages[0]) || messages[0].role !== 'user') {
    if (
      messages.length > 0 &&
      isRecord(messages[0]) &&
      messages[0].role !== 'assistant' &&
      messages[0].role !== 'user'
    ) {
      return roleProblem(messages[0].role, 0);
    }
    return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
  }
  let previousToolUses: string[] = [];
  let previousRole: unknown;
  for (const [index, message] of messages.entries()) {
    if (!isRecord(message)) return `Invalid Message at messages.${index}`;
    const extra = extraneous(message, ['role', 'content']);
    if (extra !== undefined) return extra;
    if (message.role !== 'user' && message.role !== 'assistant')
      return roleProblem(message.role, index);
    if (message.role === previousRole) {
      return 'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.';
    }
    if (!Array.isArray(message.content) || message.content.length === 0) {
      return `The content field in the Message object at messages.${index} is empty. Add a ContentBlock object to the content field and try again.`;
    }
    const toolUses: string[] = [];
    const toolResults: string[] = [];
    for (const [blockIndex, block] of message.content.entries()) {
      const problem = blockProblem(block, `messages.${index}.content.${blockIndex}`, message.role);
      if (problem !== undefined) return problem;
      if (isRecord(block) && isRecord(block.toolUse))
        toolUses.push(String(block.toolUse.toolUseId));
      if (isRecord(block) && isRecord(block.toolResult))
        toolResults.push(String(block.toolResult.toolUseId));
    }
    if ((toolUses.length > 0 || toolResults.length > 0) && !hasToolConfig) {
      return 'The toolConfig field must be defined when using toolUse and toolResult content blocks.';
    }
    if (toolResults.length > previousToolUses.length) {
      return `The number of toolResult blocks at messages.${index}.content exceeds the number of toolUse blocks of previous turn.`;
    }
    const unanswered = previousToolUses.filter((id) => !toolResults.includes(id));
    if (message.role === 'user' && unanswered.length > 0) {
      return `Expected toolResult blocks at messages.${index}.content for the following Ids: ${unanswered.join(', ')}`;
    }
    previousToolUses = toolUses;
    previousRole = message.role;
  }
  return undefined;
}

function roleProblem(role: unknown, index: number): string {
  return `1 validation error detected: Value '${String(role)}' at 'messages.${index}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]`;
}

function blockProblem(block: unknown, at: string, role: unknown): string | undefined {
  if (!isRecord(block)) return `Invalid ContentBlock at ${at}`;
  const extra = extraneous(block, blockKinds);
  if (extra !== undefined) return extra;
  const kinds = Object.keys(block);
  if (kinds.length !== 1) {
    return `The ContentBlock object at ${at} must set exactly one of ${blockKinds.join(', ')}.`;
  }
  if (block.text !== undefined && (typeof block.text !== 'string' || block.text.trim() === '')) {
    return `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`;
  }
  if (block.image !== undefined) return imageProblem(block.image, at);
  if (block.toolUse !== undefined) {
    if (role !== 'assistant')
      return `The toolUse block at ${at} is only allowed in an assistant message.`;
    const use = block.toolUse;
    if (
      !isRecord(use) ||
      typeof use.toolUseId !== 'string' ||
      typeof use.name !== 'string' ||
      use.input === undefined
    ) {
      return `The toolUse block at ${at} needs toolUseId, name and input.`;
    }
    return extraneous(use, ['toolUseId', 'name', 'input', 'type']);
  }
  if (block.toolResult !== undefined) {
    if (role !== 'user') return `The toolResult block at ${at} is only allowed in a user message.`;
    const result = block.toolResult;
    if (
      !isRecord(result) ||
      typeof result.toolUseId !== 'string' ||
      !Array.isArray(result.content)
    ) {
      return `The toolResult block at ${at} needs toolUseId and a content list.`;
    }
    const extraResult = extraneous(result, ['toolUseId', 'content', 'status', 'type']);
    if (extraResult !== undefined) return extraResult;
    if (result.status !== undefined && result.status !== 'success' && result.status !== 'error') {
      return `1 validation error detected: Value '${String(result.status)}' at '${at}.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]`;
    }
    for (const [index, item] of result.content.entries()) {
      if (
        !isRecord(item) ||
        Object.keys(item).length !== 1 ||
        !['text', 'json', 'image', 'document', 'video'].includes(Object.keys(item)[0] as string)
      ) {
        return `The ToolResultContentBlock at ${at}.toolResult.content.${index} must set exactly one of text, json, image, document, video.`;
      }
      if (item.image !== undefined) {
        const problem = imageProblem(item.image, `${at}.toolResult.content.${index}`);
        if (problem !== undefined) return problem;
      }
    }
  }
  return undefined;
}

function imageProblem(image: unknown, at: string): string | undefined {
  if (!isRecord(image) || !isRecord(image.source))
    return `The image block at ${at} needs format and source.`;
  const extra =
    extraneous(image, ['format', 'source']) ?? extraneous(image.source, ['bytes', 's3Location']);
  if (extra !== undefined) return extra;
  if (!imageFormats.includes(String(image.format))) {
    return `1 validation error detected: Value '${String(image.format)}' at '${at}.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]`;
  }
  const bytes = image.source.bytes;
  if (typeof bytes !== 'string' || !isBase64(bytes)) {
    return `Unable to parse the image at ${at}: source.bytes must be base64.`;
  }
  if (!imageMatches(String(image.format), bytes)) {
    return `Unable to process the image at ${at}: its bytes are not a ${String(image.format)} image.`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Answers

interface Block {
  text?: string;
  toolUse?: { toolUseId: string; name: string; input: unknown };
}

interface Planned {
  content: Block[];
  stopReason: string;
  outputTokens: number;
}

function plan(exchange: Exchange, body: Record<string, unknown>, modelId: string): Planned {
  const tool = toolToUse(body);
  const override = exchange.overrides;
  if (tool !== undefined && override?.text === undefined) {
    const content: Block[] = tool.withText ? [{ text: 'Let me check.' }] : [];
    content.push({
      toolUse: { toolUseId: `tooluse_sim_${++sequence}`, name: tool.name, input: tool.input },
    });
    return { content, stopReason: override?.finishReason ?? 'tool_use', outputTokens: 8 };
  }
  const config = isRecord(body.inferenceConfig) ? body.inferenceConfig : {};
  let text = override?.text ?? `Hello from bedrock (${modelId})`;
  let stopReason = 'end_turn';
  for (const stop of Array.isArray(config.stopSequences)
    ? (config.stopSequences as string[])
    : []) {
    const at = text.indexOf(stop);
    if (at >= 0) {
      text = text.slice(0, at);
      stopReason = 'stop_sequence';
    }
  }
  let words = text.split(/(?= )/);
  if (typeof config.maxTokens === 'number' && words.length > config.maxTokens) {
    words = words.slice(0, config.maxTokens);
    stopReason = 'max_tokens';
  }
  return {
    content: [{ text: words.join('') }],
    stopReason: override?.finishReason ?? stopReason,
    outputTokens: words.length,
  };
}

function toolToUse(
  body: Record<string, unknown>,
): { name: string; input: unknown; withText: boolean } | undefined {
  const config = body.toolConfig;
  if (!isRecord(config) || !Array.isArray(config.tools)) return undefined;
  const messages = body.messages as Record<string, unknown>[];
  const last = messages[messages.length - 1];
  const content = Array.isArray(last?.content) ? last.content : [];
  if (
    last?.role !== 'user' ||
    content.some((block) => isRecord(block) && block.toolResult !== undefined)
  )
    return undefined;
  const specs = config.tools
    .map((tool) => (isRecord(tool) && isRecord(tool.toolSpec) ? tool.toolSpec : undefined))
    .filter((spec) => spec !== undefined);
  const choice = isRecord(config.toolChoice) ? config.toolChoice : { auto: {} };
  const named = isRecord(choice.tool) ? choice.tool.name : undefined;
  const spec = specs.find((entry) => entry.name === named) ?? specs[0];
  if (spec === undefined) return undefined;
  const schema = isRecord(spec.inputSchema) ? spec.inputSchema.json : undefined;
  return { name: String(spec.name), input: exampleOf(schema), withText: choice.auto !== undefined };
}

function usageOf(outputTokens: number) {
  return { inputTokens: 12, outputTokens, totalTokens: 12 + outputTokens };
}

function answer(exchange: Exchange, body: Record<string, unknown>, modelId: string): void {
  const planned = plan(exchange, body, modelId);
  exchange.json(
    200,
    {
      output: { message: { role: 'assistant', content: planned.content } },
      stopReason: planned.stopReason,
      usage: usageOf(planned.outputTokens),
      metrics: { latencyMs: 42 },
    },
    { 'x-amzn-requestid': requestId() },
  );
}

const codec = new EventStreamCodec(
  (input: Uint8Array | string) =>
    typeof input === 'string' ? input : Buffer.from(input).toString('utf8'),
  (input: string) => new Uint8Array(Buffer.from(input, 'utf8')),
);

const padding = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** One binary event-stream frame, as Bedrock sends a Converse stream event. */
export function bedrockEventFrame(eventType: string, payload: Record<string, unknown>): Uint8Array {
  const headers: MessageHeaders = {
    ':event-type': { type: 'string', value: eventType },
    ':content-type': { type: 'string', value: 'application/json' },
    ':message-type': { type: 'string', value: 'event' },
  };
  const p = padding.slice(0, 1 + (JSON.stringify(payload).length % padding.length));
  return codec.encode({
    headers,
    body: new TextEncoder().encode(JSON.stringify({ ...payload, p })),
  });
}

/** An exception frame (`:message-type` `exception`), as Bedrock ends a failing stream. */
export function bedrockExceptionFrame(exceptionType: string, message: string): Uint8Array {
  const headers: MessageHeaders = {
    ':exception-type': { type: 'string', value: exceptionType },
    ':content-type': { type: 'string', value: 'application/json' },
    ':message-type': { type: 'string', value: 'exception' },
  };
  return codec.encode({ headers, body: new TextEncoder().encode(JSON.stringify({ message })) });
}

/** Splits a text into stream fragments: words, or runs of JSON. */
function fragmentsOf(text: string): string[] {
  return /^\s*[{[]/.test(text) ? (text.match(/.{1,8}/gs) ?? []) : text.split(/(?= )/);
}

async function answerStream(
  exchange: Exchange,
  body: Record<string, unknown>,
  modelId: string,
): Promise<void> {
  const planned = plan(exchange, body, modelId);
  const frames = [bedrockEventFrame('messageStart', { role: 'assistant' })];
  for (const [contentBlockIndex, block] of planned.content.entries()) {
    if (block.toolUse !== undefined) {
      const { toolUseId, name, input } = block.toolUse;
      frames.push(
        bedrockEventFrame('contentBlockStart', {
          contentBlockIndex,
          start: { toolUse: { toolUseId, name } },
        }),
      );
      for (const fragment of fragmentsOf(JSON.stringify(input))) {
        frames.push(
          bedrockEventFrame('contentBlockDelta', {
            contentBlockIndex,
            delta: { toolUse: { input: fragment } },
          }),
        );
      }
    } else {
      for (const fragment of fragmentsOf(block.text ?? '')) {
        frames.push(
          bedrockEventFrame('contentBlockDelta', { contentBlockIndex, delta: { text: fragment } }),
        );
      }
    }
    frames.push(bedrockEventFrame('contentBlockStop', { contentBlockIndex }));
  }
  frames.push(
    bedrockEventFrame('messageStop', { stopReason: planned.stopReason }),
    bedrockEventFrame('metadata', {
      usage: usageOf(planned.outputTokens),
      metrics: { latencyMs: 42 },
    }),
  );
  const failure = exchange.overrides?.streamError;
  const written = failure === undefined ? frames : frames.slice(0, failure.afterEvents ?? 1);
  if (failure !== undefined) {
    written.push(
      bedrockExceptionFrame(
        failure.type,
        failure.message ?? 'Too many requests, please wait before trying again.',
      ),
    );
  }
  await exchange.stream('application/vnd.amazon.eventstream', written, {
    'x-amzn-requestid': requestId(),
  });
}
