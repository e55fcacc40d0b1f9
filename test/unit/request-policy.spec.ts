import { describe, expect, it } from 'vitest';
import type { ConfigTree } from '../../lib/config/config-tree.js';
import { checkConfig } from '../../lib/config/normalize.js';
import { policyViolation, targetWithoutVirtualKey } from '../../lib/config/request-policy.js';
import { resolveVirtualKeys } from '../../lib/config/virtual-keys.js';

const virtualKeys = resolveVirtualKeys({
  'openai-prod': { provider: 'openai', apiKey: 'sk-server-openai-0123456789' },
  'anthropic-prod': { provider: 'anthropic', apiKey: 'sk-server-anthropic-0123456789' },
  'azure-prod': {
    provider: 'azure-openai',
    apiKey: 'server-azure-0123456789',
    resourceName: 'contoso-prod',
    deploymentId: 'gpt-4o',
    apiVersion: '2024-10-21',
  },
  'bedrock-prod': {
    provider: 'bedrock',
    awsAccessKeyId: 'AKIASERVER0000000001',
    awsSecretAccessKey: 'server-aws-secret-0123456789',
    awsRegion: 'us-east-1',
  },
});

/** The resolved tree of a config that must be valid. */
function treeOf(config: unknown): ConfigTree {
  const check = checkConfig(config, { virtualKeys });
  if (!check.valid) throw new Error(JSON.stringify(check.problems));
  return check.tree;
}

/** Configs a request may carry, each with the field `virtual-keys-only` must refuse. */
const carryingServerOnlyFields: [name: string, config: unknown, param: string][] = [
  ['an inline api_key', { provider: 'openai', api_key: 'sk-client' }, 'config.api_key'],
  [
    'an inline apiKey (Format 1)',
    {
      mode: 'single',
      options: [{ provider: 'openai', apiKey: 'sk-client' }],
    },
    'config.options[0].apiKey',
  ],
  [
    'a custom_host',
    { provider: 'openai', custom_host: 'https://evil.example.com/v1' },
    'config.custom_host',
  ],
  [
    'an Azure resource_name next to a virtual key',
    { virtual_key: 'azure-prod', resource_name: 'attacker-resource' },
    'config.resource_name',
  ],
  [
    'an Azure resourceName deep in Format 2',
    {
      strategy: { mode: 'fallback' },
      targets: [
        { virtual_key: 'openai-prod' },
        {
          strategy: { mode: 'single' },
          targets: [{ virtual_key: 'azure-prod', resourceName: 'attacker-resource' }],
        },
      ],
    },
    'config.targets[1].targets[0].resourceName',
  ],
  [
    'an openai_organization next to a virtual key',
    { virtual_key: 'openai-prod', openai_organization: 'org-attacker' },
    'config.openai_organization',
  ],
  [
    'an openaiProject in a Format 1 option',
    {
      mode: 'fallback',
      options: [{ virtualKey: 'openai-prod' }, { virtualKey: 'openai-prod', openaiProject: 'p' }],
    },
    'config.options[1].openaiProject',
  ],
  [
    'inline AWS credentials',
    {
      provider: 'bedrock',
      aws_access_key_id: 'AKIACLIENT',
      aws_secret_access_key: 's',
      aws_region: 'us-east-1',
    },
    'config.aws_access_key_id',
  ],
  [
    'an aws_session_token next to a virtual key',
    { virtual_key: 'bedrock-prod', aws_session_token: 'attacker-token' },
    'config.aws_session_token',
  ],
  [
    'an aws_region moving a virtual key to another region',
    { virtual_key: 'bedrock-prod', aws_region: 'eu-west-1' },
    'config.aws_region',
  ],
];

const onlyVirtualKeys = {
  strategy: { mode: 'loadbalance' },
  targets: [
    { virtual_key: 'openai-prod', weight: 1, override_params: { model: 'gpt-4o' } },
    { virtual_key: 'azure-prod', weight: 1, deployment_id: 'gpt-4o-mini' },
    { virtual_key: 'anthropic-prod', weight: 1 },
    { virtual_key: 'bedrock-prod', weight: 1 },
  ],
};

describe("requestConfig: 'allow'", () => {
  it('accepts every config, keys and hosts included', () => {
    for (const [, config] of carryingServerOnlyFields) {
      expect(policyViolation(config, 'allow')).toBeUndefined();
    }
    expect(
      policyViolation({ provider: 'openai', custom_host: 'https://llm.example.com' }, 'allow'),
    ).toBeUndefined();
  });

  it('accepts targets without a virtual key', () => {
    const tree = treeOf({ provider: 'openai', api_key: 'sk-client' });
    expect(targetWithoutVirtualKey(tree, 'allow')).toBeUndefined();
  });
});

