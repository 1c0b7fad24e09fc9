/**
 * Blob leases: the protocol that lets garbage collection delete content while pushes go on, built on nothing
 * but the storage driver (so it holds across replicas sharing one store, with no lock service and no
 * read-only window).
 *
 * Beside a blob's `data` live two small Berth-only files (`storage/paths.ts`):
 *   lease     rewritten (in place) with putContent by every push step that relies on the blob; its content is unique
 *             per write (time and a random id) and its modification time says when it was renewed;
 *   sweeping  the collector's tombstone, present only while it deletes the blob (or a manifest's links).
 *
 * A push step that relies on blob X *claims* it (`claimBlob`): an upload commit, a cross-repository mount,
 * a manifest PUT (for every layer, config and index child, and for the manifest's own bytes):
 *   1. write `lease`;
 *   2. read `sweeping`; while it is there (and younger than ABANDONED_MS), wait for it to go, then redo 1;
 *   3. read `data`: only now is X known present (used, acknowledged) or absent (the commit moves its own
 *      bytes in, the mount fails so the client uploads, the manifest PUT fails with MANIFEST_BLOB_UNKNOWN).
 *
 * The collector deletes an unmarked blob only when it is *stale*: `data` and `lease` both last written
 * before the grace period began. With the lease content L and data time seen in that check, it
 * (`sweepIfUnclaimed`):
 *   a. writes `sweeping`;
 *   b. reads `lease` and `data` again: if the lease is no longer L (or anything became fresh), X was claimed:
 *      it deletes `sweeping` and keeps X;
 *   c. otherwise deletes `data` (and what the caller names: `_layers` links), then `lease`, then `sweeping`,
 *      in that order, giving up before the first deletion when more than SWEEP_DEADLINE_MS passed since (a).
 *
 * Why no acknowledged push loses content: both sides write first and read second (Dekker's scheme), on a
 * store where a read sees every write completed before it (local disks; S3 and Ceph RGW per object). If
 * (b) did not see a claim's lease, that lease was written after (b), hence after (a); the claimer's step 2
 * then sees `sweeping`, or, if the collector has finished, step 3 sees `data` gone, because `data` is deleted
 * before `sweeping`. So either the collector keeps X, or the claimer sees X absent and says so. A successful
 * claim keeps X for a whole grace period, since X cannot be stale before then.
 *
 * Untagged manifests (`--delete-untagged`) go through the same critical section on the manifest's blob:
 * their revision links are removed only between (b) and the removal of `sweeping`, and a PUT of an index
 * claims each child before checking that it is still in the repository.
 *
 * A claim is never answered from memory, even moments after the same process claimed the same blob (a
 * manifest PUT right after its layers' uploads): a remembered claim would rely on the blob's lease being
 * younger than the collector's grace period, and offline `berth garbage-collect`, which has none, may run
 * against a live registry (docs/garbage-collection.md).
 *
 * Limits: one collector at a time (two collectors could clear each other's tombstone); a claim protects for
 * the grace period, so a push must finish its manifest within it; clocks of replicas and the store must
 * agree to well within ABANDONED_MS and the grace period; a storage delete that takes longer than
 * ABANDONED_MS - SWEEP_DEADLINE_MS could meet a claimer that gave up waiting. Directories emptied by a sweep
 * stay behind on the filesystem driver (a recursive delete could race a blob moved in concurrently).
 */
import { randomUUID } from 'node:crypto';
import type { Digest } from '../../oci/digest.js';
import type { FileInfo, StorageDriver } from '../../storage/driver.js';
import { isNotFound } from '../../storage/errors.js';
import { baseName, blobDataPath, blobDir, blobLeasePath, blobSweepingPath } from '../../storage/paths.js';
import { deleteIfPresent, ifPresent, listIfPresent } from '../links.js';

/** A tombstone older than this is a collector that died mid-sweep; claimers stop waiting for it. */
export const ABANDONED_MS = 60_000;
/** The collector gives up a deletion that has not started this long after its tombstone was written. */
export const SWEEP_DEADLINE_MS = 10_000;
const POLL_MS = 20;

/** What the collector saw of a blob when it judged it. */
export interface BlobState {
  size: number;
  dataModTime: Date;
  lease?: { content: string; modTime: Date };
}

