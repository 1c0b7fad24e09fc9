/**
 * Manifests and tags of a cached repository (Distribution's `proxymanifeststore.go` and `proxytagservice.go`
 * are the model).
 *
 * - By digest: served from the cache; a miss is fetched once (concurrent requests share the fetch), verified
 *   against the digest and stored. Digests never expire.
 * - By tag: a cached tag younger than the upstream's `ttl` is served as is. An older one (or a missing one) is
 *   re-checked with a HEAD: unchanged, it is served and its age reset; moved, the new manifest is fetched by
 *   digest and the tag moved. The tag's age is the modification time of its `current` link, so it survives
 *   restarts and is shared by replicas.
 * - When the upstream cannot be asked (timeout, unreachable, 429, 5xx), a cached tag is served anyway with a
 *   `Warning` and a log line; without one the client gets the upstream's error.
 * Pushes and deletes are refused, as in Distribution's proxy mode.
 */
import { digestAlgorithm, digestOf, isDigest, type Digest } from '../oci/digest.js';
import { ManifestUnknownError, UnsupportedError } from '../oci/errors.js';
import { writeLink } from '../registry/links.js';
import type {
  ManifestContent,
  ManifestReference,
  ManifestStore,
  Page,
  PageRequest,
  PutManifestResult,
  StoredManifest,
  TagStore,
} from '../registry/types.js';
import { isNotFound } from '../storage/errors.js';
import { tagCurrentLinkPath } from '../storage/paths.js';
import { PUSH_REFUSED } from './blobs.js';
import { shared, type ProxyContext } from './context.js';
import { UpstreamError } from './errors.js';

export class ProxyManifestStore implements ManifestStore {
  constructor(private readonly ctx: ProxyContext) {}

  async stat(reference: ManifestReference): Promise<StoredManifest> {
    const { bytes: _bytes, ...stored } = await this.get(reference);
    return stored;
  }

  async get(reference: ManifestReference): Promise<ManifestContent> {
    return reference.kind === 'digest' ? this.byDigest(reference.digest) : this.byTag(reference.tag);
  }

  async put(): Promise<PutManifestResult> {
    throw new UnsupportedError(PUSH_REFUSED);
  }

  async delete(): Promise<void> {
    throw new UnsupportedError(PUSH_REFUSED);
  }

  private async byDigest(digest: Digest): Promise<ManifestContent> {
    const { upstream } = this.ctx;
    const cached = await this.local({ kind: 'digest', digest });
    if (cached) {
      upstream.counters.hits += 1;
      return cached;
    }
    upstream.counters.misses += 1;
    return this.fetch(digest, undefined);
  }

  private async byTag(tag: string): Promise<ManifestContent> {
    const { upstream, log, remoteName } = this.ctx;
    const cached = await this.local({ kind: 'tag', tag });
    if (cached && upstream.ttlMs > 0 && Date.now() - (await this.tagCheckedAt(tag)) < upstream.ttlMs) {
      upstream.counters.hits += 1;
      return cached;
    }
    try {
      return await shared(upstream, `tag ${remoteName}:${tag}`, () => this.refresh(tag, cached?.digest));
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      if (err.failure !== 'notfound') upstream.counters.upstreamErrors += 1;
      if (!err.transient || !cached) throw err;
      upstream.counters.staleServed += 1;
      log.warn({ upstream: upstream.client.name, repository: remoteName, tag, digest: cached.digest, reason: err.message }, 'proxy: upstream unavailable, serving cached tag');
      return { ...cached, warning: `110 - "Response is Stale: ${err.message.replace(/["\\]/g, "'")}"` };
    }
  }

  /** Asks the upstream where `tag` points now, and brings the cache in line. */
  private async refresh(tag: string, cachedDigest: Digest | undefined): Promise<ManifestContent> {
    const { upstream, remoteName } = this.ctx;
    const head = await upstream.client.manifest(remoteName, tag, 'HEAD');
    const digest = head.digest !== undefined && isDigest(head.digest) ? head.digest : undefined;
    if (digest !== undefined && digest === cachedDigest) {
      upstream.counters.hits += 1;
      // Restarts the tag's ttl; with ttl 0 every pull asks anyway, so the write would buy nothing.
      if (upstream.ttlMs > 0) await writeLink(this.ctx.driver, tagCurrentLinkPath(this.ctx.localName, tag), digest);
      return (await this.local({ kind: 'digest', digest }))!;
    }
    if (digest !== undefined) {
      const present = await this.local({ kind: 'digest', digest });
      if (present) {
        upstream.counters.hits += 1;
        await this.ctx.local.manifests.put(present.bytes, present.mediaType, { kind: 'tag', tag });
        return present;
      }
    }
    upstream.counters.misses += 1;
    return this.fetch(digest, tag);
  }

  /** GETs a manifest (by digest when known, else by tag), verifies it and stores it (tagging it when asked). */
  private fetch(digest: Digest | undefined, tag: string | undefined): Promise<ManifestContent> {
    const { upstream, remoteName, local } = this.ctx;
    const reference = digest ?? tag!;
    return shared(upstream, `manifest ${remoteName}@${reference}`, async () => {
      const got = await upstream.client.manifest(remoteName, reference, 'GET');
      const bytes = got.bytes!;
      upstream.counters.upstreamBytes += bytes.length;
      const expected = digest ?? (got.digest !== undefined && isDigest(got.digest) ? got.digest : undefined);
      const actual = digestOf(bytes, expected ? digestAlgorithm(expected) : 'sha256');
      if (expected !== undefined && actual !== expected) {
        throw new UpstreamError(upstream.client.name, 'unavailable', `sent a manifest for ${remoteName}@${reference} whose digest is ${actual}, not ${expected}`);
      }
      await local.manifests.put(bytes, got.mediaType, { kind: 'digest', digest: actual });
      if (tag !== undefined) await local.manifests.put(bytes, got.mediaType, { kind: 'tag', tag });
      return (await this.local({ kind: 'digest', digest: actual }))!;
    });
  }

  private async local(reference: ManifestReference): Promise<ManifestContent | undefined> {
    try {
      return await this.ctx.local.manifests.get(reference);
    } catch (err) {
      if (err instanceof ManifestUnknownError) return undefined;
      throw err;
    }
  }

  /** When the cached tag was last confirmed (epoch ms): its `current` link's modification time. */
  private async tagCheckedAt(tag: string): Promise<number> {
    try {
      return (await this.ctx.driver.stat(tagCurrentLinkPath(this.ctx.localName, tag))).modTime.getTime();
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }
}

/** Tags of a cached repository: the upstream's list when it answers, the cached tags when it cannot. */
export class ProxyTagStore implements TagStore {
  constructor(
    private readonly ctx: ProxyContext,
    private readonly manifests: ProxyManifestStore,
  ) {}

  async resolve(tag: string): Promise<Digest> {
    return (await this.manifests.get({ kind: 'tag', tag })).digest;
  }

  async list(page: PageRequest): Promise<Page<string>> {
    const { upstream, remoteName, log } = this.ctx;
    try {
      return await upstream.client.tags(remoteName, page);
    } catch (err) {
      if (!(err instanceof UpstreamError) || !err.transient) throw err;
      upstream.counters.upstreamErrors += 1;
      log.warn({ upstream: upstream.client.name, repository: remoteName, reason: err.message }, 'proxy: upstream unavailable, listing cached tags');
      return this.ctx.local.tags.list(page);
    }
  }
}
