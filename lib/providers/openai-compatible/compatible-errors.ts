import type { OpenAIErrorBody } from '../../errors.js';
import { isRecord } from '../../shared/values.js';
import { openAIErrorBody } from '../openai-errors.js';

/**
 * An OpenAI-compatible host's error body in OpenAI's shape. Hosts word errors their own way:
 * OpenAI's `{"error": {...}}` (most), the fields at the top level (Mistral, Cerebras, vLLM's
 * `{"object": "error", ...}`), or `{"error": "<message>"}` (xAI); each keeps its message.
 */
export function compatibleErrorBody(
  provider: string,
  status: number,
  body: unknown,
): OpenAIErrorBody {
  return openAIErrorBody(provider, status, asOpenAIShape(body));
}

function asOpenAIShape(body: unknown): unknown {
  if (!isRecord(body) || isRecord(body.error)) return body;
  if (typeof body.error === 'string') {
    return { error: { message: body.error, code: body.code } };
  }
  if (typeof body.message === 'string') {
    const { object: _object, ...fields } = body;
    return { error: fields };
  }
  // FastAPI-style hosts: `{"detail": "..."}`.
  if (typeof body.detail === 'string') return { error: { message: body.detail } };
  return body;
}