export type SweepOutcome = 'swept' | 'claimed' | 'gone' | 'late';

function statIfPresent(driver: StorageDriver, path: string): Promise<FileInfo | undefined> {
  return ifPresent(() => driver.stat(path));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Renews X's lease and answers whether X's data is present, once no sweep of X is under way (steps 1-3).
 * Call it before relying on a blob; after `true`, X stays for at least the grace period.
 */
export async function claimBlob(driver: StorageDriver, digest: Digest): Promise<boolean> {
  for (;;) {
    // Not synced: visibility is what the protocol needs; a lease lost in a crash only shortens a protection.
    // Rewritten in place: a collector that reads it empty or half written sees a lease that is not the one it
    // judged, which it takes for a claim, as it should.
    const lease = Buffer.from(`${new Date().toISOString()} ${randomUUID()}`);
    await driver.putContent(blobLeasePath(digest), lease, { durable: false, inPlace: true });
    // Listing the blob's directory reads the store itself: a content cache may remember `data` after another
    // process deleted it, and step 3 must not.
    const present = new Set((await listIfPresent(driver, blobDir(digest))).map(baseName));
    if (!present.has('sweeping') || !(await waitWhileSwept(driver, digest))) return present.has('data');
  }
}

/** Waits while a live tombstone is present; true when there was one (the lease must then be renewed). */
async function waitWhileSwept(driver: StorageDriver, digest: Digest): Promise<boolean> {
  let waited = false;
  for (;;) {
    const tombstone = await statIfPresent(driver, blobSweepingPath(digest));
    if (tombstone === undefined || Date.now() - tombstone.modTime.getTime() >= ABANDONED_MS) return waited;
    waited = true;
    await sleep(POLL_MS);
  }
}

/** The blob's data and lease as they are now; undefined when the data is gone. */
export async function readBlobState(driver: StorageDriver, digest: Digest): Promise<BlobState | undefined> {
  const data = await statIfPresent(driver, blobDataPath(digest));
  if (data === undefined) return undefined;
  const leaseInfo = await statIfPresent(driver, blobLeasePath(digest));
  let content: string | undefined;
  if (leaseInfo !== undefined) {
    try {
      content = (await driver.getContent(blobLeasePath(digest))).toString('utf8');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return {
    size: data.size,
    dataModTime: data.modTime,
    ...(content !== undefined && leaseInfo !== undefined && { lease: { content, modTime: leaseInfo.modTime } }),
  };
}

/** True when nothing renewed the blob after `cutoff` (the start of the grace period). */
export function isStale(state: BlobState, cutoff: Date): boolean {
  const last = Math.max(state.dataModTime.getTime(), state.lease?.modTime.getTime() ?? 0);
  return last < cutoff.getTime();
}

function sameState(before: BlobState, after: BlobState): boolean {
  return (
    before.dataModTime.getTime() === after.dataModTime.getTime() &&
    before.lease?.content === after.lease?.content &&
    before.lease?.modTime.getTime() === after.lease?.modTime.getTime()
  );
}

/**
 * The collector's critical section (steps a-c): runs `remove` unless the blob was claimed since `seen`.
 * `remove` deletes what the caller is collecting (for a blob: its data first, then its `_layers` links);
 * with `deleteLease` the lease goes too, once `remove` has run.
 */
export async function sweepIfUnclaimed(
  driver: StorageDriver,
  digest: Digest,
  seen: BlobState,
  options: { cutoff: Date; deleteLease: boolean; runId: string },
  remove: () => Promise<void>,
): Promise<SweepOutcome> {
  const tombstone = blobSweepingPath(digest);
  const started = Date.now();
  await driver.putContent(tombstone, Buffer.from(`${new Date(started).toISOString()} ${options.runId}`), { durable: false });
  try {
    const now = await readBlobState(driver, digest);
    if (now === undefined) return 'gone';
    if (!sameState(seen, now) || !isStale(now, options.cutoff)) return 'claimed';
    if (Date.now() - started > SWEEP_DEADLINE_MS) return 'late';
    await remove();
    if (options.deleteLease) await deleteIfPresent(driver, blobLeasePath(digest));
    return 'swept';
  } finally {
    await deleteIfPresent(driver, tombstone);
  }
}
