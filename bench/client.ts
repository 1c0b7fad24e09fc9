/**
 * The registry API calls the workloads make, over an undici pool (keep-alive connections to one server), and
 * the content they push: distinct blobs of a given size that cost the client almost nothing to make.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Pool } from 'undici';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SUFFIX_BYTES = 16;
const RUN_ID = randomBytes(8);
let serial = 0;

export interface Blob {
  digest: string;
  size: number;
  /** The bytes, in order (a shared body, made of one block repeated, plus a short distinct tail). */
  parts: Buffer[];
}

/**
 * The body repeats one random block of at most this size. A client that streams a layer from a file or a
 * compressor sends from a small buffer that stays in the CPU's caches; sending straight from a 256 MiB
 * buffer instead cost the kernel 1.5-1.9 CPU-seconds per GiB here (against 0.2-0.4 from a 1 MiB one), which
 * on two cores took that much from the server being measured.
 */
const BLOCK_BYTES = 1024 * 1024;

/**
 * Blobs of one size that all differ: one random body shared by all, then 16 distinct bytes. The body is
 * hashed once; each blob's digest continues a copy of that hash over its tail.
 */
export class BlobSource {
  private readonly body: Buffer[] = [];
  private readonly bodyHash = createHash('sha256');

  constructor(readonly size: number) {
    if (size < SUFFIX_BYTES) throw new Error(`blob size ${size} is below ${SUFFIX_BYTES} bytes`);
    const bodySize = size - SUFFIX_BYTES;
    const block = randomBytes(Math.min(bodySize, BLOCK_BYTES));
    for (let offset = 0; offset < bodySize; offset += block.length) {
      const part = block.subarray(0, Math.min(block.length, bodySize - offset));
      this.body.push(part);
      this.bodyHash.update(part);
    }
  }

  next(): Blob {
    const tail = Buffer.alloc(SUFFIX_BYTES);
    RUN_ID.copy(tail, 0);
    tail.writeBigUInt64BE(BigInt((serial += 1)), 8);
    const digest = `sha256:${this.bodyHash.copy().update(tail).digest('hex')}`;
    return { digest, size: this.size, parts: [...this.body, tail] };
  }
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function openPool(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, bodyTimeout: 600_000, headersTimeout: 600_000 });
}

async function expect(response: { statusCode: number; body: { text(): Promise<string>; dump(): Promise<void> } }, status: number, what: string) {
  if (response.statusCode !== status) throw new Error(`${what}: expected ${status}, got ${response.statusCode}: ${await response.body.text()}`);
  await response.body.dump();
}

function locationPath(location: string | string[] | undefined, what: string): string {
  if (typeof location !== 'string') throw new Error(`${what}: no Location header`);
  const url = new URL(location, 'http://placeholder');
  return url.pathname + url.search;
}

/**
 * Real clients stream a layer from a file or a compressor in pieces of tens of KiB (Go's io.Copy uses 32 KiB).
 * Handing the socket one 256 MiB write instead would queue it all in the kernel at once, and on loopback
 * the receiver's reads would then do much of the sender's TCP work, charging it to the server measured.
 */
const WRITE_BYTES = 64 * 1024;

async function* chunksOf(parts: Buffer[], start: number, end: number): AsyncIterable<Buffer> {
  let offset = 0;
  for (const part of parts) {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end - offset, part.length);
    for (let piece = from; piece < to; piece += WRITE_BYTES) yield part.subarray(piece, Math.min(piece + WRITE_BYTES, to));
    offset += part.length;
  }
}

async function startUpload(pool: Pool, repo: string): Promise<string> {
  const post = await pool.request({ path: `/v2/${repo}/blobs/uploads/`, method: 'POST' });
  const location = locationPath(post.headers.location, 'POST upload');
  await expect(post, 202, 'POST upload');
  return location;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** POST, then one PUT with the whole body: how docker and containerd push a layer. */
export async function pushMonolithic(pool: Pool, repo: string, blob: Blob): Promise<void> {
  const location = await startUpload(pool, repo);
  const put = await pool.request({
    path: withDigest(location, blob.digest),
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: Readable.from(chunksOf(blob.parts, 0, blob.size), { objectMode: false }),
  });
  await expect(put, 201, 'PUT blob');
}

/** POST, PATCHes of `chunkSize` bytes with Content-Range, then a PUT with no body. */
export async function pushChunked(pool: Pool, repo: string, blob: Blob, chunkSize: number): Promise<void> {
  let location = await startUpload(pool, repo);
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(start + chunkSize, blob.size);
    const patch = await pool.request({
      path: location,
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'content-range': `${start}-${end - 1}` },
      body: Readable.from(chunksOf(blob.parts, start, end), { objectMode: false }),
    });
    location = locationPath(patch.headers.location, 'PATCH');
    await expect(patch, 202, 'PATCH chunk');
  }
  const put = await pool.request({ path: withDigest(location, blob.digest), method: 'PUT', headers: { 'content-length': '0' } });
  await expect(put, 201, 'PUT to finish a chunked upload');
}

/** Links a blob that exists in `from` into `repo`, as clients do for shared base layers. */
export async function mountBlob(pool: Pool, repo: string, digest: string, from: string): Promise<void> {
  const post = await pool.request({ path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, method: 'POST' });
  await expect(post, 201, `mount ${digest} from ${from}`);
}

export async function putManifest(pool: Pool, repo: string, reference: string, manifest: Buffer): Promise<void> {
  const put = await pool.request({
    path: `/v2/${repo}/manifests/${reference}`,
    method: 'PUT',
    headers: { 'content-type': OCI_MANIFEST, 'content-length': String(manifest.length) },
    body: manifest,
  });
  await expect(put, 201, `PUT manifest ${repo}:${reference}`);
}

/** An OCI image manifest for one config and one layer; `annotation` makes otherwise equal manifests distinct. */
export function imageManifest(config: Blob, layer: Blob, annotation?: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
      ...(annotation !== undefined && { annotations: { 'org.example.bench': annotation } }),
    }),
  );
}

/** Runs `task` for 0..count-1 with at most `concurrency` at once. */
export async function forEachLimited(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next;
        next += 1;
        await task(i);
      }
    }),
  );
}
