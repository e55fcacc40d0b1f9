import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import type { TargetNode } from '../config/config-tree.js';
import type { LoadBalancerError, OpenAIErrorBody } from '../errors.js';
import type { Operation, Params, TargetProviderName } from '../types.js';
import type { CredentialSpec } from './credentials.js';

/** What the client asked for that shapes a translated stream. */
export interface StreamShape {
  operation: Operation;
  /** `stream_options.include_usage`: a last chunk with usage and no choices. */
  includeUsage: boolean;
}

/**
 * What the client asked for that shapes a translated answer, read once per target from the
 * merged params (after `override_params`): what a provider's answer may lack (a Gemini answer
 * need not name its model; an OpenAI embedding list must be in the encoding asked for).
 */
export interface RequestShape extends StreamShape {
  /** `params.model` when it is a string. */
  model: string | undefined;
  /** `params.encoding_format` of an embeddings request (`float` or `base64`) when a string. */
  encodingFormat: string | undefined;
}

/**
 * A {@link RequestShape} with what the answer itself says beyond its body, given to response
 * and stream translators.
 */
export interface AnswerShape extends RequestShape {
  /** OpenAI's `created`: seconds since the epoch, taken when the answer arrives. */
  created: number;
  /** The provider's response headers (Bedrock's request id is only there). */
  headers: IncomingHttpHeaders;
}

/** An upstream request exactly as it will be sent, for a signing step. */
export interface SignableRequest {
  readonly method: 'POST';
  /** The full URL: origin, path and query. */
  readonly url: string;
  /** Every header that will be sent, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The final body bytes. */
  readonly body: Buffer;
}

/**
 * A provider stream as OpenAI events. When the provider's stream reports an error or ends
 * before its last event, the translator writes an OpenAI error event itself and says why in
 * `failure`, so that the call reports the provider's failure.
 */
export interface StreamTranslator extends Transform {
  readonly failure: LoadBalancerError | undefined;
}

/** Where a target's requests go: an origin for the proxy and a path prefix for the endpoint. */
export interface UpstreamBase {
  /** `https://api.openai.com`: scheme, host and port only. */
  readonly origin: string;
  /** `/v1`: the base URL's path without a trailing slash (may be empty). */
  readonly pathPrefix: string;
}

/**
 * A client API some providers serve in its own shape: an inbound route of that API passes a
 * request to such a provider natively (body and answer bytes as they are) and translates it for
 * the others.
 */
export type NativeApi = 'anthropic-messages' | 'anthropic-count-tokens' | 'openai-responses';

/** How a provider serves a {@link NativeApi} of its own. */
export interface NativeOperation {
  /** Path and query after the base URL's path, e.g. `/messages`; checked as `endpoint` is. */
  endpoint(target: TargetNode, params: Params): string;
  /**
   * The body for the client's params (after `override_params`); absent when they are sent as
   * they are (then a body without overrides is forwarded as the bytes the client sent).
   */
  requestBody?(target: TargetNode, params: Params): Params;
  /**
   * Client headers of this API that reach the provider, over the adapter's own (Anthropic's
   * `anthropic-version` and `anthropic-beta`).
   */
  readonly clientHeaders?: readonly string[];
  /**
   * Text only the last event of a complete stream holds (`"message_stop"`; any of them): a stream
   * that ends without one was cut. Absent: the end is not checked.
   */
  readonly streamEnd?: readonly string[];
  /**
   * Text of an event that reports, in a 200 stream, that the answer failed
   * (`event: response.failed`): relayed as it is, and counted as the provider's failure.
   */
  readonly streamFailure?: string;
}

/**
 * One provider: where to send a call, how to authenticate, and how to translate to and from the
 * OpenAI shape. Adding a provider means one file implementing this and one registry line.
 */
export interface ProviderAdapter {
  readonly name: TargetProviderName;
  /**
   * The credential fields its targets and virtual keys take, which of them are secrets, and
   * which it requires: the config schema, redaction, the request-config policy, the health
   * identity and the dry run all read them from here.
   */
  readonly credentials: CredentialSpec;
  /** Operations the provider offers; others are refused before anything is sent. */
  readonly operations: ReadonlySet<Operation>;
  /**
   * Whether successful answers are rewritten into OpenAI's shape (`responseBody`); otherwise
   * they are relayed as read. Every upstream is asked for identity encoding either way, since
   * every answer is read back (and a compressed one is inflated).
   */
  readonly translatesResponses: boolean;
  /** Base URL for this target (fixed, or derived from the target such as Azure's resource). */
  base(target: TargetNode): UpstreamBase;
  /**
   * Path and query after the base URL's path, e.g. `/chat/completions`. `params` are the merged
   * request params, for providers that put the model or `stream` in the path (Gemini's
   * `/models/{model}:streamGenerateContent?alt=sse`). Whatever reaches the path must be checked
   * here: it may throw ERR_PARAMS_INVALID, before anything is sent.
   */
  endpoint(operation: Operation, target: TargetNode, params: Params): string;
  /** Authentication and provider-specific headers for this target. */
  headers(target: TargetNode): Record<string, string>;
  /**
   * Signs the final request (AWS SigV4) and returns every header to send. Runs before each
   * attempt, after the body is serialised, so the signature covers the exact bytes and a fresh
   * timestamp. Absent for providers whose headers need no signature.
   */
  sign?(request: SignableRequest, target: TargetNode): Promise<Record<string, string>>;
  /**
   * The media type of its successful streams: answers of this type are decoded as they arrive
   * (by `streamTranslator`, or relayed as SSE), anything else is read whole. Defaults to
   * `text/event-stream`.
   */
  readonly streamContentType?: string;
  /**
   * Whether `requestBody` returns the params unchanged: then a client's OpenAI-shaped body is
   * forwarded as the bytes it sent (when no `override_params` apply), never re-serialised.
   */
  readonly forwardsRequestBody?: boolean;
  /** Client APIs it serves natively, passed through unchanged by their inbound routes. */
  readonly native?: Partial<Readonly<Record<NativeApi, NativeOperation>>>;
  /** The provider's request body for merged OpenAI-style params. May throw ERR_PARAMS_INVALID. */
  requestBody(operation: Operation, params: Params): Params;
  /** A successful JSON response in OpenAI shape (only when `translatesResponses`). */
  responseBody(operation: Operation, body: unknown, shape: AnswerShape): unknown;
  /** Turns the provider's event stream into OpenAI's; absent when streams pass through as they are. */
  streamTranslator?(shape: AnswerShape): StreamTranslator;
  /** Any error body the provider returns, in OpenAI's error shape (some name the error in a header). */
  errorBody(status: number, body: unknown, headers: IncomingHttpHeaders): OpenAIErrorBody;
}
