/**
 * The blob store of a cached repository (Distribution's `proxyblobstore.go` is the model): a blob linked in
 * the cache is served from it; a missing one is confirmed upstream (HEAD), then either linked from content the
 * registry already holds or fetched through a coalesced fill (`fill.ts`) that streams it to every waiting
 * client while storing and verifying it. Digests never expire. Pushes and deletes are refused, as in
 * Distribution's proxy mode.
 */
import type { Digest } from '../oci/digest.js';
import { BlobUnknownError, RangeInvalidError, UnsupportedError } from '../oci/errors.js';
import type { BlobContent, BlobDescriptor, BlobStore, UploadSession } from '../registry/types.js';
import { remember, shared, type ProxyContext } from './context.js';
import { UpstreamError } from './errors.js';
import { BlobFill } from './fill.js';

export const PUSH_REFUSED = 'this repository is a pull-through cache: pushes and deletes are not supported';

export class ProxyBlobStore implements BlobStore {
  constructor(private readonly ctx: ProxyContext) {}

  async stat(digest: Digest): Promise<BlobDescriptor> {
    const local = await this.localStat(digest);
    return local ?? { digest, size: await this.remoteSize(digest) };
  }

  async open(digest: Digest, range?: { start: number; end?: number }): Promise<BlobContent> {
    const { upstream, local, localName } = this.ctx;
    const cached = await this.localStat(digest);
    if (cached) {
      upstream.counters.hits += 1;
      upstream.limit?.pulled(digest, cached.size, localName);
      return local.blobs.open(digest, range);
    }
    const size = await this.remoteSize(digest);
    // Content another repository already holds needs no transfer, now that the upstream vouched for it here.
    if (await local.blobs.mount(digest)) {
      upstream.counters.hits += 1;
      return local.blobs.open(digest, range);
    }
    upstream.counters.misses += 1;
    const { fill: pending, started } = upstream.fills.join(`${upstream.client.name}@${digest}`, () => this.startFill(digest, size));
    if (!started) upstream.counters.coalesced += 1;
    const fill = await pending;
    if (range && (range.start >= fill.size || (range.end !== undefined && range.end < range.start))) {
      throw new RangeInvalidError(`range ${range.start}-${range.end ?? ''} is outside a blob of ${fill.size} bytes`, fill.size);
    }
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? fill.size - 1, fill.size - 1);
    // A fill started for another repository of this upstream stores the blob there; link it here too.
    if (!started) void fill.done.then(() => local.blobs.mount(digest)).catch(() => undefined);
    const stream = fill.reader(start, end);
    if (!stream) {
      await local.blobs.mount(digest);
      return local.blobs.open(digest, range);
    }
    const descriptor = { digest, size: fill.size };
    return range ? { descriptor, stream, range: { start, end } } : { descriptor, stream };
  }

  /** Only content in the cache is redirected to; a miss is always streamed through the cache. */
  async redirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return (await this.localStat(digest)) ? this.ctx.local.blobs.redirectURL(digest, method) : undefined;
  }

  async delete(): Promise<void> {
    throw new UnsupportedError(PUSH_REFUSED);
  }

  async mount(): Promise<BlobDescriptor | undefined> {
    throw new UnsupportedError(PUSH_REFUSED);
  }

  async create(): Promise<UploadSession> {
    throw new UnsupportedError(PUSH_REFUSED);
  }

  async resume(): Promise<UploadSession> {
    throw new UnsupportedError(PUSH_REFUSED);
  }

  private async localStat(digest: Digest): Promise<BlobDescriptor | undefined> {
    try {
      return await this.ctx.local.blobs.stat(digest);
    } catch (err) {
      if (err instanceof BlobUnknownError) return undefined;
      throw err;
    }
  }

  /** The blob's size upstream: from a fill in progress, a recent confirmation, or one shared HEAD. */
  private async remoteSize(digest: Digest): Promise<number> {
    const { upstream, remoteName } = this.ctx;
    const key = `${remoteName}@${digest}`;
    const known = upstream.known.get(key);
    if (known !== undefined) return known;
    const size = await shared(upstream, `blob-head ${key}`, async () => {
      const reported = await this.upstreamCall(() => upstream.client.blobSize(remoteName, digest));
      if (reported === undefined) throw new UpstreamError(upstream.client.name, 'unavailable', `answered HEAD for blob ${digest} without a size`);
      return reported;
    });
    remember(upstream, key, size);
    return size;
  }

  private startFill(digest: Digest, size: number): Promise<BlobFill> {
    const { upstream, local, localName, remoteName, log } = this.ctx;
    return this.upstreamCall(async () => {
      const fill = await BlobFill.start(
        {
          upstream: upstream.client.name,
          digest,
          fetch: () => upstream.client.blob(remoteName, digest),
          store: () => local.blobs.create(),
          onBytes: (count) => {
            upstream.counters.upstreamBytes += count;
          },
          spoolDir: upstream.spoolDir,
        },
        size,
      );
      fill.done.then(
        (stored) => upstream.limit?.added(digest, stored.size, localName),
        (err: unknown) => {
          upstream.counters.upstreamErrors += 1;
          log.warn({ upstream: upstream.client.name, repository: remoteName, digest, reason: (err as Error).message }, 'proxy: blob fill failed');
        },
      ).catch((err: unknown) => log.error({ err, upstream: upstream.client.name }, 'proxy: cache size accounting failed'));
      return fill;
    });
  }

  private async upstreamCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof UpstreamError && err.failure !== 'notfound') this.ctx.upstream.counters.upstreamErrors += 1;
      throw err;
    }
  }
}
