/**
 * A walk built from `list` and `stat`, shared by drivers that have no faster way to enumerate a tree
 * (Distribution's `WalkFallback`).
 */
import type { FileInfo, StorageDriver, WalkDecision } from '../driver.js';
import { PathNotFoundError } from '../errors.js';

type Visit = (info: FileInfo) => WalkDecision | Promise<WalkDecision>;

export async function walkFallback(driver: StorageDriver, path: string, visit: Visit): Promise<void> {
  await walkChildren(driver, await driver.list(path), visit);
}

async function walkChildren(driver: StorageDriver, children: string[], visit: Visit): Promise<void> {
  for (const child of children) {
    // Entries removed while the walk is under way (uploads finishing, GC) are simply not visited.
    const info = await ignoreMissing(driver.stat(child));
    if (info === undefined) continue;
    const decision = await visit(info);
    if (!info.isDir || decision === 'skip') continue;
    const grandChildren = await ignoreMissing(driver.list(child));
    if (grandChildren !== undefined) await walkChildren(driver, grandChildren, visit);
  }
}

async function ignoreMissing<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    throw err;
  }
}
