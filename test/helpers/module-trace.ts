/**
 * A module resolve hook for tests (`module.register`): appends the package of every ESM import to
 * `$BERTH_MODULE_TRACE/<pid>`, so that a test can tell which packages each process of a server loaded.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

type Resolved = { url: string };

export async function resolve(specifier: string, context: unknown, next: (specifier: string, context: unknown) => Promise<Resolved>): Promise<Resolved> {
  const resolved = await next(specifier, context);
  const dir = process.env.BERTH_MODULE_TRACE;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)?.[1];
  if (dir !== undefined && pkg !== undefined) appendFileSync(join(dir, String(process.pid)), `${pkg}\n`);
  return resolved;
}
