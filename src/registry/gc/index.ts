/**
 * Garbage collection: mark, then sweep, on the StorageDriver alone (so it works on every driver).
 *
 *   mark   every repository (`mark.ts`): manifests alive, and every digest they reference, into one set;
 *   sweep  1. with `deleteUntagged`, the manifests not alive lose their revision link, their entries in the
 *             tag indexes and in the referrers index (Distribution's `RemoveManifest`, plus Berth's index);
 *          2. every blob under `blobs/` whose digest is not marked is deleted with its `_layers` links.
 *
 * Offline (`berth garbage-collect`, grace period 0) this is Distribution's `MarkAndSweep`, down to the output
 * lines. Online (`storage.maintenance.gc`) the same pass runs inside a serving registry: only content no push
 * renewed within the grace period is deleted, each deletion inside the lease protocol of `lease.ts`, which
 * documents why a push never loses what it was told is stored. A deletion that a concurrent push claims is
 * abandoned and its manifest kept alive (with what it references) for this run.
 */
import { randomUUID } from 'node:crypto';
import { isDigest, makeDigest, type Digest, type DigestAlgorithm } from '../../oci/digest.js';
import type { StorageDriver } from '../../storage/driver.js';
import { isNotFound } from '../../storage/errors.js';
import {
  baseName,
  BLOBS_ROOT,
  blobDataPath,
  layerLinkPath,
  manifestRevisionLinkPath,
  referrerLinkPath,
  tagIndexLinkPath,
} from '../../storage/paths.js';
import { listRepositories } from '../catalog.js';
import { deleteIfPresent, linkDir } from '../links.js';
import { isStale, readBlobState, sweepIfUnclaimed, type BlobState } from './lease.js';
import { markRepository, type RepositoryLiveness } from './mark.js';
import { scanRepository } from './scan.js';

export { claimBlob } from './lease.js';
export { UnreadableManifestError } from './references.js';

export interface GcOptions {
  /** Report what would be deleted; write nothing. */
  dryRun: boolean;
  /** Also delete manifests no tag keeps alive (`--delete-untagged`). */
  deleteUntagged: boolean;
  /** Content renewed more recently than this is kept, whatever marking says. 0 (offline) keeps nothing extra. */
  gracePeriodMs: number;
  /** One line per event, in Distribution's wording (`<repo>: marking manifest ...`). */
  emit?: (line: string) => void;
  /** Stops the run between two steps (never inside a deletion), rejecting with GcAbortedError. */
  signal?: AbortSignal;
  /** Told of each blob deleted, to drop it from the blob descriptor cache (which replicas may share). */
  onBlobDeleted?: (digest: Digest) => Promise<void>;
}

export class GcAbortedError extends Error {
  constructor() {
    super('garbage collection stopped before it finished');
    this.name = 'GcAbortedError';
  }
}

export interface GcReport {
  /** Digests marked alive. */
  marked: number;
  /** Blobs found unmarked and stale: deleted, or that would be on a dry run. */
  blobsEligible: Digest[];
  /** Untagged manifests found dead: removed, or that would be on a dry run. */
  manifestsEligible: { repository: string; digest: Digest }[];
  blobsDeleted: number;
  bytesDeleted: number;
  /** Bytes of the eligible blobs (what a dry run would free). */
  bytesEligible: number;
  manifestsDeleted: number;
  /** Deletions abandoned because a push claimed the content meanwhile. */
  claimedDuringSweep: number;
}

interface Candidate {
  digest: Digest;
  state: BlobState;
}

