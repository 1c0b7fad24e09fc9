/**
 * The S3 FileWriter: multipart uploads whose parts all have the same size, except the last.
 *
 * Protocol (the bucket holds all state, so any process can continue any file, e.g. an upload's `data`):
 * - The object at the key holds every byte acknowledged so far: close() and commit() complete the multipart
 *   upload, or put the object whole when it is smaller than one part.
 * - Opening with append reads the object's size S and ETag. On the first byte appended a multipart upload
 *   starts with part size P (`chunksize`, doubled until S fits in half of `maxParts` parts); the first
 *   floor(S/P)·P bytes of the object are copied server-side as parts 1..n (UploadPartCopy, conditional on the
 *   ETag: a concurrent change fails the append rather than mixing two versions) and its last S mod P bytes
 *   are read into the buffer the new bytes follow.
 * - New bytes are buffered (at most one part plus one chunk in memory) and sent as parts of exactly P bytes.
 *   When an upload reaches `maxParts` parts it is completed and continued as above with parts of 2P (an exact
 *   copy, as `maxParts` is even): with 10 MiB chunks a 1 TiB layer ends in 160 MiB parts, under 10,000.
 * - A process that dies mid-append leaves the object as of the last close (those bytes were never
 *   acknowledged) plus an incomplete multipart upload, which upload purging aborts by age
 *   (`S3Driver.purgeStaleWrites`). A failed S3 call makes the writer drop its upload the same way.
 * - cancel aborts the upload and deletes the object.
 * Each reopen costs a server-side copy of the object, as with Distribution's driver (which copies the whole
 * previous object as an odd-sized part 1); registry clients send a blob in one or a few chunks.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { FileWriter } from '../driver.js';
import { copySource, eachLimited, isNoSuchKey, MAX_PART_SIZE } from './s3-client.js';
import { WriterState } from './writer-state.js';

/** Parameters every object the driver writes carries (storage class, encryption, ACL). */
export type ObjectParams = Pick<PutObjectCommandInput, 'StorageClass' | 'ServerSideEncryption' | 'SSEKMSKeyId' | 'ACL'>;

export interface WriterContext {
  client: S3Client;
  bucket: string;
  key: string;
  chunkSize: number;
  maxParts: number;
  copyConcurrency: number;
  objectParams: ObjectParams;
}

interface Upload {
  id: string;
  partSize: number;
  parts: CompletedPart[];
}

/** Opens a writer on `ctx.key`: truncating, or appending to what the object holds now. */
export async function openS3Writer(ctx: WriterContext, append: boolean): Promise<S3Writer> {
  if (!append) return new S3Writer(ctx, 0, undefined, true);
  try {
    const head = await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: ctx.key }));
    return new S3Writer(ctx, head.ContentLength ?? 0, head.ETag, false);
  } catch (err) {
    if (!isNoSuchKey(err)) throw err;
    // Appending to nothing creates the file, as O_APPEND does.
    return new S3Writer(ctx, 0, undefined, true);
  }
}

/** The part size for continuing an object of `size` bytes: chunkSize doubled until it fits in maxParts/2 parts. */
export function partSizeFor(size: number, chunkSize: number, maxParts: number): number {
  let partSize = chunkSize;
  while (Math.ceil(size / partSize) > maxParts / 2 && partSize * 2 <= MAX_PART_SIZE) partSize *= 2;
  return partSize;
}

export class S3Writer implements FileWriter {
  readonly #ctx: WriterContext;
  readonly #state = new WriterState();
  #size: number;
  /** Bytes of the existing object not yet taken over by an upload or the buffer. */
  #existing: number;
  #etag: string | undefined;
  /** Whether finishing must write the object: bytes were appended, or it is truncated or new. */
  #dirty: boolean;
  #partSize: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #upload: Upload | undefined;
  /** Set when an S3 call failed: the upload is dropped and the object left as it was. */
  #failure: unknown;

  constructor(ctx: WriterContext, existing: number, etag: string | undefined, dirty: boolean) {
    this.#ctx = ctx;
    this.#size = existing;
    this.#existing = existing;
    this.#etag = etag;
    this.#dirty = dirty;
    this.#partSize = ctx.chunkSize;
  }

  get size(): number {
    return this.#size;
  }

