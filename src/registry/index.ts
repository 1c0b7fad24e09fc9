/** The content model, assembled: `createRegistry` gives the `Registry` the HTTP layer serves. */
import { validateRepositoryName } from '../oci/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import { RepositoryBlobStore } from './blobs.js';
import { CatalogCache } from './catalog.js';
import { CachedBlobStore, type CacheErrorHandler } from './cache/blobs.js';
import type { BlobDescriptorCache } from './cache/types.js';
import { RepositoryManifestStore, type ManifestURLPolicy } from './manifests.js';
import { RepositoryReferrers } from './referrers.js';
import { paginate, RepositoryTagStore } from './tags.js';
import type { PageRequest, Registry, Repository } from './types.js';
import { UploadTracker } from './uploads.js';

export interface RegistryOptions {
  driver: StorageDriver;
  deleteEnabled: boolean;
  readOnly: boolean;
  manifestURLs?: ManifestURLPolicy;
  validationDisabled?: boolean;
  /** How stale the in-memory catalog may get before it is re-read in the background; 5 s by default. */
  catalogMaxAgeMs?: number;
  /** Answers blob stats from a cache (`storage.cache.blobdescriptor`). */
  blobDescriptorCache?: BlobDescriptorCache;
  /** Told about cache failures, which the registry otherwise treats as misses. */
  onCacheError?: CacheErrorHandler;
}

export function createRegistry(options: RegistryOptions): Registry {
  const { driver } = options;
  const policy = { readOnly: options.readOnly, deleteEnabled: options.deleteEnabled };
  const urls = options.manifestURLs ?? { allow: [], deny: [] };
  const tracker = new UploadTracker();
  const catalog = new CatalogCache(driver, options.catalogMaxAgeMs ?? 5000);
  const cache = options.blobDescriptorCache;
  const onCacheError = options.onCacheError ?? (() => undefined);

  return {
    repository(name: string): Repository {
      validateRepositoryName(name);
      const tags = new RepositoryTagStore(driver, name);
      const blobs = new RepositoryBlobStore({ name, driver, policy, tracker });
      return {
        name,
        blobs: cache === undefined ? blobs : new CachedBlobStore(blobs, name, cache, onCacheError),
        manifests: new RepositoryManifestStore(
          {
            name,
            driver,
            policy,
            urls,
            validationDisabled: options.validationDisabled ?? false,
            onStored: () => catalog.add(name),
          },
          tags,
        ),
        tags,
        referrers: new RepositoryReferrers(driver, name),
      };
    },
    async catalog(page: PageRequest) {
      return paginate(await catalog.all(), page);
    },
  };
}
