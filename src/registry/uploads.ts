/**
 * Blob upload sessions.
 *
 * Protocol (all state lives in the store, so a session survives a restart and, later, moves between replicas):
 *   1. create: write `_uploads/<id>/startedat` (not synced: losing a session in a crash only costs a retry).
 *   2. append: chunks go to the end of `data` (created by the first), one at a time per session (a per-session lock in this process).
 *      A chunk with a range must start exactly where `data` ends. Bytes are hashed as they flow; the running
 *      hash is kept in memory only while it covers exactly the bytes in `data`. After each append the
 *      SHA-256 state is also saved, so that the next chunk continues the hash wherever it arrives (another
 *      worker or replica) instead of the commit reading the whole upload again. A saved state must never
 *      vouch for bytes a crash lost. Where closed bytes read back as written until the host restarts (a
 *      local filesystem: `StorageDriver.unsyncedEpoch`), a chunk does not wait for `data` to be synced (a
 *      sync cost about 5 ms, a third of an 8 MiB chunk's time here; the writer's close starts it in the
 *      background): the state goes to `berthhashstate.sha256` stamped with the boot, and is trusted only
 *      within that boot. That one file is rewritten in place by every chunk (it says how many bytes it
 *      covers): a new file per chunk cost an inode made and later freed each time. Elsewhere (S3, network
 *      filesystems) `data` is committed first and the state saved to `hashstates/sha256/<size>`,
 *      Distribution's layout and format. Distribution saves its own
 *      there without syncing; Berth trusts them when it continues an upload Distribution started.
 *   3. commit: the digest of `data` is checked against the one the client names (re-reading `data` when no
 *      running hash covers it, e.g. after a restart). `data` is synced while the blob is claimed
 *      (`gc/lease.ts`), and the repository's `_layers` link is written as soon as the claim is made; unless
 *      the blob is already stored, `data` is then moved to `blobs/<alg>/<xx>/<hex>/data` (an atomic rename:
 *      the blob appears whole or not at all; concurrent uploads of the same content each rename identical
 *      bytes), and the session directory removed. A blob is in a repository only when both exist.
 *      A request carrying the last chunk appends and commits in one step, syncing `data` through the writer
 *      that appended it.
 * A crash at any point leaves an upload directory (purged later by age), a complete blob not yet linked
 * (reclaimed by garbage collection) or a link without its blob (reads as unknown) — never a partial blob.
 */
import { randomUUID } from 'node:crypto';
import { Digester, digestAlgorithm, type Digest, type DigestAlgorithm } from '../oci/digest.js';
import { BlobUploadInvalidError, BlobUploadUnknownError, DigestInvalidError, RangeInvalidError } from '../oci/errors.js';
import type { FileWriter, StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import {
  blobDataPath,
  layerLinkPath,
  uploadDataPath,
  uploadDir,
  uploadEpochHashStatePath,
  uploadHashStatePath,
  uploadStartedAtPath,
} from '../storage/paths.js';
import { claimBlob } from './gc/lease.js';
import { deleteIfPresent, exists, ifPresent, writeLink } from './links.js';
import { assertWritable, type WritePolicy } from './policy.js';
import type { BlobDescriptor, ByteRange, Chunk, UploadSession } from './types.js';

const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** In-process state shared by all sessions of one registry: running hashes and per-session locks. */
export class UploadTracker {
  private readonly digesters = new Map<string, Digester>();
  private readonly locks = new Map<string, Promise<unknown>>();

  /** Runs `task` after every earlier task of the same session has settled. */
  async exclusive<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.catch(() => undefined);
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  /** The running hash of a session, if it covers exactly `size` bytes. */
  digester(key: string, size: number): Digester | undefined {
    const digester = this.digesters.get(key);
    if (digester && digester.size === size) return digester;
    this.digesters.delete(key);
    return size === 0 ? new Digester() : undefined;
  }

  keep(key: string, digester: Digester | undefined): void {
    if (digester) this.digesters.set(key, digester);
    else this.digesters.delete(key);
  }

  forget(key: string): void {
    this.digesters.delete(key);
  }
}

export interface UploadContext {
  name: string;
  driver: StorageDriver;
  policy: WritePolicy;
  tracker: UploadTracker;
}

export async function createUpload(ctx: UploadContext): Promise<UploadSession> {
  assertWritable(ctx.policy);
  const id = randomUUID();
  // A session lost in a crash is only a client retry, so its bookkeeping is not synced; `data` is created by
  // the first append.
  await ctx.driver.putContent(uploadStartedAtPath(ctx.name, id), Buffer.from(new Date().toISOString()), { durable: false });
  return new StoredUploadSession(ctx, id, 0);
}

export async function resumeUpload(ctx: UploadContext, id: string): Promise<UploadSession> {
  if (!UPLOAD_ID.test(id)) throw new BlobUploadUnknownError(id);
  // Only purging reads the start time; here the file's presence is what says the session exists.
  if (!(await exists(ctx.driver, uploadStartedAtPath(ctx.name, id)))) throw new BlobUploadUnknownError(id);
  return new StoredUploadSession(ctx, id, await dataSize(ctx, id));
}

async function dataSize(ctx: UploadContext, id: string): Promise<number> {
  try {
    return (await ctx.driver.stat(uploadDataPath(ctx.name, id))).size;
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw err;
  }
}

async function* hashing(source: AsyncIterable<Uint8Array>, digester: Digester | undefined): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    digester?.update(chunk);
    yield chunk;
  }
}

