/** Tags: `_manifests/tags/<tag>/current/link` names the manifest a tag points at now. */
import type { Digest } from '../oci/digest.js';
import { ManifestUnknownError, NameUnknownError } from '../oci/errors.js';
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import { baseName, manifestsDir, tagCurrentLinkPath, tagDir, tagsDir } from '../storage/paths.js';
import { deleteIfPresent, exists, readLink } from './links.js';
import type { Page, PageRequest, TagStore } from './types.js';

/**
 * At most `n` names lexically after `last`, from a sorted list. `n=0` asks for nothing and gets no "next"
 * either, so a client that loops on the Link header cannot loop forever.
 */
export function paginate(sorted: string[], page: PageRequest): Page<string> {
  if (page.n === 0) return { items: [], more: false };
  const after = page.last === undefined ? sorted : sorted.filter((item) => item > page.last!);
  if (page.n === undefined || after.length <= page.n) return { items: after, more: false };
  return { items: after.slice(0, page.n), more: true };
}

// A cached directory listing comes back as the same array, so its tag names are worked out once.
const namesOfListing = new WeakMap<string[], string[]>();

function tagNames(listing: string[]): string[] {
  let names = namesOfListing.get(listing);
  if (names === undefined) {
    names = Object.freeze(listing.map(baseName).sort()) as string[];
    namesOfListing.set(listing, names);
  }
  return names;
}

export class RepositoryTagStore implements TagStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly name: string,
  ) {}

  async resolve(tag: string): Promise<Digest> {
    const digest = await readLink(this.driver, tagCurrentLinkPath(this.name, tag));
    if (!digest) throw new ManifestUnknownError(tag);
    return digest;
  }

  async list(page: PageRequest): Promise<Page<string>> {
    return paginate(await this.all(), page);
  }

  async untag(tag: string): Promise<void> {
    if (!(await readLink(this.driver, tagCurrentLinkPath(this.name, tag)))) throw new ManifestUnknownError(tag);
    await deleteIfPresent(this.driver, tagDir(this.name, tag));
  }

  /** Removes every tag whose current link names `digest` (what deleting a manifest by digest implies). */
  async untagAllPointingAt(digest: Digest): Promise<void> {
    for (const tag of await this.all()) {
      if ((await readLink(this.driver, tagCurrentLinkPath(this.name, tag))) === digest) {
        await deleteIfPresent(this.driver, tagDir(this.name, tag));
      }
    }
  }

  private async all(): Promise<string[]> {
    try {
      return tagNames(await this.driver.list(tagsDir(this.name)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (await exists(this.driver, manifestsDir(this.name))) return [];
      throw new NameUnknownError(this.name);
    }
  }
}
