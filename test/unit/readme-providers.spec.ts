import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { snakeCase } from '../../lib/config/spelling.js';
import { credentialSpecOf } from '../../lib/providers/credential-catalog.js';
import { providerNames } from '../../lib/providers/provider-names.js';

/**
 * The README's provider table is written by hand, but held to the one provider list: a provider
 * added without its row (or a row without its provider) fails here, and so does a row that does
 * not name a credential field its provider takes.
 */

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const start = readme.indexOf('\n## Providers\n');
const section = readme.slice(start, readme.indexOf('\n### ', start));
const rows = section
  .split('\n')
  .filter((line) => line.startsWith('|') && !line.startsWith('| -'))
  .slice(1)
  .map((line) => line.split('|').map((cell) => cell.trim()));

describe("the README's provider table", () => {
  it('has one row per built-in provider, and none for providers that do not exist', () => {
    const named = rows.map((cells) => /^`([^`]+)`$/.exec(cells[2] ?? '')?.[1]).filter(Boolean);
    expect([...named].sort()).toEqual([...providerNames].sort());
  });

  it('names every credential field each provider takes, as configs spell it', () => {
    for (const name of providerNames) {
      const row = rows.find((cells) => cells[2] === `\`${name}\``);
      const fields = Object.keys(credentialSpecOf(name).fields).map(snakeCase);
      for (const field of fields) {
        // Keyless hosts (ollama) say so instead of listing api_key.
        if (row?.[3]?.startsWith('none') === true) continue;
        expect(row?.[3], `${name}: ${field}`).toContain(`\`${field}\``);
      }
    }
  });
});
