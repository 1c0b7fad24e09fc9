/**
 * A repository's view of the shared blob store: a blob is in a repository when `_layers/<alg>/<hex>/link`
 * names it and its data exists under `blobs/`. Content is stored once for the whole registry.
 */
import type { Digest } from '../oci/digest.js';
import { BlobUnknownError, RangeInvalidError } from '../oci/errors.js';
import { validateRepositoryName } from '../oci/reference.js';
import { localFileOf, type StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import { blobDataPath, layerLinkPath } from '../storage/paths.js';
import { claimBlob } from './gc/lease.js';
import { deleteIfPresent, linkDir, readLink, writeLink } from './links.js';
import { assertDeletable, assertWritable } from './policy.js';
import type { BlobContent, BlobDescriptor, BlobStore, UploadSession } from './types.js';
import { createUpload, resumeUpload, type UploadContext } from './uploads.js';

/** Size of a blob in the shared store, or BLOB_UNKNOWN. */
export async function statStoredBlob(driver: StorageDriver, digest: Digest): Promise<BlobDescriptor> {
  try {
    const info = await driver.stat(blobDataPath(digest));
    return { digest, size: info.size };
  } catch (err) {
    if (isNotFound(err)) throw new BlobUnknownError(digest);
    throw err;
  }
}

export async function isLinkedBlob(driver: StorageDriver, name: string, digest: Digest): Promise<boolean> {
  return (await readLink(driver, layerLinkPath(name, digest))) === digest;
}

function withFile(content: BlobContent): BlobContent {
  const file = localFileOf(content.stream);
  return file ? { ...content, file } : content;
}

export class RepositoryBlobStore implements BlobStore {
  constructor(private readonly ctx: UploadContext) {}

  async stat(digest: Digest): Promise<BlobDescriptor> {
    if (!(await isLinkedBlob(this.ctx.driver, this.ctx.name, digest))) throw new BlobUnknownError(digest);
    return statStoredBlob(this.ctx.driver, digest);
  }

  async open(digest: Digest, range?: { start: number; end?: number }): Promise<BlobContent> {
    const descriptor = await this.stat(digest);
    if (!range) {
      const stream = await this.ctx.driver.reader(blobDataPath(digest), 0);
      return withFile({ descriptor, stream });
    }
    const last = descriptor.size - 1;
    if (range.start > last || (range.end !== undefined && range.end < range.start)) {
      throw new RangeInvalidError(`range ${range.start}-${range.end ?? ''} is outside a blob of ${descriptor.size} bytes`, descriptor.size);
    }
    const end = Math.min(range.end ?? last, last);
    const stream = await this.ctx.driver.reader(blobDataPath(digest), range.start, end - range.start + 1);
    return withFile({ descriptor, stream, range: { start: range.start, end } });
  }

  async redirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.ctx.driver.redirectURL?.(blobDataPath(digest), method);
  }

  async delete(digest: Digest): Promise<void> {
    assertDeletable(this.ctx.policy);
    if (!(await isLinkedBlob(this.ctx.driver, this.ctx.name, digest))) throw new BlobUnknownError(digest);
    await deleteIfPresent(this.ctx.driver, linkDir(layerLinkPath(this.ctx.name, digest)));
  }

  async mount(digest: Digest, from?: string): Promise<BlobDescriptor | undefined> {
    assertWritable(this.ctx.policy);
    if (from !== undefined) {
      try {
        validateRepositoryName(from);
      } catch {
        return undefined;
      }
      if (!(await isLinkedBlob(this.ctx.driver, from, digest))) return undefined;
    }
    let descriptor: BlobDescriptor;
    try {
      descriptor = await statStoredBlob(this.ctx.driver, digest);
    } catch (err) {
      if (err instanceof BlobUnknownError) return undefined;
      throw err;
    }
    // A blob that garbage collection is deleting cannot be mounted: the client then uploads it.
    if (!(await claimBlob(this.ctx.driver, digest))) return undefined;
    await writeLink(this.ctx.driver, layerLinkPath(this.ctx.name, digest), digest);
    return descriptor;
  }

  create(): Promise<UploadSession> {
    return createUpload(this.ctx);
  }

  resume(id: string): Promise<UploadSession> {
    return resumeUpload(this.ctx, id);
  }
}
