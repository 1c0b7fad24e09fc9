/**
 * Upload purging (`storage.maintenance.uploadpurging`): removes upload sessions older than a given age, as
 * Distribution does, so abandoned pushes do not hold disk forever, and has the driver drop what dead writers
 * left outside the tree by the same age (S3: incomplete multipart uploads, which are billed).
 */
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import { baseName, REPOSITORIES_ROOT } from '../storage/paths.js';
import { deleteIfPresent, listIfPresent } from './links.js';

export interface PurgeResult {
  /** Paths of the upload directories removed (or that would be, on a dry run). */
  purged: string[];
  /** Paths whose abandoned partial writes the driver removed (or would). */
  abortedWrites: string[];
}

export async function purgeUploads(
  driver: StorageDriver,
  options: { olderThan: Date; dryRun: boolean },
): Promise<PurgeResult> {
  const uploadDirs: string[] = [];
  try {
    await driver.walk(REPOSITORIES_ROOT, (info) => {
      if (!info.isDir) return;
      const base = baseName(info.path);
      if (base === '_uploads') uploadDirs.push(info.path);
      if (base.startsWith('_')) return 'skip';
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const purged: string[] = [];
  for (const dir of uploadDirs) {
    for (const session of await listIfPresent(driver, dir)) {
      if ((await startedAt(driver, session)) >= options.olderThan) continue;
      purged.push(session);
      if (!options.dryRun) await deleteIfPresent(driver, session);
    }
  }
  const abortedWrites = (await driver.purgeStaleWrites?.(options.olderThan, { dryRun: options.dryRun })) ?? [];
  return { purged, abortedWrites };
}

/** When a session started; a session with no readable start time counts as ancient, as in Distribution. */
async function startedAt(driver: StorageDriver, sessionDir: string): Promise<Date> {
  try {
    const text = (await driver.getContent(`${sessionDir}/startedat`)).toString('utf8').trim();
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? new Date(0) : date;
  } catch (err) {
    if (isNotFound(err)) return new Date(0);
    throw err;
  }
}
