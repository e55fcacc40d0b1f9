/** Bounds that keep validation cost proportional to a small config, whatever the input. */
export const configLimits = {
  /** Targets (or Format 1 options) under one node. */
  maxTargets: 32,
  /** Levels of nested `targets` below the root, in Format 2. */
  maxDepth: 4,
  /** Length of any string field (API keys, Entra tokens included). */
  maxStringLength: 4096,
  /** Keys in an `override_params` object. */
  maxOverrideParams: 64,
  /**
   * Fields in one config node or in one of its objects: more than any valid one has
   * (`override_params` allows the most), checked before the schema runs.
   */
  maxNodeFields: 64,
  /** Retries of one target after its first attempt. */
  maxRetryAttempts: 10,
  /** Messages in one request's params. */
  maxMessages: 4096,
  /** Content parts (text, images, ...) in one message. */
  maxContentParts: 1024,
  /**
   * Nested arrays and objects in a request body, a header config or any config, counted from its
   * root: deeper input would overflow the stack of whatever copies or serialises it.
   */
  maxNesting: 64,
  /** Problems listed in one error; the rest are counted, not described. */
  maxReportedProblems: 10,
  /** Nodes (targets and strategies) of a config beyond which only its first problem is sought. */
  maxNodesFullyChecked: 256,
  /** Largest weight; weights are relative, so this only guards against overflow. */
  maxWeight: 1_000_000,
} as const;
