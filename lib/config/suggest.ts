import { closest, distance } from 'fastest-levenshtein';

/** The known name closest to a misspelt one, if it is close enough to be the likely intent. */
function suggestName(input: string, known: readonly string[]): string | undefined {
  if (known.length === 0 || input.length > 64) return undefined;
  const candidate = closest(input, known as string[]);
  const tolerance = Math.max(2, Math.floor(candidate.length / 3));
  return distance(input, candidate) <= tolerance ? candidate : undefined;
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean(input: string, known: readonly string[]): string {
  const suggestion = suggestName(input, known);
  return suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
}
