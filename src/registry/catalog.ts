/**
 * The repository catalog: a repository is any directory under `repositories/` that holds `_manifests`,
 * found the way Distribution finds them (directories starting with `_` are never repository names).
 *
 * Walking the store for every `_catalog` request costs a directory listing per repository, so the names are
 * kept in memory: a repository this process stores a manifest in is added at once, and the whole list is
 * re-read in the background once it is older than `maxAgeMs` — so repositories created through another
 * replica appear within about that time. Requests never wait for a re-read, except the very first.
 */
import type { StorageDriver } from '../storage/driver.js';
import { baseName, REPOSITORIES_ROOT } from '../storage/paths.js';
import { listIfPresent } from './links.js';

/** Every repository name in the store, by listing directories (no per-entry stat). */
export async function listRepositories(driver: StorageDriver): Promise<string[]> {
  const names: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    const children = await listIfPresent(driver, dir);
    if (dir !== REPOSITORIES_ROOT && children.some((child) => baseName(child) === '_manifests')) {
      names.push(dir.slice(REPOSITORIES_ROOT.length + 1));
    }
    await Promise.all(children.filter((child) => !baseName(child).startsWith('_')).map(visit));
  };
  await visit(REPOSITORIES_ROOT);
  return names.sort();
}

export class CatalogCache {
  private names: string[] | undefined;
  private loadedAt = 0;
  private loading: Promise<string[]> | undefined;
  /** Names added while a re-read runs, which its listing may have missed. */
  private addedDuringLoad = new Set<string>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly maxAgeMs: number,
  ) {}

  async all(): Promise<string[]> {
    if (this.names === undefined) return this.reload();
    if (Date.now() - this.loadedAt > this.maxAgeMs) this.reload().catch(() => undefined);
    return this.names;
  }

  /** Records a repository that now holds a manifest. */
  add(name: string): void {
    if (this.loading) this.addedDuringLoad.add(name);
    if (this.names === undefined) return;
    const at = lowerBound(this.names, name);
    if (this.names[at] !== name) this.names = [...this.names.slice(0, at), name, ...this.names.slice(at)];
  }

  private reload(): Promise<string[]> {
    this.loading ??= (async () => {
      const started = Date.now();
      this.addedDuringLoad = new Set();
      try {
        const listed = await listRepositories(this.driver);
        const names = this.addedDuringLoad.size === 0 ? listed : [...new Set([...listed, ...this.addedDuringLoad])].sort();
        this.names = names;
        this.loadedAt = started;
        return names;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}

/** Index of the first name not below `name` in a sorted list. */
export function lowerBound(sorted: readonly string[], name: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < name) low = middle + 1;
    else high = middle;
  }
  return low;
}
