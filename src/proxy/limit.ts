/**
 * The size limit of one upstream's cache, with least-recently-pulled eviction of blobs.
 *
 * The cache of an upstream is every repository under its local prefix (all repositories for the
 * Distribution-compatible catch-all). Its size is the sum of the blobs linked there, each counted once. The
 * index is built on first use from the layer links (their modification time stands for the last pull until a
 * pull in this process says otherwise) and kept in memory, in pull order: a Map re-inserted on each pull
 * iterates least recently pulled first.
 *
 * Eviction unlinks a blob from the upstream's repositories, then deletes its data unless another repository
 * (a cached one of another upstream, or an ordinary one) still links it. Manifests stay: a later pull of an
 * evicted layer is a miss and is fetched again. Evictions run one at a time.
 */
import type { Digest } from '../oci/digest.js';
import { isDigest } from '../oci/digest.js';
import { listRepositories } from '../registry/catalog.js';
import { deleteIfPresent, exists, linkDir } from '../registry/links.js';
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import { blobDataPath, layerLinkPath, manifestRevisionLinkPath, REPOSITORIES_ROOT } from '../storage/paths.js';
import type { ProxyCounters, ProxyLog } from './stats.js';

interface Entry {
  size: number;
  /** Local repositories of this upstream that link the blob. */
  repositories: Set<string>;
}

const LAYER_LINK = /^(.+)\/_layers\/(sha256|sha512)\/([a-f0-9]+)\/link$/;

export class CacheLimit {
  private readonly entries = new Map<Digest, Entry>();
  private total = 0;
  private loaded: Promise<void> | undefined;
  private ready = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly driver: StorageDriver,
    /** Local prefix of the upstream's repositories; '' for all of them. */
    private readonly prefix: string,
    readonly maxBytes: number,
    private readonly counters: ProxyCounters,
    private readonly log: ProxyLog,
    private readonly upstream: string,
  ) {}

  /** Bytes the index counts now. */
  get usedBytes(): number {
    return this.total;
  }

  /** A pull served `digest` from `repository`: it becomes the most recently pulled (once the index exists). */
  pulled(digest: Digest, size: number, repository: string): void {
    if (this.ready) this.touch(digest, size, repository);
  }

  private touch(digest: Digest, size: number, repository: string): void {
    const entry = this.entries.get(digest) ?? { size, repositories: new Set<string>() };
    if (!this.entries.has(digest)) this.total += size;
    this.entries.delete(digest);
    entry.repositories.add(repository);
    this.entries.set(digest, entry);
  }

  /** A blob entered the cache: count it, then evict until the cache fits (never the blob just added). */
  added(digest: Digest, size: number, repository: string): Promise<void> {
    const run = async () => {
      await this.load();
      this.touch(digest, size, repository);
      await this.evict(digest);
    };
    this.queue = this.queue.then(run, run);
    return this.queue;
  }

  private load(): Promise<void> {
    this.loaded ??= this.scan();
    return this.loaded;
  }

  private async scan(): Promise<void> {
    const root = this.prefix === '' ? REPOSITORIES_ROOT : `${REPOSITORIES_ROOT}/${this.prefix}`;
    const found: { digest: Digest; repository: string; time: number }[] = [];
    try {
      await this.driver.walk(root, (info) => {
        if (info.isDir) return;
        const match = LAYER_LINK.exec(info.path.slice(REPOSITORIES_ROOT.length + 1));
        const digest = match ? `${match[2]}:${match[3]}` : '';
        if (match && isDigest(digest)) found.push({ digest, repository: match[1]!, time: info.modTime.getTime() });
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    found.sort((a, b) => a.time - b.time);
    this.ready = true;
    for (const { digest, repository } of found) {
      try {
        const { size } = await this.driver.stat(blobDataPath(digest));
        this.touch(digest, size, repository);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async evict(keep: Digest): Promise<void> {
    for (const [digest, entry] of this.entries) {
      if (this.total <= this.maxBytes) return;
      if (digest === keep) continue;
      await this.remove(digest, entry);
    }
  }

  private async remove(digest: Digest, entry: Entry): Promise<void> {
    for (const repository of entry.repositories) {
      await deleteIfPresent(this.driver, linkDir(layerLinkPath(repository, digest)));
    }
    this.entries.delete(digest);
    this.total -= entry.size;
    let shared = false;
    for (const repository of await listRepositories(this.driver)) {
      if ((await exists(this.driver, layerLinkPath(repository, digest))) || (await exists(this.driver, manifestRevisionLinkPath(repository, digest)))) {
        shared = true;
        break;
      }
    }
    if (!shared) await deleteIfPresent(this.driver, linkDir(blobDataPath(digest)));
    this.counters.evictedBlobs += 1;
    this.counters.evictedBytes += entry.size;
    this.log.info({ upstream: this.upstream, digest, size: entry.size, dataDeleted: !shared }, 'proxy cache: evicted least recently pulled blob');
  }
}
