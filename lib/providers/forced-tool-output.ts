import { isRecord } from '../shared/values.js';
import { invalidParam } from './invalid-param.js';

/**
 * Structured output for providers without `response_format` (Anthropic, Bedrock): a tool whose
 * input schema is the requested JSON schema, forced, makes the model answer with exactly such an
 * object, which the answer then returns as the message content. Each provider wraps the tool in
 * its own shape; what the tool is, and when a request asks for one, is decided here once.
 */

/** The name of the tool that carries structured output. */
export const structuredOutputToolName = 'structured_output';

/** The structured-output tool a request asks for, in no provider's shape yet. */
export interface StructuredOutputTool {
  readonly name: typeof structuredOutputToolName;
  readonly description: string;
  /** A JSON schema whose root is an object, as tool input schemas must be. */
  readonly schema: Record<string, unknown>;
}

/**
 * The tool for an OpenAI `response_format`, or undefined when none is asked for (`text` or
 * absent). A malformed format, or a schema whose root is not an object, is ERR_PARAMS_INVALID.
 */
export function structuredOutputToolOf(
  format: unknown,
  provider: string,
): StructuredOutputTool | undefined {
  if (!isRecord(format) || format.type === 'text' || format.type === undefined) return undefined;
  if (format.type === 'json_object') {
    return {
      name: structuredOutputToolName,
      description: 'Answer with a JSON object.',
      schema: { type: 'object', additionalProperties: true },
    };
  }
  const spec = isRecord(format.json_schema) ? format.json_schema : undefined;
  if (format.type !== 'json_schema' || spec === undefined || !isRecord(spec.schema)) {
    throw invalidParam(
      'response_format',
      'params.response_format must be {type: "text"}, {type: "json_object"} or {type: "json_schema", json_schema: {name, schema}}',
    );
  }
  if (spec.schema.type !== 'object') {
    throw invalidParam(
      'response_format.json_schema.schema',
      `params.response_format.json_schema.schema must describe an object (type: "object") for provider ${provider}`,
    );
  }
  const purpose = typeof spec.description === 'string' ? ` ${spec.description}` : '';
  return {
    name: structuredOutputToolName,
    description: `Answer with the ${String(spec.name ?? 'requested')} object.${purpose}`,
    schema: spec.schema,
  };
}

/** A tool call's `function.arguments` (a JSON string) as the value providers want as input. */
export function parseToolArguments(text: unknown, path: string): unknown {
  if (text === undefined || text === '') return {};
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    throw invalidParam(
      `${path}.function.arguments`,
      `params.${path}.function.arguments must be a JSON string`,
    );
  }
}
