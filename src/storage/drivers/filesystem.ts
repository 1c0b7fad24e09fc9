/**
 * A driver over a local directory, laid out exactly like Distribution's filesystem driver so that Berth and
 * registry:2 can share a root: the key `/a/b` is the file `<rootDirectory>/a/b`. Files are created 0644 and
 * directories 0755 (less the umask), readable and writable by a Distribution process running as the same user.
 *
 * Durability: putContent writes a temporary sibling (`.<name>.<unique>.tmp`), fsyncs it, renames it over the
 * target and fsyncs the directory, so readers see the old or the new file and a crash leaves one of them.
 * Writers fsync on commit; whole batches of an upload bypass the page cache (`direct-io.ts`). A directory's
 * own name is durable once its parent is synced. When a durable write creates directories (`mkdir -p`), the
 * syncs of their parents start at once, and the write waits for them together with the sync of its own
 * directory, after the rename: one round instead of one per level before the write. Nothing is acknowledged
 * before all of them complete, and a crash before then leaves at worst a directory without the file (or with
 * its temporary sibling), which nothing reads. Directories made by writes that are not durable (leases, upload
 * bookkeeping, a tag's history) are remembered instead, and synced by the first durable write beneath them (a
 * blob's data in the directory its lease made, a tag's `current` beside its history); every durable write also
 * waits for the syncs of its ancestors still under way, also those a concurrent write started. (Between
 * processes sharing the root, a durable write may meet a directory another process created and has not synced
 * yet.) Directories emptied by `delete` or `move` stay behind, as with Distribution.
 *
 * Metadata calls (open, stat, rename, mkdir, unlink) and small reads and writes are made inline on a local
 * filesystem and through the thread pool on a network one (`fs-calls.ts`); fsyncs and bulk I/O always go
 * through the pool.
 *
 * Paths are trusted as given: use the driver through `withChecks` (`../base.ts`), which validates them.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { markLocalFile, type FileInfo, type FileWriter, type PutOptions, type StorageDriver, type WalkDecision } from '../driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { DIRECT_ALIGNMENT, DIRECT_WRITE_FLAGS, batchBuffer, directWritesAvailable } from './direct-io.js';
import {
  SMALL_IO_BYTES,
  fdatasyncInPool,
  fsyncInPool,
  ftruncateInPool,
  isOnLocalFilesystem,
  metadataCalls,
  writeInPool,
  type MetadataCalls,
} from './fs-calls.js';
import { walkFallback } from './walk.js';
import { WriterState } from './writer-state.js';

const FILE_MODE = 0o644;
/** Rewrites in place (PutOptions.inPlace): from the start, without truncating first. */
const IN_PLACE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Direct writes of one upload under way at once (see FilesystemWriter.append). */
const MAX_DIRECT_WRITES = 3;
/** How far writes may run ahead of the disk before a background sync starts (see `#writeBackAhead`). */
const WRITE_BACK_BYTES = 64 * 1024 * 1024;
/** Reads of 256 KiB: a quarter of the syscalls and stream turns of Node's 64 KiB default, per blob served. */
const READ_CHUNK_BYTES = 256 * 1024;
const DIRECTORY_MODE = 0o755;
/** Tries of a putContent whose directory concurrent deletes keep removing. */
const PUT_ATTEMPTS = 3;
/**
 * Temporary names are this process's random tag and a counter: as unique as a fresh random name per write
 * (processes sharing the root pick different tags), without asking the system for randomness every time.
 */
const PROCESS_TAG = randomBytes(6).toString('hex');
let temporaryCount = 0;
const temporaryTag = () => `${PROCESS_TAG}${(temporaryCount++).toString(36)}`;
/**
 * Linux's id of the current boot: the `unsyncedEpoch` of a root on a local filesystem. A network or FUSE
 * filesystem gets none, since its server or daemon may lose unsynced bytes while this host runs on.
 */
const BOOT_ID = readBootId();

function readBootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
/** How many directories made by writes that are not durable are remembered unsynced (see #makeDirectories). */
const MAX_UNSYNCED = 1024;
/** Error codes that mean "nothing at this path" when reading: missing, a file used as a directory, or the reverse. */
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

