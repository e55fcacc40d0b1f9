type Segment = string | number;

/**
 * The path (from `root`) of the first array or object nested more than `maxNesting` levels deep
 * in `value`, or undefined when it is shallow enough. JSON.parse builds arbitrarily deep values
 * without trouble, but spreading, serialising or validating them recursively overflows the stack,
 * so deep input is refused before anything else touches it.
 *
 * The walk recurses, but never more than `maxNesting` frames whatever the input, so it cannot
 * overflow itself; it allocates nothing unless the value is too deep.
 */
export function tooDeepPath(value: unknown, maxNesting: number, root: string): string | undefined {
  const segments = deepSegments(value, maxNesting);
  if (segments === undefined) return undefined;
  let path = root;
  // Segments come innermost first, collected while the recursion unwinds.
  for (let index = segments.length - 1; index >= 0; index--) {
    const segment = segments[index] as Segment;
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path === '' ? segment : `.${segment}`;
    if (path.length > 200) return `${path.slice(0, 200)}...`;
  }
  return path;
}

function deepSegments(value: unknown, levelsLeft: number): Segment[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (levelsLeft === 0) return [];
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = deepSegments(value[index], levelsLeft - 1);
      if (found !== undefined) {
        found.push(index);
        return found;
      }
    }
    return undefined;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const found = deepSegments(record[key], levelsLeft - 1);
    if (found !== undefined) {
      found.push(key);
      return found;
    }
  }
  return undefined;
}
