import { maskSecret } from './redact.js';

/**
 * Masks a target's secrets in everything its answer sends on: headers, bodies and streams. A
 * provider (or a proxy in front of it) may echo the credential it received anywhere, and as JSON
 * it may arrive escaped, so each secret is searched in its raw and its JSON-escaped form.
 *
 * Masks keep the byte length of what they replace, so a relayed `content-length` stays true and
 * a body can be masked in place; the search is `Buffer.indexOf` (native), once per form.
 */
export class SecretForms {
  readonly #forms: readonly Buffer[];
  readonly #masks: readonly Buffer[];
  readonly #texts: readonly string[];
  readonly #textMasks: readonly string[];
  /** The longest form, in bytes: how far a match may straddle two chunks. */
  readonly longest: number;

  private constructor(secrets: readonly string[]) {
    const texts = new Set<string>();
    for (const secret of secrets) {
      texts.add(secret);
      texts.add(JSON.stringify(secret).slice(1, -1));
    }
    this.#texts = [...texts];
    // Text is re-framed when sent, so its masks need not keep the length: the usual short form.
    this.#textMasks = this.#texts.map((text) => (safeTail(text) ? maskSecret(text) : '***'));
    this.#forms = this.#texts.map((text) => Buffer.from(text, 'utf8'));
    this.#masks = this.#texts.map((text) => Buffer.from(maskOf(text), 'utf8'));
    this.longest = Math.max(...this.#forms.map((form) => form.length));
  }

  /** The forms of `secrets`, or undefined when there is nothing to hide. */
  static of(secrets: readonly (string | undefined)[]): SecretForms | undefined {
    const present = secrets.filter(
      (secret): secret is string => secret !== undefined && secret.length > 0,
    );
    return present.length === 0 ? undefined : new SecretForms(present);
  }

  /** Masks every whole occurrence in `bytes`, in place; returns `bytes`. */
  maskBuffer(bytes: Buffer): Buffer {
    for (let index = 0; index < this.#forms.length; index++) {
      const form = this.#forms[index] as Buffer;
      const mask = this.#masks[index] as Buffer;
      for (let at = bytes.indexOf(form); at !== -1; at = bytes.indexOf(form, at + form.length)) {
        mask.copy(bytes, at);
      }
    }
    return bytes;
  }

  maskText(text: string): string {
    let result = text;
    for (let index = 0; index < this.#texts.length; index++) {
      const form = this.#texts[index] as string;
      if (result.includes(form)) result = result.split(form).join(this.#textMasks[index]);
    }
    return result;
  }

  /**
   * How many bytes at the end of `bytes` could be the start of a secret that the next chunk
   * completes: those are held back until it comes.
   */
  pendingPrefixLength(bytes: Buffer): number {
    let longest = 0;
    for (const form of this.#forms) {
      const first = form[0];
      for (let length = Math.min(form.length - 1, bytes.length); length > longest; length--) {
        const start = bytes.length - length;
        if (bytes[start] === first && bytes.compare(form, 0, length, start) === 0) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}

/** Whether the last four characters may be shown: plain characters, whatever the framing. */
function safeTail(form: string): boolean {
  return /^[A-Za-z0-9_-]{4}$/.test(form.slice(-4));
}

/** The mask of one form in bytes: as long as it, ending in the last four characters of long secrets. */
function maskOf(form: string): string {
  const keep = form.length >= 16 && safeTail(form) ? 4 : 0;
  return '*'.repeat(Buffer.byteLength(form) - keep) + form.slice(form.length - keep);
}

/** Masks a stream chunk by chunk, holding back a possible partial secret at a chunk's end. */
export class StreamScrubber {
  #pending: Buffer | undefined;

  constructor(private readonly forms: SecretForms) {}

  /** The bytes of `chunk` that may be sent now, masked. */
  write(chunk: Buffer): Buffer {
    // Chunks read from a socket are ours alone, so they are masked in place.
    const bytes = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    this.forms.maskBuffer(bytes);
    const held = this.forms.pendingPrefixLength(bytes);
    if (held === 0) return bytes;
    this.#pending = bytes.subarray(bytes.length - held);
    return bytes.subarray(0, bytes.length - held);
  }

  /** What was held back when the stream ends: never a whole secret. */
  end(): Buffer | undefined {
    const rest = this.#pending;
    this.#pending = undefined;
    return rest;
  }
}
