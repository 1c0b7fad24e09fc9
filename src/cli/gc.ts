/**
 * Garbage collection from the command line (`berth garbage-collect`, Distribution's command, flags and
 * output) and on a schedule inside `berth serve` (`storage.maintenance.gc`, Berth only). The collection
 * itself, and the protocol that makes the online one safe alongside pushes, live in `registry/gc/`.
 */
import type { Logger } from 'pino';
import type { BerthConfig } from '../config/schema.js';
import { collectGarbage, GcAbortedError, type GcReport } from '../registry/gc/index.js';
import type { Digest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';

export interface GarbageCollectFlags {
  dryRun: boolean;
  deleteUntagged: boolean;
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);
const BOOLEAN_FLAGS = new Set(['-d', '--dry-run', '-m', '--delete-untagged']);

/**
 * Distribution's flags are Go booleans, so scripts write `--delete-untagged=true` or `-d=false`; this
 * rewrites those forms into the plain flag (or nothing) before the arguments are parsed.
 */
export function normalizeBooleanFlags(args: string[]): string[] {
  return args.flatMap((arg) => {
    const eq = arg.indexOf('=');
    if (eq < 0 || !BOOLEAN_FLAGS.has(arg.slice(0, eq))) return [arg];
    const value = arg.slice(eq + 1);
    if (GO_TRUE.has(value)) return [arg.slice(0, eq)];
    if (GO_FALSE.has(value)) return [];
    throw new Error(`invalid value ${JSON.stringify(value)} for ${arg.slice(0, eq)}: expected true or false`);
  });
}

/** One line saying what was (or would be) freed. */
export function summarize(report: GcReport, dryRun: boolean): string {
  if (dryRun) {
    return (
      `dry run: would delete ${report.blobsEligible.length} blobs (${report.bytesEligible} bytes) ` +
      `and ${report.manifestsEligible.length} manifests`
    );
  }
  const kept = report.claimedDuringSweep > 0 ? `; kept ${report.claimedDuringSweep} claimed by pushes meanwhile` : '';
  return `deleted ${report.blobsDeleted} blobs (${report.bytesDeleted} bytes) and ${report.manifestsDeleted} manifests${kept}`;
}

/** `berth garbage-collect`: offline, no grace period, every line on stdout as Distribution prints it. */
export async function garbageCollect(
  driver: StorageDriver,
  flags: GarbageCollectFlags,
  out: NodeJS.WritableStream,
  onBlobDeleted?: (digest: Digest) => Promise<void>,
): Promise<GcReport> {
  const report = await collectGarbage(driver, {
    dryRun: flags.dryRun,
    deleteUntagged: flags.deleteUntagged,
    gracePeriodMs: 0,
    ...(onBlobDeleted !== undefined && { onBlobDeleted }),
    emit: (line) => out.write(`${line}\n`),
  });
  out.write(`${summarize(report, flags.dryRun)}\n`);
  return report;
}

/** Starts online collection when configured; returns a stop function that also waits for a run under way. */
export function scheduleGarbageCollection(
  config: BerthConfig,
  driver: StorageDriver,
  logger: Logger,
  onBlobDeleted?: (digest: Digest) => Promise<void>,
): () => Promise<void> {
  const gc = config.storage.maintenance.gc;
  if (!gc.enabled || config.storage.maintenance.readonly.enabled) return async () => {};
  let running: Promise<void> | undefined;
  let stopped = false;
  const shutdown = new AbortController();
  const run = async () => {
    const started = Date.now();
    try {
      const report = await collectGarbage(driver, {
        signal: shutdown.signal,
        dryRun: gc.dryrun,
        deleteUntagged: gc.deleteuntagged,
        gracePeriodMs: gc.graceperiod,
        ...(onBlobDeleted !== undefined && { onBlobDeleted }),
        emit: (line) => {
          if (line.trim() !== '') logger.debug({ gc: line.trim() }, 'garbage collection');
        },
      });
      logger.info(
        {
          dryRun: gc.dryrun,
          marked: report.marked,
          blobsDeleted: report.blobsDeleted,
          bytesDeleted: report.bytesDeleted,
          manifestsDeleted: report.manifestsDeleted,
          blobsEligible: report.blobsEligible.length,
          claimedDuringSweep: report.claimedDuringSweep,
          durationMs: Date.now() - started,
        },
        `garbage collection: ${summarize(report, gc.dryrun)}`,
      );
    } catch (err) {
      if (err instanceof GcAbortedError) logger.info('garbage collection stopped for shutdown');
      else logger.error({ err }, 'garbage collection failed');
    }
  };
  // Runs never overlap: the next is scheduled when one ends (the protocol allows one collector at a time).
  let timer: NodeJS.Timeout;
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        if (!stopped) schedule(gc.interval);
      });
    }, delay);
    timer.unref();
  };
  schedule(Math.min(gc.interval, 3_600_000));
  return async () => {
    stopped = true;
    clearTimeout(timer);
    shutdown.abort();
    await running;
  };
}
