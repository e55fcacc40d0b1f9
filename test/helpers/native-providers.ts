import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import {
  type BedrockCredential,
  type Simulator,
  startBedrockSimulator,
  startGeminiSimulator,
} from '../../simulators/index.js';
import { registerSecret } from './leak-detector.js';

/**
 * Credentials the strict Gemini and Bedrock simulators accept, for the tests of those providers.
 * Each secret is unique and registered with the leak scan.
 */
export const nativeKeys = {
  google: 'AIzaSy-test-google-0123456789abcdef',
  bedrockApiKey: 'bedrock-api-key-test-0123456789abcdef',
} as const;

/** Long-term IAM user credentials. */
export const awsCredentials = {
  accessKeyId: 'AKIATESTSIMULATOR001',
  secretAccessKey: 'aws-secret-test-0123456789abcdef',
} as const satisfies BedrockCredential;

/** Temporary credentials: requests must carry the session token. */
export const awsSessionCredentials = {
  accessKeyId: 'ASIATESTSIMULATOR002',
  secretAccessKey: 'aws-secret-session-test-0123456789abcdef',
  sessionToken: 'aws-session-token-test-0123456789abcdef',
} as const satisfies BedrockCredential;

/** Not the signer's default, so a region that is not passed through fails the signature. */
export const awsRegion = 'eu-central-1';

for (const secret of [
  ...Object.values(nativeKeys),
  awsCredentials.secretAccessKey,
  awsSessionCredentials.secretAccessKey,
  awsSessionCredentials.sessionToken,
])
  registerSecret(secret);

export interface NativeProviders {
  google: Simulator;
  bedrock: Simulator;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the strict Gemini and Bedrock simulators on 127.0.0.1. */
export async function startNativeProviders(chunkDelayMs = 0): Promise<NativeProviders> {
  const [google, bedrock] = await Promise.all([
    startGeminiSimulator({ apiKeys: [nativeKeys.google], chunkDelayMs }),
    startBedrockSimulator({
      credentials: [awsCredentials, awsSessionCredentials],
      apiKeys: [nativeKeys.bedrockApiKey],
      region: awsRegion,
      chunkDelayMs,
    }),
  ]);
  return {
    google,
    bedrock,
    reset: () => {
      google.reset();
      bedrock.reset();
    },
    close: async () => {
      await Promise.all([google.close(), bedrock.close()]);
    },
  };
}

/** The two simulators for a test file: started before its tests, emptied before each, closed after. */
export function useNativeProviders(chunkDelayMs = 0): NativeProviders {
  const providers = {} as NativeProviders;
  beforeAll(async () => {
    Object.assign(providers, await startNativeProviders(chunkDelayMs));
  });
  afterAll(async () => {
    await providers.close();
  });
  beforeEach(() => providers.reset());
  return providers;
}

export interface SignOptions {
  credentials?: BedrockCredential;
  region?: string;
  service?: string;
  signingDate?: Date;
}

/**
 * Signs a Bedrock request with SigV4 as an AWS client would (`@smithy/signature-v4`, SHA-256 over
 * the exact body), returning the headers to send. `url` is the full URL, path already encoded.
 */
export async function signBedrock(
  url: string,
  body: string,
  options: SignOptions = {},
): Promise<Record<string, string>> {
  const target = new URL(url);
  const signer = new SignatureV4({
    service: options.service ?? 'bedrock',
    region: options.region ?? awsRegion,
    credentials: options.credentials ?? awsCredentials,
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query: {},
      headers: { host: target.host, 'content-type': 'application/json' },
      body,
    },
    options.signingDate === undefined ? {} : { signingDate: options.signingDate },
  );
  return signed.headers as Record<string, string>;
}
