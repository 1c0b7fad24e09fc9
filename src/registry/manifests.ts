/**
 * Manifests: stored as blobs (the exact bytes pushed), made visible in a repository by
 * `_manifests/revisions/<alg>/<hex>/link`, named by tags and, when they have a `subject`, indexed as referrers.
 *
 * Write order on PUT keeps every name pointing at complete content: the content, then the revision link and
 * the referrers entry side by side, then, once they are durable, the tag's `current` link (an atomic replace)
 * beside its (unsynced) history entry. Content comes strictly first although Berth's readers would take a
 * revision link without content as absent: Distribution's `garbage-collect`, run on the same root, stops
 * at such a link.
 * Everything referenced, and the manifest's own content, is claimed first (`gc/lease.ts`), so that online
 * garbage collection keeps it or the PUT fails with MANIFEST_BLOB_UNKNOWN — never a tag naming missing content.
 */
import { digestAlgorithm, digestOf, type Digest } from '../oci/digest.js';
import { DigestInvalidError, ManifestBlobUnknownError, ManifestInvalidError, ManifestUnknownError } from '../oci/errors.js';
import { DOCKER_FOREIGN_LAYER } from '../oci/mediatypes.js';
import { mediaTypeOfStored, parseManifest, type Descriptor, type ParsedManifest } from '../oci/manifest.js';
import { validateTag } from '../oci/reference.js';
import type { StorageDriver } from '../storage/driver.js';
import {
  blobDataPath,
  manifestRevisionLinkPath,
  referrerLinkPath,
  tagCurrentLinkPath,
  tagIndexLinkPath,
} from '../storage/paths.js';
import { isLinkedBlob } from './blobs.js';
import { claimBlob } from './gc/lease.js';
import { deleteIfPresent, ifPresent, linkDir, readLink, writeLink } from './links.js';
import { assertDeletable, assertWritable, type WritePolicy } from './policy.js';
import { RepositoryTagStore } from './tags.js';
import type { ManifestContent, ManifestReference, ManifestStore, PutManifestResult, StoredManifest } from './types.js';

/** `validation.manifests.urls`: which external URLs a layer descriptor may point at. */
export interface ManifestURLPolicy {
  allow: RegExp[];
  deny: RegExp[];
}

export interface ManifestContext {
  name: string;
  driver: StorageDriver;
  policy: WritePolicy;
  urls: ManifestURLPolicy;
  /** `validation.disabled`: skip checking that referenced content exists. */
  validationDisabled: boolean;
  /** Called once a manifest is stored (the repository now exists). */
  onStored?: () => void;
}

export async function isManifestInRepository(driver: StorageDriver, name: string, digest: Digest): Promise<boolean> {
  return (await readLink(driver, manifestRevisionLinkPath(name, digest))) === digest;
}

/** The stored bytes of a manifest that is in the repository, or undefined. */
export async function readManifestBytes(driver: StorageDriver, name: string, digest: Digest): Promise<Buffer | undefined> {
  if (!(await isManifestInRepository(driver, name, digest))) return undefined;
  return readStoredContent(driver, digest);
}

function readStoredContent(driver: StorageDriver, digest: Digest): Promise<Buffer | undefined> {
  return ifPresent(() => driver.getContent(blobDataPath(digest)));
}

export class RepositoryManifestStore implements ManifestStore {
  constructor(
    private readonly ctx: ManifestContext,
    private readonly tags: RepositoryTagStore,
  ) {}

  async stat(reference: ManifestReference): Promise<StoredManifest> {
    const { bytes: _bytes, ...stored } = await this.get(reference);
    return stored;
  }

  async get(reference: ManifestReference): Promise<ManifestContent> {
    const { driver, name } = this.ctx;
    let digest: Digest;
    let bytes: Buffer | undefined;
    if (reference.kind === 'tag') {
      // A tag only ever names a manifest of its repository: PUT writes the revision link before the tag, and
      // DELETE and garbage collection remove tags before revisions. So a pull by tag skips that check.
      digest = await this.tags.resolve(reference.tag);
      bytes = await readStoredContent(driver, digest);
    } else {
      digest = reference.digest;
      bytes = await readManifestBytes(driver, name, digest);
    }
    if (!bytes) throw new ManifestUnknownError(reference.kind === 'tag' ? reference.tag : digest);
    return { digest, mediaType: storedMediaType(bytes), size: bytes.length, bytes };
  }

