/**
 * The BlobStore decorator that puts a BlobDescriptorCache in front of a repository's blobs: `stat` answers
 * from the cache when it can, and whatever learns a blob's descriptor (stat, mount, a committed upload)
 * records it. A cache that fails is reported through `onError` and treated as a miss, so Redis going down
 * slows the registry rather than stopping it; only invalidation failures fail the request, as a stale link
 * would keep serving a deleted blob.
 */
import type { Digest } from '../../oci/digest.js';
import type { BlobContent, BlobDescriptor, BlobStore, ByteRange, Chunk, UploadSession } from '../types.js';
import type { BlobDescriptorCache } from './types.js';

export type CacheErrorHandler = (err: unknown) => void;

export class CachedBlobStore implements BlobStore {
  constructor(
    private readonly inner: BlobStore,
    private readonly repository: string,
    private readonly cache: BlobDescriptorCache,
    private readonly onError: CacheErrorHandler,
  ) {}

  async stat(digest: Digest): Promise<BlobDescriptor> {
    const cached = await this.cache.get(this.repository, digest).catch((err: unknown) => this.#failed(err));
    if (cached !== undefined) return cached;
    return this.#remember(await this.inner.stat(digest));
  }

  open(digest: Digest, range?: { start: number; end?: number }): Promise<BlobContent> {
    return this.inner.open(digest, range);
  }

  redirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.inner.redirectURL(digest, method);
  }

  async delete(digest: Digest): Promise<void> {
    await this.cache.unlink(this.repository, digest);
    await this.inner.delete(digest);
    await this.cache.unlink(this.repository, digest);
  }

  async mount(digest: Digest, from?: string): Promise<BlobDescriptor | undefined> {
    const descriptor = await this.inner.mount(digest, from);
    return descriptor === undefined ? undefined : this.#remember(descriptor);
  }

  async create(): Promise<UploadSession> {
    return new CachedUploadSession(await this.inner.create(), (descriptor) => this.#remember(descriptor));
  }

  async resume(id: string): Promise<UploadSession> {
    return new CachedUploadSession(await this.inner.resume(id), (descriptor) => this.#remember(descriptor));
  }

  async #remember(descriptor: BlobDescriptor): Promise<BlobDescriptor> {
    await this.cache.set(this.repository, descriptor).catch((err: unknown) => this.#failed(err));
    return descriptor;
  }

  #failed(err: unknown): undefined {
    this.onError(err);
    return undefined;
  }
}

class CachedUploadSession implements UploadSession {
  constructor(
    private readonly inner: UploadSession,
    private readonly remember: (descriptor: BlobDescriptor) => Promise<BlobDescriptor>,
  ) {}

  get id(): string {
    return this.inner.id;
  }

  get size(): number {
    return this.inner.size;
  }

  append(source: AsyncIterable<Uint8Array>, range?: ByteRange): Promise<void> {
    return this.inner.append(source, range);
  }

  async commit(expected: Digest, last?: Chunk): Promise<BlobDescriptor> {
    return this.remember(await this.inner.commit(expected, last));
  }

  cancel(): Promise<void> {
    return this.inner.cancel();
  }
}
