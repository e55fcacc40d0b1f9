import type { ConfigTree } from '../config/config-tree.js';

type Json = Record<string, unknown>;

/** One model a config can route to, and the provider of the first target that names it. */
interface RoutableModel {
  readonly id: string;
  readonly provider: string;
}

const listCache = new WeakMap<ConfigTree, readonly RoutableModel[]>();

/**
 * The models a config can route to: each target's `override_params.model`, once each, in
 * document order. A target without one serves whatever model the client names, which no list
 * can say. Computed once per config.
 */
export function routableModels(tree: ConfigTree): readonly RoutableModel[] {
  let models = listCache.get(tree);
  if (models === undefined) {
    const seen = new Map<string, RoutableModel>();
    for (const target of tree.targets) {
      const model = target.overrideParams?.model;
      if (typeof model === 'string' && model !== '' && !seen.has(model)) {
        seen.set(model, { id: model, provider: target.provider });
      }
    }
    models = [...seen.values()];
    listCache.set(tree, models);
  }
  return models;
}

/** OpenAI's `GET /v1/models` answer (`models.list()` in the openai SDK). */
export function openAIModelList(tree: ConfigTree): Json {
  return {
    object: 'list',
    data: routableModels(tree).map((model) => ({
      id: model.id,
      object: 'model',
      created: 0,
      owned_by: model.provider,
    })),
  };
}

/** Anthropic's `GET /v1/models` answer, for clients that send `anthropic-version`. */
export function anthropicModelList(tree: ConfigTree): Json {
  const data = routableModels(tree).map((model) => ({
    type: 'model',
    id: model.id,
    display_name: model.id,
    created_at: new Date(0).toISOString(),
  }));
  return {
    data,
    has_more: false,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
  };
}
