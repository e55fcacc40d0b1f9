import { describe, expect, it } from 'vitest';
import type { ConfigTree } from '../../lib/config/config-tree.js';
import { checkConfig } from '../../lib/config/normalize.js';
import { anthropicMessagesApi, openAIResponsesApi } from '../../lib/inbound/inbound-api.js';
import { createProviderRegistry } from '../../lib/providers/registry.js';
import { operationNeeds, ServingTargets } from '../../lib/proxy/serving-targets.js';

function treeOf(config: unknown): ConfigTree {
  const check = checkConfig(config);
  if (!check.valid) throw new Error(JSON.stringify(check.problems));
  return check.tree;
}

const serving = new ServingTargets(createProviderRegistry());

const mixed = treeOf({
  strategy: { mode: 'fallback' },
  targets: [
    { provider: 'anthropic', api_key: 'a' },
    {
      strategy: { mode: 'loadbalance' },
      targets: [
        { provider: 'openai', api_key: 'o', weight: 2 },
        { provider: 'anthropic', api_key: 'a', weight: 5 },
      ],
    },
  ],
});

describe('ServingTargets', () => {
  it('returns the tree itself when every target serves the need', () => {
    const result = serving.of(mixed, operationNeeds.chat);
    expect(result.tree).toBe(mixed);
    expect(result.leftOut).toEqual([]);
  });

  it('prunes the targets that cannot serve, keeping the others and their identity', () => {
    const result = serving.of(mixed, operationNeeds.embed);
    expect(result.tree.targets.map((target) => target.label)).toEqual([
      'config.targets[1].targets[0]',
    ]);
    expect(result.tree.targets[0]).toBe(mixed.targets[1]);
    expect(result.leftOut.map(({ target }) => target.label)).toEqual([
      'config.targets[0]',
      'config.targets[1].targets[1]',
    ]);
    const root = result.tree.root;
    expect(root.kind === 'strategy' && root.targets.length).toBe(1);
    // The original tree is untouched.
    expect(mixed.root.kind === 'strategy' && mixed.root.targets.length).toBe(2);
  });

  it('prunes once per tree and need', () => {
    expect(serving.of(mixed, operationNeeds.embed)).toBe(serving.of(mixed, operationNeeds.embed));
  });

  it('refuses, naming every target, when none serves', () => {
    const tree = treeOf({ provider: 'anthropic', api_key: 'a' });
    expect(() => serving.of(tree, operationNeeds.embed)).toThrow(
      expect.objectContaining({
        code: 'ERR_OPERATION_UNSUPPORTED',
        param: 'config',
        message: 'config routes to provider anthropic, which has no embeddings API',
      }),
    );
  });

  it('decides inbound needs per request: native-only requests keep native targets', () => {
    const plain = openAIResponsesApi.needOf({ model: 'm', input: 'hi' });
    const stateful = openAIResponsesApi.needOf({
      model: 'm',
      input: 'hi',
      previous_response_id: 'r',
    });
    expect(serving.of(mixed, plain).tree).toBe(mixed);
    expect(serving.of(mixed, stateful).tree.targets.map((t) => t.provider)).toEqual(['openai']);
    const anthropicOnly = treeOf({ provider: 'anthropic', api_key: 'a' });
    expect(() => serving.of(anthropicOnly, stateful)).toThrow(
      expect.objectContaining({ code: 'ERR_OPERATION_UNSUPPORTED' }),
    );
    const withServerTool = anthropicMessagesApi.needOf({
      tools: [{ type: 'web_search_20250305', name: 'web_search' }],
    });
    expect(serving.of(mixed, withServerTool).tree.targets.map((t) => t.provider)).toEqual([
      'anthropic',
      'anthropic',
    ]);
  });

  it('refuses rather than prune a target a conditional rule may choose', () => {
    const conditional = treeOf({
      strategy: {
        mode: 'conditional',
        conditions: [{ query: { 'metadata.tier': 'pro' }, then: 'claude' }],
        default: 'gpt',
      },
      targets: [
        { name: 'claude', provider: 'anthropic', api_key: 'a' },
        { name: 'gpt', provider: 'openai', api_key: 'o' },
      ],
    });
    expect(serving.of(conditional, operationNeeds.chat).tree).toBe(conditional);
    expect(() => serving.of(conditional, operationNeeds.embed)).toThrow(
      expect.objectContaining({
        code: 'ERR_OPERATION_UNSUPPORTED',
        param: 'config.targets[0]',
        message:
          'config.targets[0] cannot serve this request (no embeddings API) and a condition of config.strategy may choose it',
      }),
    );
  });
});
