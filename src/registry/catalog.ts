/**
 * The repository catalog: a repository is any directory under `repositories/` that holds `_manifests`,
 * found the way Distribution finds them (directories starting with `_` are never repository names).
 */
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import { baseName, REPOSITORIES_ROOT } from '../storage/paths.js';

export async function listRepositories(driver: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  try {
    await driver.walk(REPOSITORIES_ROOT, (info) => {
      if (!info.isDir) return;
      const base = baseName(info.path);
      if (base === '_manifests') {
        names.push(info.path.slice(REPOSITORIES_ROOT.length + 1, -'/_manifests'.length));
        return 'skip';
      }
      if (base.startsWith('_')) return 'skip';
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return names.sort();
}
