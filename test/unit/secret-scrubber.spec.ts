import { describe, expect, it } from 'vitest';
import { SecretForms, StreamScrubber } from '../../lib/security/secret-scrubber.js';

const secret = 'sk-scrub-test-0123456789abcdef';
/** A key with characters JSON escapes, so that its escaped form differs from the raw one. */
const quoted = 'sk-"quoted"\\key-0123456789';
const escaped = JSON.stringify(quoted).slice(1, -1);

function formsOf(...secrets: (string | undefined)[]): SecretForms {
  const forms = SecretForms.of(secrets);
  if (forms === undefined) throw new Error('no forms');
  return forms;
}

const masked = (forms: SecretForms, text: string) =>
  forms.maskBuffer(Buffer.from(text, 'utf8')).toString('utf8');

describe('SecretForms', () => {
  it('is undefined when there is nothing to hide', () => {
    expect(SecretForms.of([])).toBeUndefined();
    expect(SecretForms.of([undefined, ''])).toBeUndefined();
    expect(SecretForms.of([undefined, secret])).toBeInstanceOf(SecretForms);
  });

  it('knows its longest form, the escaped one included', () => {
    expect(formsOf(secret).longest).toBe(secret.length);
    expect(escaped.length).toBeGreaterThan(quoted.length);
    expect(formsOf(secret, quoted).longest).toBe(Math.max(secret.length, escaped.length));
  });

  describe('maskBuffer', () => {
    it('masks every raw occurrence in place, keeping the length and the last four characters', () => {
      const bytes = Buffer.from(`key=${secret}; again ${secret}${secret}.`);
      const length = bytes.length;
      const result = formsOf(secret).maskBuffer(bytes);
      expect(result).toBe(bytes);
      expect(result).toHaveLength(length);
      const mask = `${'*'.repeat(secret.length - 4)}cdef`;
      expect(result.toString()).toBe(`key=${mask}; again ${mask}${mask}.`);
    });

    it('masks the JSON-escaped form as it appears in a JSON body', () => {
      const body = JSON.stringify({ echo: quoted, raw: 'x' });
      expect(body).toContain(escaped);
      const result = masked(formsOf(quoted), `${body} ${quoted}`);
      expect(Buffer.byteLength(result)).toBe(Buffer.byteLength(`${body} ${quoted}`));
      expect(result).not.toContain(escaped);
      expect(result).not.toContain(quoted);
      expect(result).toMatch(/^\{"echo":"\*+6789","raw":"x"\} \*+6789$/);
      // The masked body is still JSON: the mask replaced the escapes too.
      expect(JSON.parse(result.slice(0, body.length))).toEqual({
        echo: expect.any(String),
        raw: 'x',
      });
    });

    it('masks short secrets entirely', () => {
      expect(masked(formsOf('short-key'), 'a short-key b')).toBe('a ********* b');
    });

    it('keeps the byte length of a multi-byte secret', () => {
      const unicode = 'clé-secrète-ü-0123456789';
      const text = `[${unicode}]`;
      const result = masked(formsOf(unicode), text);
      expect(Buffer.byteLength(result)).toBe(Buffer.byteLength(text));
      expect(result).not.toContain(unicode);
      expect(result.endsWith('6789]')).toBe(true);
    });

    it('masks several secrets and leaves other bytes alone', () => {
      const forms = formsOf(secret, 'other-secret-value-9876');
      expect(masked(forms, `a ${secret} b other-secret-value-9876 c`)).toBe(
        `a ${'*'.repeat(secret.length - 4)}cdef b ${'*'.repeat(19)}9876 c`,
      );
      expect(masked(forms, 'nothing to see here')).toBe('nothing to see here');
    });
  });

  describe('maskText', () => {
    it('masks raw and escaped forms in the short form', () => {
      const forms = formsOf(secret, quoted);
      expect(forms.maskText(`a ${secret} b`)).toBe('a ***cdef b');
      expect(forms.maskText(JSON.stringify({ echo: quoted }))).toBe('{"echo":"***6789"}');
      expect(forms.maskText(`${quoted}!`)).toBe('***6789!');
    });

    it('shows no tail of a short secret or an unsafe tail', () => {
      expect(formsOf('short-key').maskText('x short-key x')).toBe('x *** x');
      const unsafeTail = 'sk-0123456789-ends-with-"\\"';
      const forms = formsOf(unsafeTail);
      const result = forms.maskText(`${unsafeTail} ${JSON.stringify(unsafeTail)}`);
      expect(result).toBe('*** "***"');
    });

    it('leaves text without secrets as it is', () => {
      expect(formsOf(secret).maskText('sk-scrub-test-')).toBe('sk-scrub-test-');
    });
  });

  describe('pendingPrefixLength', () => {
    const forms = formsOf(secret);
    it('is the longest tail that starts a secret', () => {
      expect(forms.pendingPrefixLength(Buffer.from('hello sk-scr'))).toBe(6);
      expect(forms.pendingPrefixLength(Buffer.from('hello s'))).toBe(1);
      expect(forms.pendingPrefixLength(Buffer.from(secret.slice(0, -1)))).toBe(secret.length - 1);
    });

    it('is 0 when no tail could start a secret', () => {
      expect(forms.pendingPrefixLength(Buffer.from('hello world'))).toBe(0);
      expect(forms.pendingPrefixLength(Buffer.from('hello sk-scX'))).toBe(0);
      expect(forms.pendingPrefixLength(Buffer.alloc(0))).toBe(0);
    });
  });
});