export interface FilesystemDriverOptions {
  rootDirectory: string;
  /** Make metadata calls on the event loop (see fs-calls.ts). Default: when the root is on a local filesystem. */
  inlineMetadata?: boolean;
  /** Write whole batches of uploads with O_DIRECT (see direct-io.ts). Default: when the addon loaded. */
  directWrites?: boolean;
  /**
   * Told when a closed writer's background write-back failed and its file was removed (see
   * FilesystemWriter.close): nobody else hears of it, and it is how a failing disk first shows.
   */
  onDroppedFile?: (file: string, error: unknown) => void;
}

/** What every writer of one driver shares. */
interface WriterContext {
  calls: MetadataCalls;
  /** Whether uploads may be written with O_DIRECT here: until the filesystem first refuses it. */
  direct: { usable: boolean };
  onDroppedFile: (file: string, error: unknown) => void;
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly unsyncedEpoch: string | undefined;
  readonly #root: string;
  readonly #calls: MetadataCalls;
  readonly #writers: WriterContext;
  /**
   * Directories this driver created whose parent may not be synced yet: to that sync while under way, or to
   * undefined until a durable write beneath starts it.
   */
  readonly #unsynced = new Map<string, Promise<void> | undefined>();

  constructor(options: FilesystemDriverOptions) {
    this.#root = resolve(options.rootDirectory);
    const local = isOnLocalFilesystem(this.#root);
    this.#calls = metadataCalls(options.inlineMetadata ?? local);
    this.unsyncedEpoch = local ? BOOT_ID : undefined;
    this.#writers = {
      calls: this.#calls,
      direct: { usable: directWritesAvailable && (options.directWrites ?? true) },
      onDroppedFile: options.onDroppedFile ?? (() => {}),
    };
  }

  async getContent(path: string): Promise<Buffer> {
    const fd = await this.#whenFound(path, () => this.#calls.open(this.#file(path), 'r'));
    try {
      const stats = await this.#calls.fstat(fd);
      if (stats.isDirectory()) throw new PathNotFoundError(path, this.name);
      if (stats.size > SMALL_IO_BYTES) return await fsp.readFile(this.#file(path));
      const content = Buffer.allocUnsafe(stats.size);
      let filled = 0;
      while (filled < content.length) {
        const read = await this.#calls.readSmall(fd, content, filled, content.length - filled, filled);
        if (read === 0) break;
        filled += read;
      }
      return filled === content.length ? content : content.subarray(0, filled);
    } finally {
      await this.#calls.close(fd);
    }
  }

  async putContent(path: string, content: Uint8Array, options: PutOptions = {}): Promise<void> {
    const durable = options.durable ?? true;
    const target = this.#file(path);
    const directory = dirname(target);
    if (options.inPlace && !durable && options.publishAfter === undefined) {
      // No temporary file and no rename: one inode fewer made and freed on every rewrite. Nor O_TRUNC: ext4
      // takes a file truncated to nothing and written again for an application replacing it, and starts
      // writing it to the disk at close (auto_da_alloc), a disk write per rewrite of what is bookkeeping.
      const fd = await this.#inDirectory(directory, false, () => this.#calls.open(target, IN_PLACE_FLAGS, FILE_MODE));
      try {
        await this.#writeAll(fd, content);
        if ((await this.#calls.fstat(fd)).size > content.byteLength) await ftruncateInPool(fd, content.byteLength);
        return;
      } finally {
        await this.#calls.close(fd);
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#replaceByRename(target, content, durable, options.publishAfter);
      } catch (err) {
        // A delete of the directory (a collector removing an old revision, say) took the temporary file
        // with it. The put completes after that delete, so it still lands.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === PUT_ATTEMPTS) throw err;
      }
    }
  }

  async #replaceByRename(
    target: string,
    content: Uint8Array,
    durable: boolean,
    publishAfter: Promise<unknown> | undefined,
  ): Promise<void> {
    const directory = dirname(target);
    const temporary = `${directory}/.${basename(target)}.${temporaryTag()}.tmp`;
    let firstCreated: string | undefined;
    const fd = await this.#inDirectory(
      directory,
      durable,
      () => this.#calls.open(temporary, 'wx', FILE_MODE),
      (created) => (firstCreated = created),
    );
    try {
      try {
        await this.#writeAll(fd, content);
        if (durable) await fsyncInPool(fd);
      } finally {
        await this.#calls.close(fd);
      }
      await publishAfter;
      await this.#calls.rename(temporary, target);
    } catch (err) {
      // Also the directories made for it: an empty tag directory, say, would list a tag that does not exist.
      await fsp.rm(temporary, { force: true });
      if (firstCreated !== undefined) await this.#removeEmptyDirectories(directory, firstCreated);
      throw err;
    }
    if (durable) await this.#syncDirectories(directory);
  }

  /** Writes all of `content` at the file's current offset: small writes inline (see fs-calls.ts). */
  async #writeAll(fd: number, content: Uint8Array): Promise<void> {
    for (let written = 0; written < content.byteLength; ) {
      const length = content.byteLength - written;
      written += await (length <= SMALL_IO_BYTES
        ? this.#calls.writeSmall(fd, content, written, length, null)
        : writeInPool(fd, content, written, length, null));
    }
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    // Open and check before returning, so a missing file or bad offset is thrown here, not emitted later.
    const fd = await this.#whenFound(path, () => this.#calls.open(this.#file(path), 'r'));
    try {
      const stats = await this.#calls.fstat(fd);
      if (!stats.isFile()) throw new PathNotFoundError(path, this.name);
      if (offset > stats.size) throw new InvalidOffsetError(path, this.name, offset);
      if (length === 0) {
        await this.#calls.close(fd);
        return Readable.from([], { objectMode: false });
      }
      // The stream owns the descriptor from here: it closes it when it ends or is destroyed.
      const stream = fs.createReadStream('', {
        fd,
        start: offset,
        end: length === undefined ? undefined : offset + length - 1,
        highWaterMark: READ_CHUNK_BYTES,
      });
      return markLocalFile(stream, { fd, offset, length: Math.min(length ?? Infinity, stats.size - offset) });
    } catch (err) {
      await this.#calls.close(fd);
      throw err;
    }
  }

