/**
 * The system calls the filesystem driver makes, in two flavours chosen once per root.
 *
 * Every asynchronous call in Node is a round trip through libuv's thread pool: a wake-up of a pool thread,
 * the call, and a wake-up of the event loop. On a virtual machine each wake-up costs about as much as a small
 * metadata call itself, and a push makes dozens of them (stat, open, rename, mkdir, unlink, close), so they
 * cost more CPU than the work they do. On a local filesystem these calls take microseconds (no disk I/O
 * unless the inode is not cached), so they are made inline, on the event loop. On a network filesystem
 * (NFS, SMB, FUSE, Ceph) the same call is a network round trip, and making it inline would stall every
 * request, so there they stay in the pool.
 *
 * Calls that wait for the disk or move many bytes (fsync, large reads and writes, listing and removing
 * trees) always go through the pool.
 */
import fs, { promises as fsp, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

/** A value, or a promise of it: inline calls answer at once, pooled ones later; callers await either. */
type Awaitable<T> = T | Promise<T>;

export interface MetadataCalls {
  /** True when calls are made on the event loop (a local filesystem). */
  readonly inline: boolean;
  open(path: string, flags: string | number, mode?: number): Awaitable<number>;
  close(fd: number): Awaitable<void>;
  fstat(fd: number): Awaitable<Stats>;
  /** Undefined when nothing is at `path` (also when a parent is a file). */
  stat(path: string): Awaitable<Stats | undefined>;
  rename(from: string, to: string): Awaitable<void>;
  /** `mkdir -p`: the first directory it created, or undefined when all existed. */
  mkdirs(path: string, mode: number): Awaitable<string | undefined>;
  unlink(path: string): Awaitable<void>;
  rmdir(path: string): Awaitable<void>;
  /** A write of at most SMALL_IO_BYTES at `position` (null: the descriptor's offset): the bytes written. */
  writeSmall(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): Awaitable<number>;
  /** A read of at most SMALL_IO_BYTES at `position`: the bytes read. */
  readSmall(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Awaitable<number>;
}

/** Reads and writes up to this size are made inline on a local filesystem: a copy to or from the page cache. */
export const SMALL_IO_BYTES = 64 * 1024;

const inlineCalls: MetadataCalls = {
  inline: true,
  open: (path, flags, mode) => fs.openSync(path, flags, mode),
  close: (fd) => fs.closeSync(fd),
  fstat: (fd) => fs.fstatSync(fd),
  stat: (path) => {
    try {
      return fs.statSync(path, { throwIfNoEntry: false });
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
  },
  rename: (from, to) => fs.renameSync(from, to),
  mkdirs: (path, mode) => fs.mkdirSync(path, { recursive: true, mode }),
  unlink: (path) => fs.unlinkSync(path),
  rmdir: (path) => fs.rmdirSync(path),
  writeSmall: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  readSmall: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
};

const pooledStat = promisify(fs.stat);
const pooledCalls: MetadataCalls = {
  inline: false,
  open: promisify(fs.open) as (path: string, flags: string | number, mode?: number) => Promise<number>,
  close: promisify(fs.close),
  fstat: promisify(fs.fstat) as (fd: number) => Promise<Stats>,
  stat: async (path) => {
    try {
      return await pooledStat(path);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
  },
  rename: promisify(fs.rename),
  mkdirs: (path, mode) => fsp.mkdir(path, { recursive: true, mode }),
  unlink: promisify(fs.unlink),
  rmdir: promisify(fs.rmdir),
  writeSmall: writeInPool,
  readSmall: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (err, read) => (err ? reject(err) : resolve(read)))),
};

function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Writes through the pool, whatever the filesystem: for batches of an upload. */
export function writeInPool(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, buffer, offset, length, position, (err, written) => (err ? reject(err) : resolve(written))),
  );
}

export const fsyncInPool = promisify(fs.fsync);
export const fdatasyncInPool = promisify(fs.fdatasync);
export const ftruncateInPool = promisify(fs.ftruncate) as (fd: number, length: number) => Promise<void>;

/**
 * statfs(2) magic numbers of filesystems on local block devices or in memory: ext2/3/4, XFS, Btrfs, F2FS,
 * ZFS, bcachefs, tmpfs, ramfs, and overlayfs (a container's writable layer, itself on a local disk).
 */
const LOCAL_FILESYSTEMS = new Set([
  0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x2fc12fc1, 0xca451a4e, 0x01021994, 0x858458f6, 0x794c7630,
]);

/** True when `root` (or its nearest existing ancestor) is on a local filesystem. */
export function isOnLocalFilesystem(root: string): boolean {
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      return LOCAL_FILESYSTEMS.has(Number(fs.statfsSync(dir).type));
    } catch (err) {
      if (!isAbsent(err) || dirname(dir) === dir) return false;
    }
  }
}

export function metadataCalls(inline: boolean): MetadataCalls {
  return inline ? inlineCalls : pooledCalls;
}
