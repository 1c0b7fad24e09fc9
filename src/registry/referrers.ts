/**
 * The referrers API, from Berth's index `_manifests/referrers/<subject alg>/<subject hex>/<alg>/<hex>/link`
 * (see `storage/paths.ts`). An entry counts only while its manifest is still in the repository, so entries
 * left behind by a registry that does not maintain the index (Distribution deleting a manifest) are ignored.
 */
import { isDigest, makeDigest, type Digest, type DigestAlgorithm } from '../oci/digest.js';
import { parseManifest, referrerArtifactType, type Descriptor } from '../oci/manifest.js';
import type { StorageDriver } from '../storage/driver.js';
import { baseName, referrersDir } from '../storage/paths.js';
import { listIfPresent } from './links.js';
import { readManifestBytes } from './manifests.js';
import type { Referrers } from './types.js';

export class RepositoryReferrers implements Referrers {
  constructor(
    private readonly driver: StorageDriver,
    private readonly name: string,
  ) {}

  async list(subject: Digest, filter: { artifactType?: string } = {}): Promise<Descriptor[]> {
    const found = await Promise.all((await this.indexedDigests(subject)).map((digest) => this.describe(digest)));
    return found
      .filter((descriptor): descriptor is Descriptor => descriptor !== undefined)
      .filter((descriptor) => filter.artifactType === undefined || descriptor.artifactType === filter.artifactType)
      .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }

  private async indexedDigests(subject: Digest): Promise<Digest[]> {
    const digests: Digest[] = [];
    for (const algorithmDir of await listIfPresent(this.driver, referrersDir(this.name, subject))) {
      for (const hexDir of await listIfPresent(this.driver, algorithmDir)) {
        const candidate = makeDigest(baseName(algorithmDir) as DigestAlgorithm, baseName(hexDir));
        if (isDigest(candidate)) digests.push(candidate);
      }
    }
    return digests;
  }

  private async describe(digest: Digest): Promise<Descriptor | undefined> {
    const bytes = await readManifestBytes(this.driver, this.name, digest);
    if (!bytes) return undefined;
    const manifest = parseManifest(bytes);
    const artifactType = referrerArtifactType(manifest);
    return {
      mediaType: manifest.mediaType,
      digest,
      size: bytes.length,
      ...(artifactType !== undefined && { artifactType }),
      ...(manifest.annotations !== undefined && { annotations: manifest.annotations }),
    };
  }
}
