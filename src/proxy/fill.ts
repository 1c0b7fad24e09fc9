/**
 * Coalesced blob fills: one upstream GET of a missing blob, shared by every client that asks for it while it
 * runs, with constant memory however large the blob and however many clients.
 *
 * Protocol of one fill:
 *   1. The upstream GET starts; its body flows, chunk by chunk, into (a) a spool file and (b) an upload
 *      session of the cache. The spool file is unlinked as soon as it is opened, so a crash leaves nothing
 *      behind; readers share its descriptor and read it at their own offsets (positional reads).
 *   2. Every client, the first and any late joiner, reads the spool from its start (or its range's start): the
 *      bytes already fetched at once, then the rest as it arrives. The last byte is held back until step 3
 *      succeeds, so a client never receives a complete blob whose digest is wrong: a bad fill ends its readers
 *      with an error (a cut connection) instead.
 *   3. The upload session's commit verifies the digest and only then makes the blob visible in the cache.
 * The fill runs to completion even when every client has gone, so the next pull is a hit. Joiners find the fill
 * by digest in `FillTable` until it settles; after that the cache has the blob (or the fill failed and the next
 * request starts a new one).
 */
import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { DigestInvalidError } from '../oci/errors.js';
import type { BlobDescriptor, UploadSession } from '../registry/types.js';
import type { UpstreamBlob } from './client.js';
import { UpstreamError } from './errors.js';

const READ_CHUNK = 64 * 1024;

export interface FillSource {
  /** The upstream's configured name, for errors. */
  upstream: string;
  digest: Digest;
  /** Starts the upstream GET. */
  fetch(): Promise<UpstreamBlob>;
  /** Opens the cache's upload session the bytes are stored through. */
  store(): Promise<UploadSession>;
  /** Called with the size of every chunk received from upstream. */
  onBytes?(count: number): void;
  /** Directory of spool files; the OS temp dir by default. */
  spoolDir?: string;
}

export class BlobFill {
  private written = 0;
  private settled = false;
  private failure: unknown;
  /** Holders of the spool descriptor: the fill itself, then each reader. */
  private refs = 1;
  private wake!: () => void;
  private changed = this.nextChange();
  /** Resolves once the blob is verified and visible in the cache. */
  readonly done: Promise<BlobDescriptor>;

  private constructor(
    readonly digest: Digest,
    /** The blob's size as the upstream announced it. */
    readonly size: number,
    private readonly handle: FileHandle,
    run: (fill: BlobFill) => Promise<BlobDescriptor>,
  ) {
    this.done = run(this);
    // Joiners observe failures through their readers; this only keeps Node from calling it unhandled.
    this.done.catch(() => undefined);
  }

  static async start(source: FillSource, expectedSize?: number): Promise<BlobFill> {
    const response = await source.fetch();
    const size = response.size ?? expectedSize;
    if (size === undefined) {
      response.body.destroy();
      throw new UpstreamError(source.upstream, 'unavailable', `sent blob ${source.digest} without a Content-Length`);
    }
    let handle: FileHandle;
    let session: UploadSession;
    try {
      const spool = path.join(source.spoolDir ?? os.tmpdir(), `berth-proxy-${randomUUID()}`);
      handle = await open(spool, 'w+', 0o600);
      await unlink(spool);
    } catch (err) {
      response.body.destroy();
      throw err;
    }
    try {
      session = await source.store();
    } catch (err) {
      response.body.destroy();
      await handle.close();
      throw err;
    }
    return new BlobFill(source.digest, size, handle, (fill) => fill.pump(source, response, session));
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.changed = this.nextChange();
    wake();
  }

  private async pump(source: FillSource, response: UpstreamBlob, session: UploadSession): Promise<BlobDescriptor> {
    const fill = this;
    async function* spooled(): AsyncGenerator<Uint8Array> {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        source.onBytes?.(chunk.length);
        if (fill.written + chunk.length > fill.size) {
          throw new UpstreamError(source.upstream, 'unavailable', `sent more than the ${fill.size} bytes of blob ${source.digest}`);
        }
        await fill.handle.write(chunk, 0, chunk.length, fill.written);
        fill.written += chunk.length;
        fill.notify();
        yield chunk;
      }
    }
    try {
      await session.append(spooled());
      if (this.written !== this.size) {
        throw new UpstreamError(source.upstream, 'unavailable', `sent ${this.written} of the ${this.size} bytes of blob ${source.digest}`);
      }
      return await session.commit(source.digest);
    } catch (err) {
      response.body.destroy();
      await session.cancel().catch(() => undefined);
      this.failure =
        err instanceof DigestInvalidError
          ? new UpstreamError(source.upstream, 'unavailable', `sent bytes that do not match blob ${source.digest}`)
          : err instanceof UpstreamError
            ? err
            : new UpstreamError(source.upstream, 'unavailable', `the transfer of blob ${source.digest} failed (${(err as Error).message})`);
      throw this.failure;
    } finally {
      this.settled = true;
      this.notify();
      await this.release();
    }
  }

  private async release(): Promise<void> {
    this.refs -= 1;
    if (this.refs === 0) await this.handle.close().catch(() => undefined);
  }

  /** How far readers may read now: everything once verified, else all but the last byte received. */
  private readable(): number {
    if (this.settled && this.failure === undefined) return this.written;
    return Math.min(this.written, this.size - 1);
  }

  /**
   * A stream of bytes `start..end` (inclusive) of the blob, following the fill as it progresses. Undefined
   * when the fill has already released its spool (it is then complete: read the cache instead).
   */
  reader(start = 0, end = this.size - 1): Readable | undefined {
    if (this.refs === 0) return undefined;
    this.refs += 1;
    const fill = this;
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await fill.release();
    };
    async function* bytes(): AsyncGenerator<Buffer> {
      try {
        let position = start;
        while (position <= end) {
          const available = Math.min(fill.readable(), end + 1);
          if (position < available) {
            const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, available - position));
            const { bytesRead } = await fill.handle.read(buffer, 0, buffer.length, position);
            position += bytesRead;
            // Done with the spool before the last chunk goes out, so the response ends right after it.
            if (position > end) await release();
            yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
            continue;
          }
          if (fill.settled) throw fill.failure ?? new Error('blob fill ended early');
          await fill.changed;
        }
      } finally {
        await release();
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }
}

/** The fills in progress, by key (upstream and digest): a second request for the same blob joins the first. */
export class FillTable {
  private readonly running = new Map<string, Promise<BlobFill>>();

  get size(): number {
    return this.running.size;
  }

  /** The fill of `key` in progress, if any. */
  find(key: string): Promise<BlobFill> | undefined {
    return this.running.get(key);
  }

  /** Joins the fill of `key`, or starts one with `start`. */
  join(key: string, start: () => Promise<BlobFill>): { fill: Promise<BlobFill>; started: boolean } {
    const existing = this.running.get(key);
    if (existing) return { fill: existing, started: false };
    const fill = start();
    this.running.set(key, fill);
    const forget = () => {
      if (this.running.get(key) === fill) this.running.delete(key);
    };
    fill.then((f) => f.done.then(forget, forget), forget);
    return { fill, started: true };
  }
}
