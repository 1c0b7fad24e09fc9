/** The content model, assembled: `createRegistry` gives the `Registry` the HTTP layer serves. */
import { validateRepositoryName } from '../oci/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import { RepositoryBlobStore } from './blobs.js';
import { listRepositories } from './catalog.js';
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
}

export function createRegistry(options: RegistryOptions): Registry {
  const { driver } = options;
  const policy = { readOnly: options.readOnly, deleteEnabled: options.deleteEnabled };
  const urls = options.manifestURLs ?? { allow: [], deny: [] };
  const tracker = new UploadTracker();

  return {
    repository(name: string): Repository {
      validateRepositoryName(name);
      const tags = new RepositoryTagStore(driver, name);
      return {
        name,
        blobs: new RepositoryBlobStore({ name, driver, policy, tracker }),
        manifests: new RepositoryManifestStore(
          { name, driver, policy, urls, validationDisabled: options.validationDisabled ?? false },
          tags,
        ),
        tags,
        referrers: new RepositoryReferrers(driver, name),
      };
    },
    async catalog(page: PageRequest) {
      return paginate(await listRepositories(driver), page);
    },
  };
}
