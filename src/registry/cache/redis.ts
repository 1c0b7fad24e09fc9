/**
 * `storage.cache.blobdescriptor: redis`: the cache shared by every replica, in Redis. Keys (under a prefix,
 * `berth:` by default, so one Redis database can serve other things too):
 *
 *   <prefix>blob:<digest>              size in bytes, decimal      (dropped when the blob is deleted)
 *   <prefix>link:<repository>@<digest> "1"                         (dropped when the blob is unlinked)
 *
 * both written with the TTL; a lookup reads both keys at once. See `types.ts` for the rules.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Digest } from '../../oci/digest.js';
import type { BlobDescriptor } from '../types.js';
import type { BlobDescriptorCache } from './types.js';

export class RedisBlobDescriptorCache implements BlobDescriptorCache {
  readonly #redis: Redis | Cluster;
  readonly #prefix: string;
  readonly #ttlSeconds: number;

  constructor(redis: Redis | Cluster, options: { ttlMs: number; prefix?: string }) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'berth:';
    this.#ttlSeconds = Math.max(1, Math.ceil(options.ttlMs / 1000));
  }

  async get(repository: string, digest: Digest): Promise<BlobDescriptor | undefined> {
    // Two GETs rather than one MGET: under Redis Cluster the keys may live on different nodes.
    const [size, linked] = await Promise.all([this.#redis.get(this.#blobKey(digest)), this.#redis.get(this.#linkKey(repository, digest))]);
    if (size === null || linked === null) return undefined;
    const bytes = Number(size);
    return Number.isSafeInteger(bytes) && bytes >= 0 ? { digest, size: bytes } : undefined;
  }

  async set(repository: string, descriptor: BlobDescriptor): Promise<void> {
    await Promise.all([
      this.#redis.set(this.#blobKey(descriptor.digest), String(descriptor.size), 'EX', this.#ttlSeconds),
      this.#redis.set(this.#linkKey(repository, descriptor.digest), '1', 'EX', this.#ttlSeconds),
    ]);
  }

  async unlink(repository: string, digest: Digest): Promise<void> {
    await this.#redis.del(this.#linkKey(repository, digest));
  }

  async deleteBlob(digest: Digest): Promise<void> {
    await this.#redis.del(this.#blobKey(digest));
  }

  #blobKey(digest: Digest): string {
    return `${this.#prefix}blob:${digest}`;
  }

  #linkKey(repository: string, digest: Digest): string {
    return `${this.#prefix}link:${repository}@${digest}`;
  }
}