  async append(source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#state.beginAppend();
    let appended = 0;
    try {
      if (this.#failure !== undefined) throw new Error('the writer failed earlier', { cause: this.#failure });
      for await (const chunk of source) {
        if (chunk.byteLength === 0) continue;
        if (this.#existing > 0) await this.#guard(() => this.#takeOverExisting());
        // Copied: the source may refill its buffer once we ask for the next chunk.
        this.#pending.push(Buffer.from(chunk));
        this.#pendingBytes += chunk.byteLength;
        this.#size += chunk.byteLength;
        appended += chunk.byteLength;
        this.#dirty = true;
        while (this.#pendingBytes >= this.#partSize) await this.#guard(() => this.#sendPart());
      }
      return appended;
    } finally {
      this.#state.endAppend();
    }
  }

  async commit(): Promise<void> {
    this.#state.finish();
    if (this.#failure !== undefined) throw new Error('the writer failed earlier', { cause: this.#failure });
    await this.#finish();
  }

  async close(): Promise<void> {
    this.#state.finish();
    if (this.#failure === undefined) await this.#finish();
  }

  async cancel(): Promise<void> {
    if (!this.#state.beginCancel()) return;
    await this.#abort();
    await this.#ctx.client.send(new DeleteObjectCommand({ Bucket: this.#ctx.bucket, Key: this.#ctx.key }));
  }

  async #finish(): Promise<void> {
    if (!this.#dirty) return;
    const { client, bucket, key, objectParams } = this.#ctx;
    if (this.#upload === undefined) {
      const body = this.#take(this.#pendingBytes);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ...objectParams }));
      return;
    }
    try {
      if (this.#pendingBytes > 0) await this.#sendPart();
      await this.#complete();
    } catch (err) {
      await this.#abort();
      throw err;
    }
  }

  /** Runs an S3 step of an append; on failure drops the upload so that nothing half-made is ever completed. */
  async #guard(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.#failure = err;
      await this.#abort();
      throw err;
    }
  }

  /** Starts an upload holding the existing object: whole parts copied server-side, the rest read into the buffer. */
  async #takeOverExisting(): Promise<void> {
    const { client, bucket, key } = this.#ctx;
    const size = this.#existing;
    this.#partSize = partSizeFor(size, this.#ctx.chunkSize, this.#ctx.maxParts);
    const whole = Math.floor(size / this.#partSize) * this.#partSize;
    if (whole > 0) {
      const upload = await this.#startUpload();
      const numbers = Array.from({ length: whole / this.#partSize }, (_, i) => i + 1);
      await eachLimited(numbers, this.#ctx.copyConcurrency, async (partNumber) => {
        const start = (partNumber - 1) * this.#partSize;
        const copied = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: key,
            UploadId: upload.id,
            PartNumber: partNumber,
            CopySource: copySource(bucket, key),
            CopySourceRange: `bytes=${start}-${start + this.#partSize - 1}`,
            CopySourceIfMatch: this.#etag,
          }),
        );
        upload.parts.push({ PartNumber: partNumber, ETag: copied.CopyPartResult?.ETag });
      });
    }
    if (size > whole) {
      const tail = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${whole}-${size - 1}`, IfMatch: this.#etag }),
      );
      const bytes = Buffer.from(await tail.Body!.transformToByteArray());
      if (bytes.length !== size - whole) throw new Error(`read ${bytes.length} bytes of the object's last ${size - whole}`);
      this.#pending.unshift(bytes);
      this.#pendingBytes += bytes.length;
    }
    this.#existing = 0;
  }

  async #startUpload(): Promise<Upload> {
    const { client, bucket, key, objectParams } = this.#ctx;
    const created = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream', ...objectParams }),
    );
    this.#upload = { id: created.UploadId!, partSize: this.#partSize, parts: [] };
    return this.#upload;
  }

  /** Sends one part of `partSize` bytes (or the shorter last one); starts over with bigger parts when full. */
  async #sendPart(): Promise<void> {
    const upload = this.#upload ?? (await this.#startUpload());
    const body = this.#take(Math.min(upload.partSize, this.#pendingBytes));
    const partNumber = upload.parts.length + 1;
    try {
      const sent = await this.#ctx.client.send(
        new UploadPartCommand({
          Bucket: this.#ctx.bucket,
          Key: this.#ctx.key,
          UploadId: upload.id,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      );
      upload.parts.push({ PartNumber: partNumber, ETag: sent.ETag });
    } catch (err) {
      this.#pending.unshift(body);
      this.#pendingBytes += body.length;
      throw err;
    }
    if (upload.parts.length >= this.#ctx.maxParts && body.length === upload.partSize) {
      await this.#complete();
      const head = await this.#ctx.client.send(new HeadObjectCommand({ Bucket: this.#ctx.bucket, Key: this.#ctx.key }));
      this.#existing = head.ContentLength ?? 0;
      this.#etag = head.ETag;
      await this.#takeOverExisting();
    }
  }

  async #complete(): Promise<void> {
    const upload = this.#upload!;
    const parts = [...upload.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.#ctx.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.#ctx.bucket,
        Key: this.#ctx.key,
        UploadId: upload.id,
        MultipartUpload: { Parts: parts },
      }),
    );
    this.#upload = undefined;
  }

  async #abort(): Promise<void> {
    const upload = this.#upload;
    if (upload === undefined) return;
    this.#upload = undefined;
    // Best effort: an upload left behind is aborted later by upload purging.
    await this.#ctx.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.#ctx.bucket, Key: this.#ctx.key, UploadId: upload.id }))
      .catch(() => undefined);
  }

  /** Removes the first `count` buffered bytes, as one buffer. */
  #take(count: number): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    const taken = all.subarray(0, count);
    const rest = all.subarray(count);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    return taken;
  }
}
