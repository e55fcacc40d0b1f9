/** Config fields are accepted in camelCase and snake_case; these convert between the two. */

export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** Every property under its camelCase name and its snake_case name. */
export function withBothSpellings(
  fields: Readonly<Record<string, object>>,
): Record<string, object> {
  const properties: Record<string, object> = {};
  for (const [name, schema] of Object.entries(fields)) {
    properties[name] = schema;
    properties[snakeCase(name)] = schema;
  }
  return properties;
}
