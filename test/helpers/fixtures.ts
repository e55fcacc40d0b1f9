import { keys } from './app.js';

/** Format 2 targets and a chat body shared by the resilience and observability tests. */
export const openaiTarget = {
  provider: 'openai',
  api_key: keys.openai,
  override_params: { model: 'gpt-4o' },
};
export const anthropicTarget = {
  provider: 'anthropic',
  api_key: keys.anthropic,
  override_params: { model: 'claude-3-5-haiku-latest' },
};
export const chat = { model: 'x', messages: [{ role: 'user', content: 'hi' }] };

/** A scripted provider 500 in OpenAI's error shape. */
export const serverError = {
  status: 500,
  body: { error: { message: 'boom', type: 'server_error', param: null, code: null } },
};
