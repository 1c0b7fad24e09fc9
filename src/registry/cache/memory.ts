/**
 * `storage.cache.blobdescriptor: inmemory`: the cache in this process only, at most `size` entries of each
 * kind (least recently used go first). Replicas each have their own: an unlink on one leaves the others'
 * entries until the TTL ends, so scaled-out deployments use the Redis cache.
 */
import type { Digest } from '../../oci/digest.js';
import type { BlobDescriptor } from '../types.js';
import type { BlobDescriptorCache } from './types.js';

export const DEFAULT_MEMORY_CACHE_SIZE = 10_000;

export class InMemoryBlobDescriptorCache implements BlobDescriptorCache {
  readonly #sizes: Lru<number>;
  readonly #links: Lru<true>;

  constructor(options: { size?: number; ttlMs: number; now?: () => number }) {
    const size = options.size ?? DEFAULT_MEMORY_CACHE_SIZE;
    const now = options.now ?? Date.now;
    this.#sizes = new Lru(size, options.ttlMs, now);
    this.#links = new Lru(size, options.ttlMs, now);
  }

  async get(repository: string, digest: Digest): Promise<BlobDescriptor | undefined> {
    const size = this.#sizes.get(digest);
    if (size === undefined || this.#links.get(linkKey(repository, digest)) === undefined) return undefined;
    return { digest, size };
  }

  async set(repository: string, descriptor: BlobDescriptor): Promise<void> {
    this.#sizes.set(descriptor.digest, descriptor.size);
    this.#links.set(linkKey(repository, descriptor.digest), true);
  }

  async unlink(repository: string, digest: Digest): Promise<void> {
    this.#links.delete(linkKey(repository, digest));
  }

  async deleteBlob(digest: Digest): Promise<void> {
    this.#sizes.delete(digest);
  }
}

function linkKey(repository: string, digest: Digest): string {
  return `${repository}@${digest}`;
}

/** A Map in least-recently-used order, with expiry. */
class Lru<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= this.now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.now() + this.ttlMs });
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