  async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    const file = this.#file(path);
    const fd = await this.#inDirectory(dirname(file), false, () => this.#calls.open(file, options.append ? 'a' : 'w', FILE_MODE));
    try {
      const size = options.append ? (await this.#calls.fstat(fd)).size : 0;
      return new FilesystemWriter(fd, this.#writers, file, size);
    } catch (err) {
      await this.#calls.close(fd);
      throw err;
    }
  }

  async stat(path: string): Promise<FileInfo> {
    const stats = await this.#calls.stat(this.#file(path));
    if (stats === undefined) throw new PathNotFoundError(path, this.name);
    const isDir = stats.isDirectory();
    // putContent replaces files by rename, so a file's inode changes on every rewrite, and the mtime guards
    // against a freed inode number being reused; a directory's mtime changes when an entry comes or goes.
    const version = isDir ? `${stats.ino}:${stats.mtimeMs}` : `${stats.ino}:${stats.mtimeMs}:${stats.size}`;
    return { path, size: isDir ? 0 : stats.size, modTime: stats.mtime, isDir, version };
  }

  async list(path: string): Promise<string[]> {
    const names = await this.#whenFound(path, () => fsp.readdir(this.#file(path)));
    const prefix = path === '/' ? '' : path;
    return names.sort().map((name) => `${prefix}/${name}`);
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.#file(source);
    const to = this.#file(destination);
    await this.#inDirectory(dirname(to), true, async () => {
      try {
        await this.#calls.rename(from, to);
      } catch (err) {
        // A missing source must fail the move without creating the destination's directories.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') await this.#whenFound(source, () => fsp.lstat(from));
        throw err;
      }
    });
    // The rename is one journal transaction: syncing the destination directory commits both of its sides.
    await this.#syncDirectories(dirname(to));
  }

  async delete(path: string): Promise<void> {
    const file = this.#file(path);
    await this.#whenFound(path, () => this.#remove(file));
    // An upload's directory, say: nothing durable will be written beneath it.
    if (this.#unsynced.get(file) === undefined) this.#unsynced.delete(file);
  }

  /** Removes a file or an empty directory with one call, and only a tree that holds more in the pool. */
  async #remove(file: string): Promise<void> {
    try {
      return await this.#calls.unlink(file);
    } catch (err) {
      // Linux answers EISDIR for a directory, POSIX allows EPERM.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EISDIR' && code !== 'EPERM') throw err;
    }
    try {
      return await this.#calls.rmdir(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw err;
    }
    await fsp.rm(file, { recursive: true });
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return walkFallback(this, path, visit);
  }

  /**
   * Runs `create` (which makes an entry in `directory`), first as if the directory existed, as it usually
   * does, and again after `mkdir -p` if it did not.
   */
  async #inDirectory<T>(
    directory: string,
    durable: boolean,
    create: () => T | Promise<T>,
    onCreated?: (firstCreated: string) => void,
  ): Promise<T> {
    try {
      return await withoutStackTrace(create);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (err instanceof Error) Error.captureStackTrace(err);
        throw err;
      }
    }
    const firstCreated = await this.#makeDirectories(directory, durable);
    if (firstCreated !== undefined) onCreated?.(firstCreated);
    return create();
  }

  /** Removes `directory` and its ancestors up to `last` while they are empty (another write may fill them). */
  async #removeEmptyDirectories(directory: string, last: string): Promise<void> {
    for (let dir = directory; ; dir = dirname(dir)) {
      try {
        await this.#calls.rmdir(dir);
      } catch {
        return;
      }
      this.#unsynced.delete(dir);
      if (dir === last || dirname(dir) === dir) return;
    }
  }

  /**
   * `mkdir -p`. For a durable write, the syncs of the new directories' parents start at once; for one that
   * is not, they are only noted, and start when a durable write beneath needs them (see the header).
   */
  /** Answers the first directory it created, if any. */
  async #makeDirectories(directory: string, durable: boolean): Promise<string | undefined> {
    const firstCreated = await this.#calls.mkdirs(directory, DIRECTORY_MODE);
    if (firstCreated === undefined) return undefined;
    for (let dir = directory; ; dir = dirname(dir)) {
      if (durable) this.#syncParent(dir);
      else this.#unsynced.set(dir, undefined);
      if (dir === firstCreated || dirname(dir) === dir) break;
    }
    if (this.#unsynced.size > MAX_UNSYNCED) {
      // Directories no durable write has needed for a while (a tag's history, say) are synced now, so that
      // remembering them stays bounded.
      for (const [dir, synced] of this.#unsynced) if (synced === undefined) this.#syncParent(dir);
    }
    return firstCreated;
  }

  #syncParent(dir: string): Promise<void> {
    const synced = this.#syncDirectory(dirname(dir)).finally(() => {
      if (this.#unsynced.get(dir) === synced) this.#unsynced.delete(dir);
    });
    // A failure is reported to the durable writes that wait for this sync; nobody else needs it.
    synced.catch(() => undefined);
    this.#unsynced.set(dir, synced);
    return synced;
  }

  /** Makes a new entry of `directory` durable: syncs it, and the parents of its ancestors this driver created. */
  async #syncDirectories(directory: string): Promise<void> {
    const syncs = [this.#syncDirectory(directory)];
    if (this.#unsynced.size > 0) {
      for (let dir = directory; dir.length > this.#root.length; dir = dirname(dir)) {
        if (this.#unsynced.has(dir)) syncs.push(this.#unsynced.get(dir) ?? this.#syncParent(dir));
      }
    }
    await Promise.all(syncs);
  }

  async #syncDirectory(directory: string): Promise<void> {
    const fd = await this.#calls.open(directory, 'r');
    try {
      await fsyncInPool(fd);
    } finally {
      await this.#calls.close(fd);
    }
  }

  #file(path: string): string {
    return path === '/' ? this.#root : this.#root + path;
  }

  /** Runs a filesystem call whose "no such file" failure means the key `path` does not exist. */
  async #whenFound<T>(path: string, call: () => T | Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (NOT_FOUND_CODES.has((err as NodeJS.ErrnoException).code ?? '')) throw new PathNotFoundError(path, this.name);
      throw err;
    }
  }
}

