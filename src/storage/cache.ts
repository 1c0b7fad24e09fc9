/**
 * A bounded in-process cache in front of a driver, for the small reads every pull repeats: link files,
 * manifests and blob sizes.
 *
 * It never serves a stale mutable file, even when another process or replica rewrote it:
 *   - A blob's `data` under `blobs/` is content-addressed, so its bytes and size can never change; it is cached
 *     without asking the store again (a blob deleted elsewhere is noticed when its data is opened).
 *   - Any other file is cached with the `version` its driver reports in `stat`; a read first stats the file
 *     (one cheap call instead of open+read+close) and re-reads it when the version differs. Drivers that
 *     report no version get no caching of mutable files. A version built from times (the filesystem's
 *     inode and mtime) could repeat within one coarse clock tick, should a rewrite get a freed inode back,
 *     so content is only kept once its file has been unchanged for SETTLED_MS; any later rewrite then
 *     carries a later time, hence a new version.
 * Writes, moves and deletes through this wrapper drop what they touch.
 *
 * Cacheable reads are counted into Distribution's `registry_storage_cache_total{type}` when given metrics:
 * `Request` for each, then `Hit` or `Miss` (an in-process cache has no `Error`s).
 */
import type { Readable } from 'node:stream';
import type { FileInfo, FileWriter, PutOptions, StorageDriver, WalkDecision } from './driver.js';
import { isNotFound } from './errors.js';
import { BLOBS_ROOT } from './paths.js';

/** What the cache needs of `metrics/`: Distribution's cache counter. */
export interface CacheMetrics {
  storageCache: { inc(labels: { type: 'Request' | 'Hit' | 'Miss' }): void };
}

export interface ContentCacheOptions {
  /** Total bytes of content kept; least recently used entries go first. */
  maxBytes: number;
  /** Larger files are never cached. */
  maxEntryBytes: number;
  metrics?: CacheMetrics;
}

/** The default budget of one cache. */
export const CONTENT_CACHE_BYTES = 32 * 1024 * 1024;
const DEFAULTS: ContentCacheOptions = { maxBytes: CONTENT_CACHE_BYTES, maxEntryBytes: 1024 * 1024 };
/** How long a file or directory must have been unchanged before its content or listing is cached. */
const SETTLED_MS = 2000;
// What an entry costs beyond its content, so that many small entries are bounded too.
const ENTRY_OVERHEAD = 256;

interface Entry {
  info?: FileInfo;
  content?: Buffer;
  /** A directory's children, as `list` returned them (frozen: every caller shares the array). */
  listing?: string[];
  /** The version `content` or `listing` was read at (mutable files and directories). */
  version?: string;
}

/** A blob's `data`; its siblings (`lease`, `sweeping`: garbage collection's) are rewritten and not cached so. */
function isContentAddressed(path: string): boolean {
  return path.startsWith(`${BLOBS_ROOT}/`) && path.endsWith('/data');
}

export function withContentCache(driver: StorageDriver, options: Partial<ContentCacheOptions> = {}): StorageDriver {
  return new CachingDriver(driver, { ...DEFAULTS, ...options });
}