export async function collectGarbage(driver: StorageDriver, options: GcOptions): Promise<GcReport> {
  const emit = options.emit ?? (() => {});
  const checkpoint = () => {
    if (options.signal?.aborted) throw new GcAbortedError();
  };
  const runId = randomUUID();
  // Grace 0 is Distribution's offline collection: every unmarked blob goes, however recent.
  const cutoff = options.gracePeriodMs > 0 ? new Date(Date.now() - options.gracePeriodMs) : new Date(8.64e15);
  const isFresh = async (digest: Digest) => {
    if (options.gracePeriodMs <= 0) return false;
    const state = await readBlobState(driver, digest);
    return state !== undefined && !isStale(state, cutoff);
  };

  const marked = new Set<Digest>();
  const repositories: RepositoryLiveness[] = [];
  for (const name of await listRepositories(driver)) {
    checkpoint();
    const repo = await scanRepository(driver, name);
    repositories.push(await markRepository(repo, marked, { deleteUntagged: options.deleteUntagged, isFresh, emit }));
  }

  const report: GcReport = {
    marked: 0,
    blobsEligible: [],
    manifestsEligible: repositories.flatMap((r) => r.dead().map((digest) => ({ repository: r.repo.name, digest }))),
    blobsDeleted: 0,
    bytesDeleted: 0,
    bytesEligible: 0,
    manifestsDeleted: 0,
    claimedDuringSweep: 0,
  };

  if (!options.dryRun) {
    for (const liveness of repositories) {
      for (const digest of liveness.dead()) {
        checkpoint();
        const outcome = await removeManifest(driver, liveness, digest, { cutoff, runId });
        if (outcome === 'swept') report.manifestsDeleted++;
        else if (outcome === 'claimed' || outcome === 'late') report.claimedDuringSweep++;
      }
    }
  }

  const candidates = await unmarkedBlobs(driver, marked, cutoff);
  report.marked = marked.size;
  report.blobsEligible = candidates.map((c) => c.digest);
  report.bytesEligible = candidates.reduce((sum, c) => sum + c.state.size, 0);
  emit(
    `\n${marked.size} blobs marked, ${candidates.length} blobs and ${report.manifestsEligible.length} manifests eligible for deletion`,
  );
  for (const { digest, state } of candidates) {
    emit(`blob eligible for deletion: ${digest}`);
    if (options.dryRun) continue;
    checkpoint();
    const linkedIn = repositories.filter((r) => r.repo.layers.has(digest)).map((r) => r.repo.name);
    const outcome = await sweepIfUnclaimed(driver, digest, state, { cutoff, deleteLease: true, runId }, async () => {
      await deleteIfPresent(driver, blobDataPath(digest));
      for (const name of linkedIn) await deleteIfPresent(driver, linkDir(layerLinkPath(name, digest)));
      await options.onBlobDeleted?.(digest);
    });
    if (outcome === 'swept') {
      report.blobsDeleted++;
      report.bytesDeleted += state.size;
    } else if (outcome === 'claimed' || outcome === 'late') {
      report.claimedDuringSweep++;
    }
  }
  return report;
}

/**
 * Removes an untagged manifest from a repository (its revision link, tag index entries, referrers entry),
 * unless a push renewed it; then it is kept alive for this run with everything it references.
 */
async function removeManifest(
  driver: StorageDriver,
  liveness: RepositoryLiveness,
  digest: Digest,
  options: { cutoff: Date; runId: string },
): Promise<'swept' | 'claimed' | 'late' | 'gone' | 'alive'> {
  // An earlier claimed deletion may have revived it (it is a child or a referrer of that manifest).
  if (liveness.live.has(digest)) return 'alive';
  const { name, manifests, tags } = liveness.repo;
  const state = await readBlobState(driver, digest);
  if (state === undefined) return 'gone';
  if (!isStale(state, options.cutoff)) {
    liveness.keepAlive(digest);
    return 'claimed';
  }
  const subject = manifests.get(digest)?.subject;
  const outcome = await sweepIfUnclaimed(driver, digest, state, { ...options, deleteLease: false }, async () => {
    for (const tag of tags.keys()) await deleteIfPresent(driver, linkDir(tagIndexLinkPath(name, tag, digest)));
    if (subject !== undefined) await deleteIfPresent(driver, linkDir(referrerLinkPath(name, subject, digest)));
    await deleteIfPresent(driver, linkDir(manifestRevisionLinkPath(name, digest)));
  });
  if (outcome === 'claimed' || outcome === 'late') liveness.keepAlive(digest);
  return outcome;
}

/** Blobs under `blobs/` that are not marked and were not renewed within the grace period, by digest. */
async function unmarkedBlobs(driver: StorageDriver, marked: Set<Digest>, cutoff: Date): Promise<Candidate[]> {
  const found: Digest[] = [];
  try {
    await driver.walk(BLOBS_ROOT, (info) => {
      if (info.isDir || baseName(info.path) !== 'data') return;
      const parts = info.path.split('/');
      const digest = makeDigest(parts[parts.length - 4] as DigestAlgorithm, parts[parts.length - 2]!);
      if (isDigest(digest) && !marked.has(digest)) found.push(digest);
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const candidates: Candidate[] = [];
  for (const digest of found.sort()) {
    const state = await readBlobState(driver, digest);
    if (state !== undefined && isStale(state, cutoff)) candidates.push({ digest, state });
  }
  return candidates;
}
