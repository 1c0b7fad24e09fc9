/** A configuration that cannot be used: every problem found, each naming its key path or variable. */
export class ConfigError extends Error {
  constructor(
    /** Where the configuration came from: a file path, `built-in defaults` or `inline text`. */
    readonly source: string,
    /** One line per problem, e.g. `http.draintimeout: invalid duration "3x" (expected e.g. 168h, 30m)`. */
    readonly problems: readonly string[],
    /** Warnings gathered before the failure (unknown keys and variables), so a caller can still show them. */
    readonly warnings: readonly string[] = [],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A key path as users read it: `storage.maintenance.uploadpurging.age`, `notifications.endpoints[0].url`. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
