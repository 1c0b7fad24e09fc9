/**
 * Link files: the small files of the layout (`.../link`) that hold one digest and make content visible in a
 * repository. Written with `putContent`, so a link is replaced atomically and never seen half-written.
 */
import { isDigest, type Digest } from '../oci/digest.js';
import type { PutOptions, StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';

/** The digest a link names, or undefined when the link is absent or does not hold a digest. */
export async function readLink(driver: StorageDriver, path: string): Promise<Digest | undefined> {
  try {
    const text = (await driver.getContent(path)).toString('utf8').trim();
    return isDigest(text) ? text : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function writeLink(driver: StorageDriver, path: string, digest: Digest, options?: PutOptions): Promise<void> {
  await driver.putContent(path, Buffer.from(digest, 'utf8'), options);
}

export async function exists(driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.stat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Deletes a path, treating "already gone" as success. */
export async function deleteIfPresent(driver: StorageDriver, path: string): Promise<void> {
  try {
    await driver.delete(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** What `call` answers about a path, or undefined when the path does not exist. */
export async function ifPresent<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Children of a directory, or [] when it does not exist. */
export async function listIfPresent(driver: StorageDriver, path: string): Promise<string[]> {
  return (await ifPresent(() => driver.list(path))) ?? [];
}

/** The directory holding a link file: deleting it removes the link the way Distribution does. */
export function linkDir(linkPath: string): string {
  return linkPath.slice(0, linkPath.lastIndexOf('/'));
}