  async put(bytes: Buffer, contentType: string | undefined, reference: ManifestReference): Promise<PutManifestResult> {
    assertWritable(this.ctx.policy);
    if (reference.kind === 'tag') validateTag(reference.tag);
    const manifest = parseManifest(bytes, contentType);
    const digest = digestOf(bytes, reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256');
    if (reference.kind === 'digest' && digest !== reference.digest) {
      throw new DigestInvalidError(`the manifest's digest is ${digest}, not ${reference.digest}`, reference.digest);
    }
    await this.verifyReferences(manifest, !this.ctx.validationDisabled);

    const { driver, name } = this.ctx;
    // Content, then links, then the tag: each appears only once what it names is durable, so a crash never
    // leaves a link without its content (Distribution's garbage-collect stops at one) nor a tag without its
    // revision. Each is written and synced at once, though, and only published after its predecessor.
    const stored = claimBlob(driver, digest).then(async (present) => {
      if (!present) await driver.putContent(blobDataPath(digest), bytes);
    });
    const subject = manifest.subject?.digest;
    const linked = Promise.all([
      writeLink(driver, manifestRevisionLinkPath(name, digest), digest, { publishAfter: stored }),
      subject && writeLink(driver, referrerLinkPath(name, subject, digest), digest, { publishAfter: stored }),
    ]);
    // The tag's history is only informational, so losing its newest entry in a crash costs nothing.
    const tagged =
      reference.kind === 'tag' &&
      Promise.all([
        writeLink(driver, tagIndexLinkPath(name, reference.tag, digest), digest, { durable: false, publishAfter: linked }),
        writeLink(driver, tagCurrentLinkPath(name, reference.tag), digest, { publishAfter: linked }),
      ]);
    await Promise.all([stored, linked, tagged]);
    this.ctx.onStored?.();
    return subject ? { digest, subject } : { digest };
  }

  async delete(reference: ManifestReference): Promise<void> {
    assertDeletable(this.ctx.policy);
    if (reference.kind === 'tag') {
      await this.tags.untag(reference.tag);
      return;
    }
    const { driver, name } = this.ctx;
    const bytes = await readManifestBytes(driver, name, reference.digest);
    if (!bytes) throw new ManifestUnknownError(reference.digest);
    await this.tags.untagAllPointingAt(reference.digest);
    await deleteIfPresent(driver, linkDir(manifestRevisionLinkPath(name, reference.digest)));
    const subject = subjectOf(bytes);
    if (subject) await deleteIfPresent(driver, linkDir(referrerLinkPath(name, subject, reference.digest)));
  }

  /**
   * Checks that everything the manifest needs is in this repository (a `subject` need not exist yet), and
   * claims it (`gc/lease.ts`) so that garbage collection keeps it while the manifest is written. With
   * `validation.disabled` (`required` false) nothing is refused, but what is present is still claimed.
   */
  private async verifyReferences(manifest: ParsedManifest, required: boolean): Promise<void> {
    const { driver, name } = this.ctx;
    const needed =
      manifest.kind === 'index'
        ? manifest.manifests.map((child) => ({ digest: child.digest, present: () => isManifestInRepository(driver, name, child.digest) }))
        : (manifest.config ? [manifest.config, ...manifest.layers] : manifest.layers)
            .filter((blob) => !this.isExternal(blob, required))
            .map((blob) => ({ digest: blob.digest, present: () => isLinkedBlob(driver, name, blob.digest) }));
    const available = await Promise.all(
      // Checked before the claim (no lease for content that is not there) and after it (a collector may
      // have removed it meanwhile).
      needed.map(async ({ digest, present }) => (await present()) && (await claimBlob(driver, digest)) && (await present())),
    );
    const missing = needed.find((_, i) => !available[i]);
    if (missing && required) throw new ManifestBlobUnknownError(missing.digest);
  }

  /** A layer served from elsewhere (its URLs allowed): not stored here, so not checked. */
  private isExternal(blob: Descriptor, required: boolean): boolean {
    const urls = blob.urls ?? [];
    if (urls.length > 0) {
      if (required) for (const url of urls) this.checkURL(url, blob.digest);
      return true;
    }
    if (blob.mediaType === DOCKER_FOREIGN_LAYER && required) {
      throw new ManifestInvalidError(`foreign layer ${blob.digest} has no urls`);
    }
    return false;
  }

  private checkURL(url: string, digest: Digest): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ManifestInvalidError(`layer ${digest} has an invalid url: ${url}`);
    }
    const { allow, deny } = this.ctx.urls;
    const permitted =
      (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
      parsed.hash === '' &&
      (allow.length === 0 || allow.some((re) => re.test(url))) &&
      !deny.some((re) => re.test(url));
    if (!permitted) {
      throw new ManifestInvalidError(`layer ${digest} has a url that validation.manifests.urls does not allow: ${url}`);
    }
  }
}

// The storage cache hands out the same Buffer for the same cached content, so parsing it once suffices.
const mediaTypes = new WeakMap<Buffer, string>();

function storedMediaType(bytes: Buffer): string {
  let mediaType = mediaTypes.get(bytes);
  if (mediaType === undefined) {
    mediaType = mediaTypeOfStored(bytes);
    mediaTypes.set(bytes, mediaType);
  }
  return mediaType;
}

function subjectOf(bytes: Buffer): Digest | undefined {
  try {
    return parseManifest(bytes).subject?.digest;
  } catch {
    return undefined;
  }
}
