import { patternSchema, secretSchema } from '../../config/field-schemas.js';
import type { ConfigProblem } from '../../config/validate.js';
import { apiKeyField, type CredentialSpec, missingFields } from '../credentials.js';
import { bedrockPatterns } from './bedrock-target.js';

/** Visible ASCII only: these are signed into, or sent as, headers. */
const awsSecretSchema = { ...secretSchema, pattern: '^[\\x21-\\x7e]+$' };

/**
 * Bedrock's credentials, with Portkey's names: an AWS key pair (and a session token for
 * temporary credentials) signed with SigV4, or a Bedrock API key (`api_key`) sent as a bearer
 * token; and the region, which picks the host. All but the region are secrets.
 */
export const bedrockCredentials: CredentialSpec = {
  fields: {
    apiKey: apiKeyField,
    awsAccessKeyId: { schema: awsSecretSchema, secret: true, serverOnly: true },
    awsSecretAccessKey: { schema: awsSecretSchema, secret: true, serverOnly: true },
    awsSessionToken: { schema: awsSecretSchema, secret: true, serverOnly: true },
    awsRegion: { schema: patternSchema(bedrockPatterns.region), serverOnly: true, identity: true },
  },
  check(credentials, path) {
    const problems: ConfigProblem[] = missingFields(credentials, ['awsRegion'], 'bedrock', path);
    const { apiKey, awsAccessKeyId, awsSecretAccessKey, awsSessionToken } = credentials;
    const keyPair = awsAccessKeyId !== undefined || awsSecretAccessKey !== undefined;
    if (keyPair || awsSessionToken !== undefined) {
      problems.push(
        ...missingFields(credentials, ['awsAccessKeyId', 'awsSecretAccessKey'], 'bedrock', path),
      );
    } else if (apiKey === undefined) {
      problems.push({
        param: `${path}.aws_access_key_id`,
        message: `${path} needs AWS credentials for provider bedrock: aws_access_key_id and aws_secret_access_key (and aws_session_token for temporary ones), or a Bedrock API key in api_key`,
      });
    }
    if (keyPair && apiKey !== undefined) {
      problems.push({
        param: `${path}.api_key`,
        message: `${path}.api_key cannot be combined with aws_access_key_id: give a Bedrock API key or an AWS key pair, not both`,
      });
    }
    return problems;
  },
};
