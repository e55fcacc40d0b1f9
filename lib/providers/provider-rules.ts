import { LoadBalancerError } from '../errors.js';
import type { OpenAICompatibleProviderOptions, Operation, ProvidersOptions } from '../types.js';
import { type CompatibleEntry, openaiCompatibleCatalog } from './openai-compatible/catalog.js';
import { type ProviderName, providerNamePattern, providerNames } from './provider-names.js';

/**
 * What config checks need to know about this server's providers: which names exist (built-in
 * and server-defined), which need a key, and which have no base URL (a target must then bring
 * an allowed `custom_host`). Built once from the `providers` option.
 */
export interface ProviderRules {
  readonly names: ReadonlySet<string>;
  readonly keyRequired: ReadonlySet<string>;
  readonly hostRequired: ReadonlySet<string>;
}

const builtinNames: ReadonlySet<string> = new Set(providerNames);

/** Whether `name` is a built-in provider. */
export function isBuiltinProvider(name: string): name is ProviderName {
  return builtinNames.has(name);
}

/** The rules of a server with these `providers` options (none: only the built-in providers). */
export function providerRules(options: ProvidersOptions = {}): ProviderRules {
  const names = new Set<string>(providerNames);
  const keyRequired = new Set<string>();
  const hostRequired = new Set<string>();
  for (const entry of openaiCompatibleCatalog as readonly CompatibleEntry[]) {
    if (entry.keyRequired) keyRequired.add(entry.name);
    if (entry.baseURL === undefined && options[entry.name]?.baseURL === undefined) {
      hostRequired.add(entry.name);
    }
  }
  for (const [name] of serverDefinedProviders(options)) names.add(name);
  return { names, keyRequired, hostRequired };
}

const allOperations: readonly Operation[] = ['chat', 'complete', 'embed'];

/**
 * The server-defined providers of the `providers` option as catalog entries (no key required,
 * error frames read in streams, as vLLM sends them). Assumes {@link checkProvidersOption} passed.
 */
export function serverDefinedProviders(
  options: ProvidersOptions = {},
): [string, CompatibleEntry, OpenAICompatibleProviderOptions][] {
  const defined: [string, CompatibleEntry, OpenAICompatibleProviderOptions][] = [];
  for (const [name, value] of Object.entries(options)) {
    if (isBuiltinProvider(name) || !isServerDefined(value)) continue;
    const entry: CompatibleEntry = {
      name,
      baseURL: value.baseURL,
      keyRequired: false,
      operations: value.operations ?? allOperations,
      streamQuirk: 'error-frames',
    };
    defined.push([name, entry, value]);
  }
  return defined;
}

function isServerDefined(value: unknown): value is OpenAICompatibleProviderOptions {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'openai-compatible'
  );
}

/**
 * Checks the names and shapes of the `providers` option (headers are checked by the caller):
 * every key is a built-in provider or a server-defined one (`type: 'openai-compatible'` with a
 * `baseURL`) whose name is not a built-in's. Throws ERR_OPTIONS_INVALID naming the option.
 */
export function checkProvidersOption(
  options: Record<string, unknown>,
  didYouMean: (name: string, known: readonly string[]) => string,
): void {
  const pattern = new RegExp(providerNamePattern);
  for (const [name, value] of Object.entries(options)) {
    const option = `providers.${name}`;
    const type = typeof value === 'object' && value !== null ? (value as Params).type : undefined;
    if (isBuiltinProvider(name)) {
      if (type !== undefined) {
        throw invalid(
          `${option}.type`,
          `${name} is a built-in provider: give a server-defined provider a name of its own, e.g. providers["local-${name}"]`,
        );
      }
      continue;
    }
    if (type === undefined) {
      throw invalid(
        option,
        `${option} is not a provider${didYouMean(name, providerNames)}; a server-defined one needs type: "openai-compatible" and a baseURL`,
      );
    }
    if (type !== 'openai-compatible') {
      throw invalid(`${option}.type`, `${option}.type must be "openai-compatible"`);
    }
    if (!pattern.test(name)) {
      throw invalid(
        option,
        `${option} is not a valid provider name: lower-case letters, digits, ".", "_" and "-", e.g. "local-vllm"`,
      );
    }
    const { baseURL, operations } = value as Params;
    if (typeof baseURL !== 'string') {
      throw invalid(
        `${option}.baseURL`,
        `${option}.baseURL is required, e.g. "http://vllm.internal:8000/v1"`,
      );
    }
    if (
      operations !== undefined &&
      !(
        Array.isArray(operations) &&
        operations.length > 0 &&
        operations.every((operation) => allOperations.includes(operation))
      )
    ) {
      throw invalid(
        `${option}.operations`,
        `${option}.operations must be a non-empty list of "chat", "complete", "embed"`,
      );
    }
  }
}

type Params = Record<string, unknown>;

function invalid(param: string, message: string): LoadBalancerError {
  return new LoadBalancerError('ERR_OPTIONS_INVALID', message, { param });
}