/** Writes the pieces through a fresh scrubber; returns each output and the end's rest. */
function scrub(forms: SecretForms, pieces: readonly string[]) {
  const scrubber = new StreamScrubber(forms);
  const outputs = pieces.map((piece) => scrubber.write(Buffer.from(piece, 'utf8')));
  const rest = scrubber.end();
  const all = Buffer.concat([...outputs, ...(rest === undefined ? [] : [rest])]);
  return { outputs, rest, text: all.toString('utf8'), scrubber };
}

/** `text` cut into pieces of `size` bytes (or characters, for ASCII text). */
function piecesOf(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) {
    pieces.push(text.slice(offset, offset + size));
  }
  return pieces;
}

describe('StreamScrubber', () => {
  const forms = formsOf(secret, quoted);
  const event = (value: string) => `data: ${JSON.stringify({ content: `key is ${value}.` })}\n\n`;
  const stream = `${event(secret)}${event(quoted)}${event('nothing')}`;
  const expected = masked(forms, stream);

  it('masks a secret split across two chunks', () => {
    const cut = stream.indexOf(secret) + 10;
    const { outputs, text } = scrub(forms, [stream.slice(0, cut), stream.slice(cut)]);
    expect(text).toBe(expected);
    expect(text).not.toContain(secret);
    // The first chunk goes out up to where the secret begins.
    expect(outputs[0]?.toString()).toBe(stream.slice(0, stream.indexOf(secret)));
  });

  it('masks a secret split across three chunks', () => {
    const at = stream.indexOf(secret);
    const pieces = [stream.slice(0, at + 3), stream.slice(at + 3, at + 20), stream.slice(at + 20)];
    expect(scrub(forms, pieces).text).toBe(expected);
  });

  it('masks secrets split across many chunks of every size, and one byte at a time', () => {
    for (let size = 1; size <= escaped.length + 2; size++) {
      const { text, outputs } = scrub(forms, piecesOf(stream, size));
      expect(text, `pieces of ${size}`).toBe(expected);
      for (const output of outputs) {
        expect(output.toString()).not.toContain(secret);
        expect(output.toString()).not.toContain(escaped);
      }
    }
  });

  it('holds back only what may start a secret', () => {
    const scrubber = new StreamScrubber(formsOf(secret));
    expect(scrubber.write(Buffer.from('hello sk-scr')).toString()).toBe('hello ');
    // Not the secret after all: everything goes out.
    expect(scrubber.write(Buffer.from('ub-tes!')).toString()).toBe('sk-scrub-tes!');
    expect(scrubber.write(Buffer.from('plain text')).toString()).toBe('plain text');
    expect(scrubber.end()).toBeUndefined();
  });

  it('returns the held-back rest at the end, once', () => {
    const scrubber = new StreamScrubber(formsOf(secret));
    expect(scrubber.write(Buffer.from('tail sk-scrub')).toString()).toBe('tail ');
    expect(scrubber.end()?.toString()).toBe('sk-scrub');
    expect(scrubber.end()).toBeUndefined();
  });

  it('leaves a stream without secrets unchanged', () => {
    const plain = 'data: {"content":"hello"}\n\ndata: [DONE]\n\n';
    const { text, rest } = scrub(forms, piecesOf(plain, 3));
    expect(text).toBe(plain);
    expect(rest).toBeUndefined();
  });
});
