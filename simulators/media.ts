/** Checks the simulators apply to images sent inline as base64 (Gemini `inlineData`, Bedrock `image`). */

/** A 1x1 transparent PNG, base64: an image every simulator accepts, for tests. */
export const samplePngBase64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/** Whether a string is canonical base64 (standard alphabet, padded) and not empty. */
export function isBase64(data: string): boolean {
  if (data === '' || data.length % 4 !== 0) return false;
  return /^[A-Za-z0-9+/]+={0,2}$/.test(data);
}

const signatures: Record<string, (bytes: Buffer) => boolean> = {
  png: (bytes) => bytes.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])),
  jpeg: (bytes) => bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff,
  gif: (bytes) => bytes.subarray(0, 4).toString('latin1') === 'GIF8',
  webp: (bytes) =>
    bytes.subarray(0, 4).toString('latin1') === 'RIFF' &&
    bytes.subarray(8, 12).toString('latin1') === 'WEBP',
};

/**
 * Whether the decoded bytes look like an image of the given format (`png`, `jpeg`, `gif`,
 * `webp`), the way a provider fails to read a picture whose bytes and declared type disagree.
 * Formats it has no signature for (`heic`...) pass.
 */
export function imageMatches(format: string, base64: string): boolean {
  const check = signatures[format === 'jpg' ? 'jpeg' : format];
  return check === undefined || check(Buffer.from(base64, 'base64'));
}
