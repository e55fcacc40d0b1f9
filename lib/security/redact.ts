/** A secret as it may be shown: its last four characters at most, and only for long secrets. */
export function maskSecret(secret: string): string {
  return secret.length >= 16 ? `***${secret.slice(-4)}` : '***';
}

/** `text` with every occurrence of each secret masked. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length > 0 && result.includes(secret)) {
      result = result.split(secret).join(maskSecret(secret));
    }
  }
  return result;
}
