import { LoadBalancerError } from '../../errors.js';

/**
 * Where a Bedrock Converse call goes. Every value that reaches the host name or the path passes
 * a strict character check first, as Azure's resource and deployment names do: a hostile region
 * cannot change the host, a hostile model id cannot leave its path segment.
 */

/**
 * Patterns for Bedrock target fields, as JSON Schema `pattern` strings (the config schema can
 * use them as they are).
 *
 * - `region`: an AWS region such as `us-east-1`, `eu-central-1` or `us-gov-west-1`.
 * - `modelId`: a model id (`anthropic.claude-3-5-haiku-20241022-v1:0`), an inference profile
 *   id (`us.anthropic.claude-3-5-haiku-20241022-v1:0`) or an ARN
 *   (`arn:aws:bedrock:us-east-1:123456789012:inference-profile/...`): letters, digits and
 *   `. _ : / -`, 1 to 256 characters, starting with a letter or digit and never containing
 *   `..` (so that no part of it can read as a dot segment).
 */
export const bedrockPatterns = {
  region: '^[a-z]{2}(-gov)?-[a-z]+-\\d$',
  modelId: '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$',
} as const;

const regionPattern = new RegExp(bedrockPatterns.region);
const modelIdPattern = new RegExp(bedrockPatterns.modelId);

/** Whether a value is a region Bedrock targets may name. */
export function isBedrockRegion(value: unknown): value is string {
  return typeof value === 'string' && regionPattern.test(value);
}

/** Whether a value is a model id, inference profile id or ARN Bedrock targets may name. */
export function isBedrockModelId(value: unknown): value is string {
  return typeof value === 'string' && modelIdPattern.test(value);
}

/**
 * The default base URL for a region, `https://bedrock-runtime.{region}.amazonaws.com`.
 * Throws ERR_PARAMS_INVALID for a region that does not match `bedrockPatterns.region`.
 */
export function bedrockBaseURL(region: unknown): string {
  if (!isBedrockRegion(region)) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      'The Bedrock region must look like us-east-1, eu-central-1 or us-gov-west-1',
      { param: 'aws_region' },
    );
  }
  return `https://bedrock-runtime.${region}.amazonaws.com`;
}

/**
 * The model id as one path segment. ARNs and model ids contain `:` and `/`: both are
 * percent-encoded (`encodeURIComponent`, as the AWS SDK does), so the id stays one segment and
 * the path the signer signs is the path that is sent.
 */
export function encodeBedrockModelId(modelId: unknown): string {
  if (!isBedrockModelId(modelId)) {
    throw new LoadBalancerError(
      'ERR_PARAMS_INVALID',
      'The Bedrock model id must be 1 to 256 letters, digits or . _ : / -, start with a letter or digit and contain no ".."',
      { param: 'params.model' },
    );
  }
  return encodeURIComponent(modelId);
}

/**
 * The Converse path for a model: `/model/{encodedModelId}/converse`, or `/converse-stream` for
 * a streamed answer. Throws ERR_PARAMS_INVALID for a model id that fails the character check.
 */
export function bedrockConversePath(modelId: unknown, stream: boolean): string {
  return `/model/${encodeBedrockModelId(modelId)}/${stream ? 'converse-stream' : 'converse'}`;
}