class FilesystemWriter implements FileWriter {
  readonly #fd: number;
  readonly #calls: MetadataCalls;
  readonly #file: string;
  readonly #state = new WriterState();
  readonly #direct: { usable: boolean };
  readonly #onDroppedFile: (file: string, error: unknown) => void;
  /** The file opened again for direct writes of whole batches (undefined: not yet tried; null: not usable). */
  #directFd: number | null | undefined;
  #size: number;
  /** Bytes written since the last write-back started; see `#writeBackAhead`. */
  #unsyncedBytes = 0;
  /** A write-back of what is already written, started while more arrives; see `#writeBackAhead`. */
  #writeBack: Promise<void> | undefined;

  constructor(fd: number, context: WriterContext, file: string, size: number) {
    this.#fd = fd;
    this.#calls = context.calls;
    this.#direct = context.direct;
    this.#onDroppedFile = context.onDroppedFile;
    this.#file = file;
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  async append(source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#state.beginAppend();
    const before = this.#size;
    // Chunks are copied into batches written about WRITE_BATCH_BYTES at a time: a socket delivers 16-64 KiB
    // per chunk, and each write is a trip through the thread pool. Copying also lets a source reuse its
    // buffer. Batches are written while the next one fills, so that the source keeps flowing: waiting for
    // every write would pause the socket, and the client with it, once per batch. Direct writes (whole
    // batches, each at its own position) may be MAX_DIRECT_WRITES at once, since each waits for the disk;
    // a write through the page cache appends, so it waits until every earlier write has completed.
    const writes: PendingWrite[] = [];
    const free: Buffer<ArrayBuffer>[] = [];
    /** The failed write nearest the start of the file: the file is cut there. */
    let writeError: { reason: unknown; position: number } | undefined;
    let batch = takeBatch();
    let filled = 0;
    const settleOldest = async () => {
      const oldest = writes[0]!;
      try {
        await oldest.done;
      } finally {
        // Settled either way: the kernel no longer reads the batch.
        writes.shift();
        free.push(oldest.batch);
      }
    };
    const flush = async () => {
      const direct =
        filled === batch.length && this.#size % DIRECT_ALIGNMENT === 0
          ? await this.#directDescriptor()
          : undefined;
      while (writes.length >= (direct === undefined ? 1 : MAX_DIRECT_WRITES) || (writes.length > 0 && writes.at(-1)!.cached)) {
        await settleOldest();
      }
      const position = this.#size;
      this.#size += filled;
      const done = direct === undefined ? this.#writeCached(batch, filled, position) : this.#writeDirect(direct, batch, filled, position);
      done.catch((reason: unknown) => {
        if (writeError === undefined || position < writeError.position) writeError = { reason, position };
      });
      writes.push({ done, batch, cached: direct === undefined });
      batch = free.pop() ?? takeBatch();
      filled = 0;
    };
    let failure: { reason: unknown } | undefined;
    try {
      for await (const chunk of source) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          const count = Math.min(chunk.byteLength - offset, batch.length - filled);
          batch.set(chunk.subarray(offset, offset + count), filled);
          filled += count;
          offset += count;
          if (filled === batch.length) await flush();
        }
      }
      if (filled > 0) await flush();
    } catch (err) {
      failure = { reason: err };
      // Bytes that arrived before a failing source are kept, as the contract promises.
      if (filled > 0 && writeError === undefined) await flush().catch(() => undefined);
    }
    // Every write settles before the batches are reused, whatever failed.
    await Promise.allSettled(writes.map((write) => write.done));
    for (const write of writes) free.push(write.batch);
    for (const spare of [batch, ...free]) giveBackBatch(spare);
    this.#state.endAppend();
    if (writeError !== undefined) {
      // What writes after the failed one put beyond it is cut, so the file holds whole bytes up to there.
      this.#size = writeError.position;
      await ftruncateInPool(this.#fd, writeError.position).catch(() => undefined);
    }
    const error = failure ?? writeError;
    if (error !== undefined) throw error.reason;
    return this.#size - before;
  }

