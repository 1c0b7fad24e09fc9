/**
 * The storage driver interface: a small, path-keyed store of files, modelled on Distribution's
 * `storagedriver.StorageDriver` so that the same key layout (see `paths.ts`) works on every backend.
 *
 * Paths are absolute, slash-separated and rooted at the driver's own root: `/docker/registry/v2/...`.
 * Components match `[A-Za-z0-9._:-]+` (see `isValidPath`). Directories exist implicitly while they hold files.
 */
import type { Readable } from 'node:stream';

export interface FileInfo {
  path: string;
  /** Bytes, for files; 0 for directories. */
  size: number;
  modTime: Date;
  isDir: boolean;
  /**
   * Changes whenever the file's content (or the directory's list of children) may have changed, so a cache
   * can tell a rewrite it did not see. Optional: a driver that cannot tell leaves it out.
   */
  version?: string;
}

/** A file being written. Obtained from `StorageDriver.writer`; exactly one of commit/close/cancel ends it. */
export interface FileWriter {
  /** Bytes in the file: those present when it was opened for append plus those appended since. */
  readonly size: number;
  /**
   * Appends every byte of `source`, resolving with the number appended. If the source fails midway, the
   * bytes that reached the file stay there (a later append continues after them) and the promise rejects.
   */
  append(source: AsyncIterable<Uint8Array>): Promise<number>;
  /**
   * Makes the written bytes durable and releases the writer. The file's name becomes durable when it is
   * published by `move` (which is how a written file is always made visible).
   */
  commit(): Promise<void>;
  /** Releases the writer without a durability guarantee; the file stays for a later append. */
  close(): Promise<void>;
  /** Releases the writer and removes the file. Safe to call twice. */
  cancel(): Promise<void>;
}

export interface PutOptions {
  /** Default true. */
  durable?: boolean;
  /**
   * Write now, publish later: the content is written (and synced) at once, but appears at the path only once
   * this settles. If it rejects, nothing appears and putContent rejects with its reason. This lets a write
   * that must follow another (a link after its content) overlap it, and only wait for it at the end.
   */
  publishAfter?: Promise<unknown>;
  /**
   * With `durable: false`: the file may be rewritten in place, so a reader may briefly see it empty, half
   * written, or as a mix of the old and the new content. For bookkeeping whose readers take any content they
   * did not expect as "changed" (a blob's lease) or check it (an upload's hash state). Drivers whose writes
   * are atomic anyway ignore it.
   */
  inPlace?: boolean;
}

/**
 * A range of a local file that a stream from `reader` holds open. A server may hand this range to the kernel
 * (sendfile) instead of reading the stream; the stream keeps owning the descriptor (destroying it closes the
 * file), so whoever uses `fd` takes its own reference to it first.
 */
export interface LocalFileRange {
  readonly fd: number;
  readonly offset: number;
  readonly length: number;
}

const localFiles = new WeakMap<Readable, LocalFileRange>();

/** Records, for a driver, that `stream` reads `range` of a local file. */
export function markLocalFile(stream: Readable, range: LocalFileRange): Readable {
  localFiles.set(stream, range);
  return stream;
}

/** The local file range a stream from `reader` reads, when its driver said so. */
export function localFileOf(stream: Readable): LocalFileRange | undefined {
  return localFiles.get(stream);
}

/** What a walk callback may answer: `'skip'` does not descend into the directory just visited. */
export type WalkDecision = 'skip' | void;

export interface StorageDriver {
  /** Short name for logs and metrics: `filesystem`, `inmemory`, `s3`. */
  readonly name: string;
  /**
   * Set where the bytes of a closed writer read back as written, synced or not, by every process sharing the
   * store until the host restarts (a local filesystem, through the page cache): an id of the host's current
   * boot. Bookkeeping stamped with it may vouch for such bytes while it is unchanged. Undefined where only
   * `commit` makes appended bytes dependable.
   */
  readonly unsyncedEpoch?: string;

  /** Whole content of a small file. Throws PathNotFoundError. */
  getContent(path: string): Promise<Buffer>;
  /**
   * Replaces the file atomically: readers see the old or the new content, never a mix. Durable (it survives a
   * crash once this resolves) unless `durable: false`, for bookkeeping whose loss is harmless.
   */
  putContent(path: string, content: Uint8Array, options?: PutOptions): Promise<void>;
  /** Streams the file from `offset`, at most `length` bytes when given. Throws PathNotFoundError, InvalidOffsetError. */
  reader(path: string, offset?: number, length?: number): Promise<Readable>;
  /** Opens a file for writing, truncating it unless `append`. */
  writer(path: string, options: { append: boolean }): Promise<FileWriter>;
  /** Throws PathNotFoundError. */
  stat(path: string): Promise<FileInfo>;
  /** Full paths of the direct children of a directory, sorted. Throws PathNotFoundError. */
  list(path: string): Promise<string[]>;
  /** Moves a file atomically and durably, replacing any file at `destination`. Throws PathNotFoundError. */
  move(source: string, destination: string): Promise<void>;
  /** Removes a file or a whole directory tree. Throws PathNotFoundError. */
  delete(path: string): Promise<void>;
  /**
   * Visits every file and directory under `path` depth-first, children in lexical order; a directory's own
   * visit comes before its children. Throws PathNotFoundError when `path` does not exist.
   */
  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void>;
  /** A URL the client may fetch the content from directly, or undefined when the driver serves it itself. */
  redirectURL?(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined>;
  /**
   * Removes what writers of dead processes left behind outside the tree (S3: incomplete multipart uploads)
   * when started before `olderThan`, and returns the paths they were writing. Upload purging calls it;
   * drivers whose writes leave nothing hidden omit it.
   */
  purgeStaleWrites?(olderThan: Date, options: { dryRun: boolean }): Promise<string[]>;
}

const PATH_GRAMMAR = /^(\/[A-Za-z0-9._:-]+)+$/;

export function isValidPath(path: string): boolean {
  return (path === '/' || PATH_GRAMMAR.test(path)) && !path.split('/').some((part) => part === '.' || part === '..');
}
