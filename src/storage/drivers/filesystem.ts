/**
 * A driver over a local directory, laid out exactly like Distribution's filesystem driver so that Berth and
 * registry:2 can share a root: the key `/a/b` is the file `<rootDirectory>/a/b`. Files are created 0644 and
 * directories 0755 (less the umask), readable and writable by a Distribution process running as the same user.
 *
 * Durability: putContent writes a temporary sibling (`.<name>.<random>.tmp`), fsyncs it, renames it over the
 * target and fsyncs the directory, so readers see the old or the new file and a crash leaves one of them.
 * Writers fsync on commit; new directories are made durable by fsyncing their parents. Directories emptied
 * by `delete` or `move` stay behind, as with Distribution.
 *
 * Paths are trusted as given: use the driver through `withChecks` (`../base.ts`), which validates them.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { markLocalFile, type FileInfo, type FileWriter, type PutOptions, type StorageDriver, type WalkDecision } from '../driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { walkFallback } from './walk.js';
import { WriterState } from './writer-state.js';

const FILE_MODE = 0o644;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Reads of 256 KiB: a quarter of the syscalls and stream turns of Node's 64 KiB default, per blob served. */
const READ_CHUNK_BYTES = 256 * 1024;
const DIRECTORY_MODE = 0o755;
/** Error codes that mean "nothing at this path" when reading: missing, a file used as a directory, or the reverse. */
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly #root: string;

  constructor(options: { rootDirectory: string }) {
    this.#root = resolve(options.rootDirectory);
  }

  async getContent(path: string): Promise<Buffer> {
    return this.#whenFound(path, () => fsp.readFile(this.#file(path)));
  }

  async putContent(path: string, content: Uint8Array, options: PutOptions = {}): Promise<void> {
    const durable = options.durable ?? true;
    const target = this.#file(path);
    const directory = dirname(target);
    await makeDirectories(directory, durable);
    const temporary = `${directory}/.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await fsp.open(temporary, 'wx', FILE_MODE);
      try {
        await handle.writeFile(content);
        if (durable) await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temporary, target);
    } catch (err) {
      await fsp.rm(temporary, { force: true });
      throw err;
    }
    if (durable) await syncDirectory(directory);
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    // Open and check before returning, so a missing file or bad offset is thrown here, not emitted later.
    const handle = await this.#whenFound(path, () => fsp.open(this.#file(path), 'r'));
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new PathNotFoundError(path, this.name);
      if (offset > stats.size) throw new InvalidOffsetError(path, this.name, offset);
      if (length === 0) {
        await handle.close();
        return Readable.from([], { objectMode: false });
      }
      const stream = handle.createReadStream({
        start: offset,
        end: length === undefined ? undefined : offset + length - 1,
        highWaterMark: READ_CHUNK_BYTES,
      });
      return markLocalFile(stream, { fd: handle.fd, offset, length: Math.min(length ?? Infinity, stats.size - offset) });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    const file = this.#file(path);
    await makeDirectories(dirname(file), false);
    const handle = await fsp.open(file, options.append ? 'a' : 'w', FILE_MODE);
    try {
      const size = options.append ? (await handle.stat()).size : 0;
      return new FilesystemWriter(handle, file, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async stat(path: string): Promise<FileInfo> {
    const stats = await this.#whenFound(path, () => statFile(this.#file(path)));
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
    // Check the source first so that a failed move creates no destination directories.
    await this.#whenFound(source, () => fsp.lstat(from));
    await makeDirectories(dirname(to), true);
    await this.#whenFound(source, () => fsp.rename(from, to));
    // The rename is one journal transaction: syncing the destination directory commits both of its sides.
    await syncDirectory(dirname(to));
  }

  async delete(path: string): Promise<void> {
    await this.#whenFound(path, () => fsp.rm(this.#file(path), { recursive: true }));
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return walkFallback(this, path, visit);
  }

  #file(path: string): string {
    return path === '/' ? this.#root : this.#root + path;
  }

  /** Runs a filesystem call whose "no such file" failure means the key `path` does not exist. */
  async #whenFound<T>(path: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (NOT_FOUND_CODES.has((err as NodeJS.ErrnoException).code ?? '')) throw new PathNotFoundError(path, this.name);
      throw err;
    }
  }
}

class FilesystemWriter implements FileWriter {
  readonly #handle: FileHandle;
  readonly #file: string;
  readonly #state = new WriterState();
  #size: number;

  constructor(handle: FileHandle, file: string, size: number) {
    this.#handle = handle;
    this.#file = file;
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  async append(source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#state.beginAppend();
    const before = this.#size;
    // Chunks are copied into one buffer written about WRITE_BATCH_BYTES at a time: a socket delivers 16-64 KiB
    // per chunk, and each write is a trip through the thread pool. Copying also lets a source reuse its buffer.
    const buffer = Buffer.allocUnsafe(WRITE_BATCH_BYTES);
    let filled = 0;
    try {
      try {
        for await (const chunk of source) {
          let offset = 0;
          while (offset < chunk.byteLength) {
            const count = Math.min(chunk.byteLength - offset, buffer.length - filled);
            buffer.set(chunk.subarray(offset, offset + count), filled);
            filled += count;
            offset += count;
            if (filled === buffer.length) {
              await this.#writeFully(buffer, filled);
              filled = 0;
            }
          }
        }
      } finally {
        // Bytes that arrived before a failing source are kept, as the contract promises.
        if (filled > 0) await this.#writeFully(buffer, filled);
      }
      return this.#size - before;
    } finally {
      this.#state.endAppend();
    }
  }

  async #writeFully(buffer: Buffer, length: number): Promise<void> {
    let written = 0;
    while (written < length) {
      const { bytesWritten } = await this.#handle.write(buffer, written, length - written);
      written += bytesWritten;
      this.#size += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    this.#state.finish();
    try {
      await this.#handle.sync();
    } finally {
      await this.#handle.close();
    }
  }

  async close(): Promise<void> {
    this.#state.finish();
    await this.#handle.close();
  }

  async cancel(): Promise<void> {
    if (!this.#state.beginCancel()) return;
    await this.#handle.close();
    await fsp.rm(this.#file, { force: true });
  }
}

/** `stat` through the callback API: every pull stats a link or two, and `fs/promises` costs more per call. */
function statFile(file: string): Promise<Stats> {
  return new Promise((resolve, reject) => fs.stat(file, (err, stats) => (err ? reject(err) : resolve(stats))));
}

/** `mkdir -p`; when `durable`, fsync the parent of every directory it created so the new entries survive a crash. */
async function makeDirectories(directory: string, durable: boolean): Promise<void> {
  const firstCreated = await fsp.mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
  if (firstCreated === undefined || !durable) return;
  for (let created = directory; ; created = dirname(created)) {
    await syncDirectory(dirname(created));
    if (created === firstCreated || dirname(created) === created) return;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await fsp.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
