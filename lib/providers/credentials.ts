import { secretSchema } from '../config/field-schemas.js';
import { snakeCase } from '../config/spelling.js';
import type { ConfigProblem } from '../config/validate.js';

/** A target's credential values by camelCase field name; absent fields are undefined. */
export type Credentials = Readonly<Record<string, string | undefined>>;

/** One credential field a provider accepts on a target or a virtual key. */
export interface CredentialField {
  /** JSON Schema of its value; the config schema composes every provider's. */
  readonly schema: object;
  /**
   * A secret: masked in the dry run, searched for (and masked) in every answer, part of the
   * health identity only as a hash.
   */
  readonly secret?: true;
  /**
   * Chooses whose account pays or where the credential goes: never set next to a virtual key
   * (it would send the server's key elsewhere) and refused in request configs under
   * `virtual-keys-only`. Fields without it (Azure's deployment) may refine a virtual key.
   */
  readonly serverOnly?: true;
  /** Part of the target's health identity: targets differing in it fail independently. */
  readonly identity?: true;
}

/** The credential fields of one provider and the rule that says which it needs. */
export interface CredentialSpec {
  /** By camelCase name; each is also accepted in snake_case. */
  readonly fields: Readonly<Record<string, CredentialField>>;
  /** Problems of a resolved target's credentials (a required field missing); none by default. */
  readonly check?: (credentials: Credentials, path: string) => ConfigProblem[];
}

/** The bearer-style `api_key` most providers take. */
export const apiKeyField: CredentialField = {
  schema: secretSchema,
  secret: true,
  serverOnly: true,
};

/** A provider whose only credential is `api_key` (optional: a keyless target sends none). */
export const apiKeyCredentials: CredentialSpec = { fields: { apiKey: apiKeyField } };

/** Problems for each of `names` a provider requires that the credentials lack. */
export function missingFields(
  credentials: Credentials,
  names: readonly string[],
  provider: string,
  path: string,
): ConfigProblem[] {
  return names
    .filter((name) => credentials[name] === undefined)
    .map((name) => ({
      param: `${path}.${name}`,
      message: `${path}.${name} (or ${snakeCase(name)}) is required for provider ${provider}`,
    }));
}

/** The values of a target's secret fields, for masking and leak checks. */
export function secretValues(spec: CredentialSpec, credentials: Credentials): string[] {
  const values: string[] = [];
  for (const [name, field] of Object.entries(spec.fields)) {
    const value = credentials[name];
    if (field.secret === true && value !== undefined) values.push(value);
  }
  return values;
}