describe("requestConfig: 'deny'", () => {
  it('refuses any request config at its root, even one of virtual keys only', () => {
    for (const config of [onlyVirtualKeys, { provider: 'openai' }]) {
      const problem = policyViolation(config, 'deny');
      expect(problem?.param).toBe('config');
      expect(problem?.message).toContain('accepts no configs in requests');
    }
  });

  it('names the root it was given', () => {
    expect(policyViolation({ provider: 'openai' }, 'deny', 'body.config')?.param).toBe(
      'body.config',
    );
  });
});

describe("requestConfig: 'virtual-keys-only'", () => {
  for (const [name, config, param] of carryingServerOnlyFields) {
    it(`refuses ${name}, naming its path`, () => {
      const problem = policyViolation(config, 'virtual-keys-only');
      expect(problem?.param).toBe(param);
      expect(problem?.message).toContain(`${param} is not allowed`);
    });
  }

  it('accepts a config of virtual keys, with override_params and deployments', () => {
    expect(policyViolation(onlyVirtualKeys, 'virtual-keys-only')).toBeUndefined();
    expect(targetWithoutVirtualKey(treeOf(onlyVirtualKeys), 'virtual-keys-only')).toBeUndefined();
  });

  it('accepts a virtual key a parent node hands down to its targets', () => {
    const config = {
      virtual_key: 'openai-prod',
      strategy: { mode: 'loadbalance' },
      targets: [{ override_params: { model: 'a' } }, { override_params: { model: 'b' } }],
    };
    expect(policyViolation(config, 'virtual-keys-only')).toBeUndefined();
    expect(targetWithoutVirtualKey(treeOf(config), 'virtual-keys-only')).toBeUndefined();
  });

  it('refuses a resolved target that has no virtual key (it would go keyless)', () => {
    const config = {
      strategy: { mode: 'fallback' },
      targets: [{ virtual_key: 'openai-prod' }, { provider: 'anthropic' }],
    };
    // No server-only field is written, so the raw check passes ...
    expect(policyViolation(config, 'virtual-keys-only')).toBeUndefined();
    // ... and the resolved tree shows the keyless target.
    const problem = targetWithoutVirtualKey(treeOf(config), 'virtual-keys-only');
    expect(problem?.param).toBe('config.targets[1].virtual_key');
    expect(problem?.message).toContain('has no virtual_key');
  });

  it('names a keyless Format 1 option by its index', () => {
    const tree = treeOf({
      mode: 'fallback',
      options: [{ virtualKey: 'openai-prod' }, { provider: 'openai' }],
    });
    expect(targetWithoutVirtualKey(tree, 'virtual-keys-only')?.param).toBe(
      'config.options[1].virtual_key',
    );
  });
});

describe('credential fields next to a virtual key', () => {
  it.each([
    ['aws_region', { aws_region: 'eu-west-1' }],
    ['aws_secret_access_key', { aws_secret_access_key: 'other' }],
    ['api_key', { api_key: 'sk-other' }],
  ])('refuses %s on a Bedrock virtual key, whatever the policy', (field, own) => {
    const check = checkConfig({ virtual_key: 'bedrock-prod', ...own }, { virtualKeys });
    expect(check.valid).toBe(false);
    expect(check.problems.map((problem) => problem.param)).toContain(`config.${field}`);
  });

  it("keeps the server's credentials and never another provider's fields", () => {
    const tree = treeOf({ virtual_key: 'bedrock-prod', deployment_id: 'ignored-here' });
    expect(tree.targets[0]?.credentials).toEqual({
      awsAccessKeyId: 'AKIASERVER0000000001',
      awsSecretAccessKey: 'server-aws-secret-0123456789',
      awsRegion: 'us-east-1',
    });
  });

  it('lets a config pick the deployment and API version on an Azure virtual key', () => {
    const tree = treeOf({ virtual_key: 'azure-prod', deployment_id: 'gpt-4o-mini' });
    expect(tree.targets[0]?.credentials).toMatchObject({
      resourceName: 'contoso-prod',
      deploymentId: 'gpt-4o-mini',
      apiVersion: '2024-10-21',
    });
  });
});