class StoredUploadSession implements UploadSession {
  private readonly key: string;

  constructor(
    private readonly ctx: UploadContext,
    readonly id: string,
    private received: number,
  ) {
    this.key = `${ctx.name}\n${id}`;
  }

  get size(): number {
    return this.received;
  }

  append(source: AsyncIterable<Uint8Array>, range?: ByteRange): Promise<void> {
    assertWritable(this.ctx.policy);
    return this.ctx.tracker.exclusive(this.key, async () => {
      const writer = await this.appendOpen({ source, ...(range && { range }) });
      const saved = this.ctx.tracker.digester(this.key, writer.size)?.save();
      if (saved === undefined) return writer.close();
      // The state is bookkeeping whose loss only costs a re-read: not synced itself.
      const { driver, name } = this.ctx;
      const epoch = driver.unsyncedEpoch;
      if (epoch !== undefined) {
        await writer.close();
        const stamped = Buffer.concat([saved, Buffer.from(epoch)]);
        await driver.putContent(uploadEpochHashStatePath(name, this.id, 'sha256'), stamped, { durable: false, inPlace: true });
      } else {
        await writer.commit();
        await driver.putContent(uploadHashStatePath(name, this.id, 'sha256', writer.size), saved, { durable: false });
      }
    });
  }

