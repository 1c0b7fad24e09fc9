/**
 * The storage a configuration names, and the upload purging that runs on it. Shared by the server and
 * `berth garbage-collect`, so it loads no HTTP stack; the S3 SDK is loaded only when `storage.s3` is configured.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BerthConfig } from '../config/schema.js';
import { storageDriverName } from '../config/storage-driver.js';
import type { Metrics } from '../metrics/index.js';
import { purgeUploads } from '../registry/purge.js';
import { withChecks } from '../storage/base.js';
import { CONTENT_CACHE_BYTES, withContentCache } from '../storage/cache.js';
import type { StorageDriver } from '../storage/driver.js';
import { FilesystemDriver } from '../storage/drivers/filesystem.js';
import { InMemoryDriver } from '../storage/drivers/memory.js';

export interface StorageOptions {
  metrics?: Metrics;
  /** How many processes of one server open this storage: they split the content cache's budget. */
  processes?: number;
  /** Where the driver reports what no request hears of (a failed background write-back). */
  logger?: Logger;
}

export async function createStorageDriver(config: BerthConfig, options: StorageOptions = {}): Promise<StorageDriver> {
  const { metrics, processes = 1, logger } = options;
  return withContentCache(withChecks(await createBackend(config, logger), { metrics }), { metrics, maxBytes: Math.floor(CONTENT_CACHE_BYTES / processes) });
}

async function createBackend(config: BerthConfig, logger: Logger | undefined): Promise<StorageDriver> {
  const name = storageDriverName(config.storage);
  switch (name) {
    case 'filesystem':
      return new FilesystemDriver({
        rootDirectory: resolve(config.storage.filesystem!.rootdirectory),
        onDroppedFile: (file, err) =>
          logger?.error({ err, file }, 'the disk failed to write back an upload chunk already acknowledged; its data was removed, so the upload fails at its next step'),
      });
    case 'inmemory':
      return new InMemoryDriver();
    case 's3': {
      const [{ S3Driver }, { s3DriverOptions }] = await Promise.all([import('../storage/drivers/s3.js'), import('./s3-options.js')]);
      return new S3Driver(s3DriverOptions(config.storage));
    }
    default:
      throw new Error(`not supported yet: storage.${name}`);
  }
}

export function scheduleUploadPurging(config: BerthConfig, driver: StorageDriver, logger: Logger, metrics?: Metrics): () => void {
  const purging = config.storage.maintenance.uploadpurging;
  if (!purging.enabled || config.storage.maintenance.readonly.enabled) return () => {};
  const run = async () => {
    try {
      const { purged, abortedWrites } = await purgeUploads(driver, {
        olderThan: new Date(Date.now() - purging.age),
        dryRun: purging.dryrun,
      });
      if (purged.length > 0) logger.info({ count: purged.length, dryRun: purging.dryrun }, 'purged stale uploads');
      if (!purging.dryrun) metrics?.uploadsClosed.inc({ result: 'purged' }, purged.length);
      if (abortedWrites.length > 0) {
        logger.info({ count: abortedWrites.length, dryRun: purging.dryrun }, 'aborted stale storage writes');
      }
    } catch (err) {
      logger.error({ err }, 'upload purging failed');
    }
  };
  // A first pass soon after start, then every interval; unref'd so timers never hold the process open.
  const first = setTimeout(run, Math.min(purging.interval, 60_000));
  const every = setInterval(run, purging.interval);
  first.unref();
  every.unref();
  return () => {
    clearTimeout(first);
    clearInterval(every);
  };
}
