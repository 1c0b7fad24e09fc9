/**
 * The blob descriptor cache (`storage.cache.blobdescriptor`): remembers what a repository's blob `stat`
 * found, so that HEAD and GET of a blob skip the two storage reads behind it (the repository's link and the
 * blob's size; on S3 two HTTP requests). Clients HEAD every layer before pushing it, so this is the hot path.
 *
 * Rules that keep replicas sharing one Redis coherent:
 * - Only positive facts are cached ("repository R links blob D", "blob D has size S"), each with a TTL.
 *   Absence is never cached: a push on any replica may end it at any moment.
 * - A hit needs both facts; unlinking drops the first (before and after the storage delete, so a concurrent
 *   stat cannot re-cache a link being removed), deleting a blob from the store (garbage collection) drops the
 *   second, which invalidates the blob in every repository at once.
 * - The TTL bounds what an invalidation that could not happen (Redis down, another process's GC) leaves behind.
 */
import type { Digest } from '../../oci/digest.js';
import type { BlobDescriptor } from '../types.js';

export interface BlobDescriptorCache {
  /** The descriptor of a blob `repository` links, when both facts are cached. */
  get(repository: string, digest: Digest): Promise<BlobDescriptor | undefined>;
  /** Records that `repository` links the blob and its size. */
  set(repository: string, descriptor: BlobDescriptor): Promise<void>;
  /** Forgets that `repository` links the blob (blob unlinked from the repository). */
  unlink(repository: string, digest: Digest): Promise<void>;
  /** Forgets the blob everywhere (its data was deleted from the store). */
  deleteBlob(digest: Digest): Promise<void>;
}
