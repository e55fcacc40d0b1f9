import { withBothSpellings } from '../config/spelling.js';
import type { ProviderName } from '../types.js';
import { azureCredentials } from './azure-openai.js';
import { bedrockCredentials } from './bedrock/bedrock-credentials.js';
import { apiKeyCredentials, type CredentialField, type CredentialSpec } from './credentials.js';
import { openaiCredentials } from './openai.js';

/**
 * The credential fields of every provider, read where no adapter instance is at hand: the
 * config schema (built once, at import) and config resolution. A provider missing here takes
 * `api_key` only, as every OpenAI-compatible host does.
 */
const specs: Partial<Record<ProviderName, CredentialSpec>> = {
  openai: openaiCredentials,
  'azure-openai': azureCredentials,
  bedrock: bedrockCredentials,
};

/** The credential fields a provider's targets take. */
export function credentialSpecOf(provider: string): CredentialSpec {
  return specs[provider as ProviderName] ?? apiKeyCredentials;
}

/** Every provider's credential fields by name (the same name means the same rule everywhere). */
export const credentialFields: Readonly<Record<string, CredentialField>> = Object.assign(
  {},
  apiKeyCredentials.fields,
  ...Object.values(specs).map((spec) => spec.fields),
);

/** The schema of every credential field, for the config schema's target properties. */
export const credentialFieldSchemas: Readonly<Record<string, object>> = Object.fromEntries(
  Object.entries(credentialFields).map(([name, field]) => [name, field.schema]),
);

/** Credential fields that only the server may set, in both spellings. */
export const serverOnlyCredentialFields: readonly string[] = Object.keys(
  withBothSpellings(
    Object.fromEntries(
      Object.entries(credentialFields)
        .filter(([, field]) => field.serverOnly === true)
        .map(([name, field]) => [name, field.schema]),
    ),
  ),
);