  /** A whole batch straight to the disk (see direct-io.ts). */
  async #writeDirect(fd: number, buffer: Buffer, length: number, position: number): Promise<void> {
    const written = await writeInPool(fd, buffer, 0, length, position);
    if (written !== length) throw new Error(`short direct write to ${this.#file}: ${written} of ${length} bytes`);
    this.#unsyncedBytes += length;
    this.#writeBackAhead();
  }

  /** Through the page cache: a small upload, the tail of a large one, or an unaligned append. */
  async #writeCached(buffer: Buffer, length: number, position: number): Promise<void> {
    for (let written = 0; written < length; ) {
      const rest = length - written;
      // The last batch of a small blob is written inline; a full batch would hold the event loop too long.
      // At an explicit position: the direct descriptor's writes do not move this descriptor's offset.
      written += await (rest <= SMALL_IO_BYTES
        ? this.#calls.writeSmall(this.#fd, buffer, written, rest, position + written)
        : writeInPool(this.#fd, buffer, written, rest, position + written));
    }
    this.#unsyncedBytes += length;
    this.#writeBackAhead();
  }

  async #directDescriptor(): Promise<number | undefined> {
    if (this.#directFd === undefined) {
      this.#directFd = null;
      if (this.#direct.usable) {
        try {
          this.#directFd = await this.#calls.open(this.#file, DIRECT_WRITE_FLAGS);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
          this.#direct.usable = false;
        }
      }
    }
    return this.#directFd ?? undefined;
  }

  /**
   * Starts syncing what is written so far once WRITE_BACK_BYTES more have been written, one sync at a time,
   * while the rest of the upload streams in: the disk then works alongside the network, and the sync that a
   * commit waits for only has the tail left. Direct writes count too: their bytes bypass the page cache, but
   * the disk may still hold them in its own cache and the journal still has to record the blocks they
   * took, which is what a sync then waits for (without these syncs, a 256 MiB push here waited 110-200 ms
   * for its final one). Not more often: on a virtual disk a sync also holds up the writes queued behind it;
   * 512 MiB of direct writes ran at 430-500 MiB/s with a sync every 8 MiB and 510-610 with one every 64, and
   * 256 MiB pushes at 480 MiB/s against 531-548 in two alternating benchmarks. Durability is unchanged
   * (commit still syncs everything); a failure is reported by commit (or handled by close, see there),
   * since a later sync of the same file may not report it again.
   */
  #writeBackAhead(): void {
    if (this.#writeBack || this.#unsyncedBytes < WRITE_BACK_BYTES) return;
    this.#unsyncedBytes = 0;
    const writeBack = fdatasyncInPool(this.#fd).then(() => {
      if (this.#writeBack === writeBack) this.#writeBack = undefined;
    });
    writeBack.catch(() => undefined);
    this.#writeBack = writeBack;
  }

  async #closeDescriptors(): Promise<void> {
    try {
      if (typeof this.#directFd === 'number') await this.#calls.close(this.#directFd);
    } finally {
      await this.#calls.close(this.#fd);
    }
  }

  async commit(): Promise<void> {
    this.#state.finish();
    try {
      await this.#writeBack;
      // The inode's sync covers what either descriptor wrote, and flushes the disk's cache of direct writes.
      await fsyncInPool(this.#fd);
    } finally {
      await this.#closeDescriptors();
    }
  }

  /**
   * Releases the writer at once. What it wrote and has not synced starts its write-back now, in the
   * background, and the descriptors close when that ends: an upload chunk's close does not wait for the disk,
   * and the commit chunks later has little left to sync (a chunked 256 MiB push waited 141 ms for its final
   * sync when no chunk synced). No request hears of a failure of that write-back, and a later sync may not
   * report it again (the kernel reports a write-back error once), so the file is then removed and the driver's
   * `onDroppedFile` told: an upload fails at its next chunk or commit instead of committing bytes the disk lost.
   */
  async close(): Promise<void> {
    this.#state.finish();
    if (this.#unsyncedBytes > 0) {
      this.#unsyncedBytes = 0;
      this.#writeBack = (this.#writeBack ?? Promise.resolve()).then(() => fdatasyncInPool(this.#fd));
    }
    const writeBack = this.#writeBack;
    if (writeBack === undefined) return this.#closeDescriptors();
    writeBack
      .catch(async (err: unknown) => {
        try {
          await fsp.rm(this.#file, { force: true });
        } finally {
          this.#onDroppedFile(this.#file, err);
        }
      })
      .finally(() => this.#closeDescriptors())
      .catch(() => undefined);
  }

  async cancel(): Promise<void> {
    if (!this.#state.beginCancel()) return;
    await this.#writeBack?.catch(() => undefined);
    await this.#closeDescriptors();
    await fsp.rm(this.#file, { force: true });
  }
}

/**
 * Runs `call` with stack traces off while it runs synchronously (an inline call). For a first try that fails
 * whenever a directory is new (an upload's, a new blob's or layer's), whose error is then thrown away: Node
 * captures a stack for every failed call, about 10 µs here and more from deep in a request, and a small push
 * threw three such errors.
 */
function withoutStackTrace<T>(call: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return call();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

interface PendingWrite {
  done: Promise<void>;
  batch: Buffer<ArrayBuffer>;
  cached: boolean;
}

/**
 * Write batches are kept for the next append instead of allocated per upload: a fresh 1 MiB buffer for every
 * small push made V8 collect garbage every few dozen pushes (it counts such memory toward its limits), and
 * fresh pages cost a page fault each as a large push fills them.
 */
const spareBatches: Buffer<ArrayBuffer>[] = [];
const SPARE_BATCHES = 8;

function takeBatch(): Buffer<ArrayBuffer> {
  return spareBatches.pop() ?? batchBuffer(WRITE_BATCH_BYTES);
}

function giveBackBatch(batch: Buffer<ArrayBuffer>): void {
  if (spareBatches.length < SPARE_BATCHES) spareBatches.push(batch);
}