  commit(expected: Digest, last?: Chunk): Promise<BlobDescriptor> {
    assertWritable(this.ctx.policy);
    return this.ctx.tracker.exclusive(this.key, async () => {
      // A last chunk leaves `data` open and its size known, so the commit below syncs it through the same
      // writer instead of checking the session and opening `data` again.
      let writer = last && (await this.appendOpen(last));
      if (!writer) await this.ensureOpen();
      const { driver, name } = this.ctx;
      const dataPath = uploadDataPath(name, this.id);
      try {
        const size = writer ? writer.size : await dataSize(this.ctx, this.id);
        const algorithm = digestAlgorithm(expected);
        if (writer && this.ctx.tracker.digester(this.key, size)?.algorithm !== algorithm) {
          // `data` is re-read to hash it, so it must hold what was appended (an object store's writer shows
          // its bytes only once closed).
          await writer.close();
          writer = undefined;
        }
        const actual = await this.digestOfData(dataPath, size, algorithm);
        if (actual !== expected) {
          throw new DigestInvalidError(`the uploaded content has digest ${actual}, not ${expected}`, expected);
        }
        // Claiming renews the blob's lease, so that garbage collection cannot delete content that already
        // existed between this check and the client's manifest PUT (see gc/lease.ts). The link is written only
        // after the claim: a sweep under way removes the blob's links, and must not remove this one.
        // `data` is synced meanwhile: only content already stored (which clients check for first) does not
        // need it.
        const data = writer ?? (await driver.writer(dataPath, { append: true }));
        writer = undefined;
        const claimed = claimBlob(driver, expected);
        // Content and link are written side by side: the link is written and synced while `data` is, and
        // published once the blob is claimed, so that a push waits for two rounds of syncs instead of three.
        // A link whose content is not in place yet reads as an unknown blob (every lookup also checks the
        // data), so a crash or a failed sync in between only leaves a link that a retried push completes.
        const linked = writeLink(driver, layerLinkPath(name, expected), expected, { publishAfter: claimed });
        linked.catch(() => undefined);
        const [, stored] = await Promise.all([data.commit(), claimed]);
        if (!stored) await driver.move(dataPath, blobDataPath(expected));
        await Promise.all([this.removeSession(), linked]);
        return { digest: expected, size };
      } catch (err) {
        await writer?.close().catch(() => undefined);
        await this.removeSession().catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Appends a chunk (step 2) under the session's lock and answers `data`'s writer, still open. A failure
   * closes it and keeps the session.
   */
  private async appendOpen({ source, range }: Chunk): Promise<FileWriter> {
    await this.ensureOpen();
    this.received = await dataSize(this.ctx, this.id);
    if (range && range.start !== this.received) {
      throw new RangeInvalidError(`chunk starts at byte ${range.start} but the upload holds ${this.received} bytes`, this.received);
    }
    const digester = await this.runningDigester(this.received);
    const writer = await this.ctx.driver.writer(uploadDataPath(this.ctx.name, this.id), { append: true });
    let appended: number;
    try {
      appended = await writer.append(hashing(source, digester));
    } catch (err) {
      // Whatever reached the file stays; the running hash may be ahead of it, so drop it.
      this.ctx.tracker.forget(this.key);
      await writer.close().catch(() => undefined);
      this.received = await dataSize(this.ctx, this.id);
      throw err;
    }
    this.received += appended;
    this.ctx.tracker.keep(this.key, digester);
    if (range && appended !== range.end - range.start + 1) {
      await writer.close();
      throw new BlobUploadInvalidError(`Content-Range announced ${range.end - range.start + 1} bytes but ${appended} arrived`);
    }
    return writer;
  }

  cancel(): Promise<void> {
    return this.ctx.tracker.exclusive(this.key, () => this.removeSession());
  }

  private async ensureOpen(): Promise<void> {
    if (!(await exists(this.ctx.driver, uploadStartedAtPath(this.ctx.name, this.id)))) {
      throw new BlobUploadUnknownError(this.id);
    }
  }

  /** The running hash over the first `size` bytes: this process's, else one saved by an earlier append. */
  private async runningDigester(size: number): Promise<Digester | undefined> {
    const running = this.ctx.tracker.digester(this.key, size);
    if (running !== undefined) return running;
    const { driver, name } = this.ctx;
    const epoch = driver.unsyncedEpoch;
    if (epoch !== undefined) {
      const stamped = await ifPresent(() => driver.getContent(uploadEpochHashStatePath(name, this.id, 'sha256')));
      const stateBytes = (stamped?.length ?? 0) - Buffer.byteLength(epoch);
      // From another boot, it may describe bytes that the restart lost: the commit re-reads `data` instead.
      // One of fewer bytes than `size` (left by an earlier chunk when a later one failed) is refused by
      // `restore`. One read half rewritten (only chunks of one upload sent at once can meet that) at worst
      // fails the commit's digest check.
      if (stamped !== undefined && stateBytes > 0 && stamped.subarray(stateBytes).toString() === epoch) {
        return Digester.restore(stamped.subarray(0, stateBytes), size);
      }
    }
    const saved = await ifPresent(() => driver.getContent(uploadHashStatePath(name, this.id, 'sha256', size)));
    return saved && Digester.restore(saved, size);
  }

  private async digestOfData(dataPath: string, size: number, algorithm: DigestAlgorithm): Promise<Digest> {
    const running = algorithm === 'sha256' ? await this.runningDigester(size) : this.ctx.tracker.digester(this.key, size);
    if (running && running.algorithm === algorithm) return running.digest();
    const digester = new Digester(algorithm);
    for await (const chunk of await this.ctx.driver.reader(dataPath, 0)) digester.update(chunk as Uint8Array);
    return digester.digest();
  }

  private async removeSession(): Promise<void> {
    this.ctx.tracker.forget(this.key);
    // `startedat` first: after a commit it is all the directory holds, which then goes in one call.
    await deleteIfPresent(this.ctx.driver, uploadStartedAtPath(this.ctx.name, this.id));
    await deleteIfPresent(this.ctx.driver, uploadDir(this.ctx.name, this.id));
  }
}