class CachingDriver implements StorageDriver {
  readonly name: string;
  readonly unsyncedEpoch: string | undefined;
  declare readonly redirectURL?: (path: string, method: 'GET' | 'HEAD') => Promise<string | undefined>;
  declare readonly purgeStaleWrites?: (olderThan: Date, options: { dryRun: boolean }) => Promise<string[]>;
  readonly #driver: StorageDriver;
  readonly #options: ContentCacheOptions;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(driver: StorageDriver, options: ContentCacheOptions) {
    this.#driver = driver;
    this.#options = options;
    this.name = driver.name;
    this.unsyncedEpoch = driver.unsyncedEpoch;
    if (driver.redirectURL) this.redirectURL = driver.redirectURL.bind(driver);
    if (driver.purgeStaleWrites) this.purgeStaleWrites = driver.purgeStaleWrites.bind(driver);
  }

  async getContent(path: string): Promise<Buffer> {
    if (isContentAddressed(path)) {
      const cached = this.#get(path)?.content;
      if (this.#counted(cached !== undefined)) return cached!;
      const content = await this.#tracking(path, () => this.#driver.getContent(path));
      this.#set(path, { ...this.#get(path), content });
      return content;
    }
    const info = await this.#tracking(path, () => this.#driver.stat(path));
    const entry = this.#get(path);
    const hit = info.version !== undefined && entry?.content !== undefined && entry.version === info.version;
    if (info.version !== undefined && this.#counted(hit)) return entry!.content!;
    const content = await this.#tracking(path, () => this.#driver.getContent(path));
    if (info.version !== undefined && isSettled(info)) this.#set(path, { content, version: info.version });
    return content;
  }

  async stat(path: string): Promise<FileInfo> {
    if (!isContentAddressed(path)) return this.#driver.stat(path);
    const cached = this.#get(path)?.info;
    if (this.#counted(cached !== undefined)) return cached!;
    const info = await this.#tracking(path, () => this.#driver.stat(path));
    if (!info.isDir) this.#set(path, { ...this.#get(path), info });
    return info;
  }

  async putContent(path: string, content: Uint8Array, options?: PutOptions): Promise<void> {
    this.#forget(path);
    await this.#driver.putContent(path, content, options);
  }

  async reader(path: string, offset?: number, length?: number): Promise<Readable> {
    return this.#tracking(path, () => this.#driver.reader(path, offset, length));
  }

  async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    this.#forget(path);
    return this.#driver.writer(path, options);
  }

  async list(path: string): Promise<string[]> {
    const info = await this.#tracking(path, () => this.#driver.stat(path));
    const entry = this.#get(path);
    const hit = info.version !== undefined && entry?.listing !== undefined && entry.version === info.version;
    if (info.version !== undefined && this.#counted(hit)) return entry!.listing!;
    const listing = Object.freeze(await this.#driver.list(path)) as string[];
    if (info.version !== undefined && isSettled(info)) {
      this.#set(path, { listing, version: info.version });
    }
    return listing;
  }

  async move(source: string, destination: string): Promise<void> {
    this.#forget(source);
    this.#forget(destination);
    await this.#driver.move(source, destination);
  }

  async delete(path: string): Promise<void> {
    this.#forgetTree(path);
    await this.#driver.delete(path);
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return this.#driver.walk(path, visit);
  }

  /** Counts a cacheable read as a hit or a miss, and says which. */
  #counted(hit: boolean): boolean {
    const metrics = this.#options.metrics;
    if (metrics) {
      metrics.storageCache.inc({ type: 'Request' });
      metrics.storageCache.inc({ type: hit ? 'Hit' : 'Miss' });
    }
    return hit;
  }

  /** Runs a read; when the file turns out to be gone, drops what was cached of it. */
  async #tracking<T>(path: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (isNotFound(err)) this.#forget(path);
      throw err;
    }
  }

  #get(path: string): Entry | undefined {
    const entry = this.#entries.get(path);
    if (entry) {
      // Re-insert to mark it most recently used.
      this.#entries.delete(path);
      this.#entries.set(path, entry);
    }
    return entry;
  }

  #set(path: string, entry: Entry): void {
    if (entry.content && entry.content.length > this.#options.maxEntryBytes) delete entry.content;
    this.#forget(path);
    this.#entries.set(path, entry);
    this.#bytes += sizeOf(entry);
    for (const [oldest, old] of this.#entries) {
      if (this.#bytes <= this.#options.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= sizeOf(old);
    }
  }

  #forget(path: string): void {
    const entry = this.#entries.get(path);
    if (!entry) return;
    this.#entries.delete(path);
    this.#bytes -= sizeOf(entry);
  }

  #forgetTree(path: string): void {
    const prefix = `${path}/`;
    for (const key of [...this.#entries.keys()]) {
      if (key === path || key.startsWith(prefix)) this.#forget(key);
    }
  }
}

/**
 * Times may be coarse (a clock tick): a version is only trusted once its file or directory has been unchanged
 * for longer than that, so that any later change is sure to give it a new version.
 */
function isSettled(info: FileInfo): boolean {
  return Date.now() - info.modTime.getTime() > SETTLED_MS;
}

function sizeOf(entry: Entry): number {
  const listingBytes = entry.listing?.reduce((total, path) => total + 2 * path.length + 16, 0) ?? 0;
  return ENTRY_OVERHEAD + (entry.content?.length ?? 0) + listingBytes;
}
