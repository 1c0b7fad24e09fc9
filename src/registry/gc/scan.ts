/**
 * Reading one repository for garbage collection: its manifest revisions (with what each references), its
 * tags and its `_layers` links. Entries that vanish while being read (a concurrent delete) are skipped, and
 * a revision whose content is missing is not a manifest of the repository, as in Distribution.
 */
import { isDigest, makeDigest, type Digest, type DigestAlgorithm } from '../../oci/digest.js';
import type { StorageDriver } from '../../storage/driver.js';
import { isNotFound } from '../../storage/errors.js';
import { baseName, blobDataPath, layersDir, manifestRevisionsDir, tagCurrentLinkPath, tagsDir } from '../../storage/paths.js';
import { listIfPresent, readLink } from '../links.js';
import { manifestReferences, type ManifestReferences } from './references.js';

export interface ScannedRepository {
  name: string;
  /** Manifests in `_manifests/revisions` whose content exists, in lexical order of digest. */
  manifests: Map<Digest, ManifestReferences>;
  /** Tag -> the manifest its `current` link names. */
  tags: Map<string, Digest>;
  /** Blobs linked into the repository by `_layers`. */
  layers: Set<Digest>;
}

/** Files named `link` under `dir`, as the digest their path names; [] when `dir` does not exist. */
async function linkDigestsUnder(driver: StorageDriver, dir: string): Promise<Digest[]> {
  const found: Digest[] = [];
  try {
    await driver.walk(dir, (info) => {
      if (info.isDir || baseName(info.path) !== 'link') return;
      const parts = info.path.split('/');
      const digest = makeDigest(parts[parts.length - 3] as DigestAlgorithm, parts[parts.length - 2]!);
      if (isDigest(digest)) found.push(digest);
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return found;
}

async function contentOf(driver: StorageDriver, digest: Digest): Promise<Buffer | undefined> {
  try {
    return await driver.getContent(blobDataPath(digest));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function scanRepository(driver: StorageDriver, name: string): Promise<ScannedRepository> {
  const manifests = new Map<Digest, ManifestReferences>();
  const revisionsDir = manifestRevisionsDir(name);
  for (const pathDigest of await linkDigestsUnder(driver, revisionsDir)) {
    // Distribution trusts the link's content over its path; they agree unless the tree was edited by hand.
    const digest = await readLink(driver, `${revisionsDir}/${pathDigest.replace(':', '/')}/link`);
    if (digest === undefined || manifests.has(digest)) continue;
    const bytes = await contentOf(driver, digest);
    if (bytes === undefined) continue;
    manifests.set(digest, manifestReferences(name, digest, bytes));
  }

  const tags = new Map<string, Digest>();
  for (const tagPath of await listIfPresent(driver, tagsDir(name))) {
    const tag = baseName(tagPath);
    const digest = await readLink(driver, tagCurrentLinkPath(name, tag));
    if (digest !== undefined && isDigest(digest)) tags.set(tag, digest);
  }

  return { name, manifests, tags, layers: new Set(await linkDigestsUnder(driver, layersDir(name))) };
}
