/**
 * A driver over an S3 bucket (Amazon S3, Ceph RGW, MinIO...), on the same key layout as Distribution's
 * s3-aws driver so both can serve one bucket: the path `/a/b` is the key `<rootdirectory>/a/b`.
 *
 * S3 has no directories: a directory exists while keys start with its prefix. `stat` tries the key, then the
 * prefix; directories report the current time, as a past time would make age-based clean-ups think them
 * stale. `list` and `walk` use delimited listings (one per directory, paginated), so `walk` keeps the
 * depth-first lexical order of the filesystem driver. `move` is a server-side copy (in parts above
 * `multipartcopythresholdsize`) followed by a delete; `delete` removes the key and everything below it in
 * batches of 1,000. Writers are multipart uploads (see `s3-writer.ts`); `purgeStaleWrites` aborts those
 * abandoned by processes that died. `redirectURL` presigns GET/HEAD requests for blob redirects.
 *
 * Paths are trusted as given: use the driver through `withChecks` (`../base.ts`), which validates them.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type ObjectCannedACL,
  type StorageClass,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import type { FileInfo, FileWriter, PutOptions, StorageDriver, WalkDecision } from '../driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../errors.js';
import {
  copySource,
  createS3Client,
  eachLimited,
  isInvalidRange,
  isNoSuchKey,
  KeyMap,
  MAX_PART_SIZE,
  MAX_PARTS,
  MIN_PART_SIZE,
  type S3DriverOptions,
} from './s3-client.js';
import { openS3Writer, type ObjectParams } from './s3-writer.js';

const DELETE_BATCH = 1000;

type Visit = (info: FileInfo) => WalkDecision | Promise<WalkDecision>;

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  declare readonly redirectURL?: (path: string, method: 'GET' | 'HEAD') => Promise<string | undefined>;
  readonly #client: S3Client;
  readonly #options: S3DriverOptions;
  readonly #bucket: string;
  readonly #keys: KeyMap;
  readonly #objectParams: ObjectParams;

  constructor(options: S3DriverOptions, client: S3Client = createS3Client(options)) {
    if (options.chunkSize < MIN_PART_SIZE || options.chunkSize > MAX_PART_SIZE) {
      throw new Error(`s3 chunksize must be between ${MIN_PART_SIZE} and ${MAX_PART_SIZE} bytes`);
    }
    if (options.multipartCopyChunkSize < MIN_PART_SIZE || options.multipartCopyChunkSize > MAX_PART_SIZE) {
      throw new Error(`s3 multipartcopychunksize must be between ${MIN_PART_SIZE} and ${MAX_PART_SIZE} bytes`);
    }
    const maxParts = options.maxParts ?? MAX_PARTS;
    if (maxParts < 2 || maxParts > MAX_PARTS || maxParts % 2 !== 0) throw new Error('maxParts must be even, 2..10000');
    this.#client = client;
    this.#options = { ...options, maxParts };
    this.#bucket = options.bucket;
    this.#keys = new KeyMap(options.rootDirectory);
    this.#objectParams = {
      ...(options.storageClass !== undefined ? { StorageClass: options.storageClass as StorageClass } : {}),
      ...(options.encrypt ? { ServerSideEncryption: options.keyId !== undefined ? 'aws:kms' : 'AES256' } : {}),
      ...(options.encrypt && options.keyId !== undefined ? { SSEKMSKeyId: options.keyId } : {}),
      ...(options.objectAcl !== undefined ? { ACL: options.objectAcl as ObjectCannedACL } : {}),
    };
    if (options.redirectExpirySeconds > 0) {
      this.redirectURL = (path, method) => this.#presign(path, method);
    }
  }

  /** Fails unless the bucket exists and the credentials may use it: called once at start-up. */
  async checkBucket(): Promise<void> {
    await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
  }

  async getContent(path: string): Promise<Buffer> {
    const object = await this.#found(path, () =>
      this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#keys.key(path) })),
    );
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  /** Always durable: S3 acknowledges a PutObject once it is stored. */
  async putContent(path: string, content: Uint8Array, options: PutOptions = {}): Promise<void> {
    await options.publishAfter;
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#keys.key(path),
        Body: content,
        ContentLength: content.byteLength,
        ContentType: 'application/octet-stream',
        ...this.#objectParams,
      }),
    );
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    if (length === 0) return this.#emptyAt(path, offset);
    const range = offset === 0 && length === undefined ? undefined : `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
    try {
      const object = await this.#found(path, () =>
        this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#keys.key(path), Range: range })),
      );
      return object.Body as Readable;
    } catch (err) {
      // S3 refuses a range starting at the end; an empty read there is what the other drivers give.
      if (isInvalidRange(err)) return this.#emptyAt(path, offset);
      throw err;
    }
  }

  writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    return openS3Writer(
      {
        client: this.#client,
        bucket: this.#bucket,
        key: this.#keys.key(path),
        chunkSize: this.#options.chunkSize,
        maxParts: this.#options.maxParts!,
        copyConcurrency: this.#options.multipartCopyMaxConcurrency,
        objectParams: this.#objectParams,
      },
      options.append,
    );
  }

  async stat(path: string): Promise<FileInfo> {
    if (path !== '/') {
      try {
        const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#keys.key(path) }));
        return {
          path,
          size: head.ContentLength ?? 0,
          modTime: head.LastModified ?? new Date(),
          isDir: false,
          // A replaced object gets a new time, and a new ETag unless its content is the same.
          ...(head.ETag && { version: `${head.ETag}@${head.LastModified?.getTime() ?? ''}` }),
        };
      } catch (err) {
        if (!isNoSuchKey(err)) throw err;
      }
    }
    const listed = await this.#client.send(
      new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#keys.dirPrefix(path), MaxKeys: 1 }),
    );
    if ((listed.KeyCount ?? 0) === 0 && path !== '/') throw new PathNotFoundError(path, this.name);
    return { path, size: 0, modTime: new Date(), isDir: true };
  }

  async list(path: string): Promise<string[]> {
    const children = await this.#children(path);
    if (children.length === 0 && path !== '/') throw new PathNotFoundError(path, this.name);
    return children.map((child) => child.path);
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.#keys.key(source);
    const to = this.#keys.key(destination);
    const head = await this.#found(source, () => this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: from })));
    const size = head.ContentLength ?? 0;
    if (size <= this.#options.multipartCopyThresholdSize) {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: to,
          CopySource: copySource(this.#bucket, from),
          CopySourceIfMatch: head.ETag,
          ContentType: 'application/octet-stream',
          MetadataDirective: 'REPLACE',
          ...this.#objectParams,
        }),
      );
    } else {
      await this.#copyInParts(from, to, size, head.ETag);
    }
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: from }));
  }

  async delete(path: string): Promise<void> {
    let found = false;
    if (path !== '/') {
      try {
        await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#keys.key(path) }));
        found = true;
      } catch (err) {
        if (!isNoSuchKey(err)) throw err;
      }
    }
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#keys.dirPrefix(path),
          ContinuationToken: token,
          MaxKeys: DELETE_BATCH,
        }),
      );
      const keys = (page.Contents ?? []).map((object) => object.Key!);
      if (keys.length > 0) {
        found = true;
        await this.#deleteKeys(keys);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    if (!found) throw new PathNotFoundError(path, this.name);
    if (path !== '/') await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#keys.key(path) }));
  }

  async walk(path: string, visit: Visit): Promise<void> {
    const children = await this.#children(path);
    if (children.length === 0 && path !== '/') throw new PathNotFoundError(path, this.name);
    await this.#walkChildren(children, visit);
  }

  /**
   * Aborts multipart uploads under the root started before `olderThan`: those of writers whose process died.
   * Live writers hold an upload only for the length of one append, far less than any purging age.
   * Returns the paths they were writing.
   */
  async purgeStaleWrites(olderThan: Date, options: { dryRun: boolean }): Promise<string[]> {
    const purged: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      // No Delimiter: Ceph RGW answers nothing to a delimited ListMultipartUploads.
      const page = await this.#client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.#bucket,
          Prefix: this.#keys.prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Initiated === undefined || upload.Initiated >= olderThan) continue;
        purged.push(this.#keys.path(upload.Key!));
        if (!options.dryRun) {
          await this.#client.send(
            new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: upload.Key!, UploadId: upload.UploadId! }),
          );
        }
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return purged;
  }

  async #walkChildren(children: FileInfo[], visit: Visit): Promise<void> {
    for (const child of children) {
      const decision = await visit(child);
      if (!child.isDir || decision === 'skip') continue;
      await this.#walkChildren(await this.#children(child.path), visit);
    }
  }

  /** The direct children of a directory, sorted by path: files with their size and time, and subdirectories. */
  async #children(path: string): Promise<FileInfo[]> {
    const prefix = this.#keys.dirPrefix(path);
    const byPath = new Map<string, FileInfo>();
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const common of page.CommonPrefixes ?? []) {
        const child = this.#keys.path(common.Prefix!.slice(0, -1));
        byPath.set(child, { path: child, size: 0, modTime: new Date(), isDir: true });
      }
      for (const object of page.Contents ?? []) {
        // A key ending in '/' is a "folder" marker some tools create; it is not a file.
        if (object.Key!.endsWith('/')) continue;
        const child = this.#keys.path(object.Key!);
        // A key that is also a prefix is seen as a directory, as on a filesystem only one of them can exist.
        if (!byPath.has(child)) byPath.set(child, { path: child, size: object.Size ?? 0, modTime: object.LastModified ?? new Date(), isDir: false });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async #copyInParts(from: string, to: string, size: number, etag: string | undefined): Promise<void> {
    let partSize = this.#options.multipartCopyChunkSize;
    while (Math.ceil(size / partSize) > MAX_PARTS) partSize *= 2;
    const created = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: to, ContentType: 'application/octet-stream', ...this.#objectParams }),
    );
    const uploadId = created.UploadId!;
    const parts: CompletedPart[] = [];
    const numbers = Array.from({ length: Math.ceil(size / partSize) }, (_, i) => i + 1);
    try {
      await eachLimited(numbers, this.#options.multipartCopyMaxConcurrency, async (partNumber) => {
        const start = (partNumber - 1) * partSize;
        const end = Math.min(start + partSize, size) - 1;
        const copied = await this.#client.send(
          new UploadPartCopyCommand({
            Bucket: this.#bucket,
            Key: to,
            UploadId: uploadId,
            PartNumber: partNumber,
            CopySource: copySource(this.#bucket, from),
            CopySourceRange: `bytes=${start}-${end}`,
            CopySourceIfMatch: etag,
          }),
        );
        parts.push({ PartNumber: partNumber, ETag: copied.CopyPartResult?.ETag });
      });
      parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      await this.#client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: to, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (err) {
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: to, UploadId: uploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  async #deleteKeys(keys: string[]): Promise<void> {
    const result = await this.#client.send(
      new DeleteObjectsCommand({
        Bucket: this.#bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = (result.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const first = failed[0]!;
      throw new Error(`deleting ${failed.length} of ${keys.length} keys failed, first ${first.Key}: ${first.Code} ${first.Message ?? ''}`);
    }
  }

  /** An empty stream, after checking that the file exists and `offset` is within it. */
  async #emptyAt(path: string, offset: number): Promise<Readable> {
    const info = await this.stat(path);
    if (info.isDir) throw new PathNotFoundError(path, this.name);
    if (offset > info.size) throw new InvalidOffsetError(path, this.name, offset);
    return Readable.from([], { objectMode: false });
  }

  #presign(path: string, method: 'GET' | 'HEAD'): Promise<string> {
    const input = { Bucket: this.#bucket, Key: this.#keys.key(path) };
    const command = method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(this.#client, command, { expiresIn: this.#options.redirectExpirySeconds });
  }

  /** Runs a request on the key of `path`, turning "no such key" into PathNotFoundError. */
  async #found<T>(path: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (isNoSuchKey(err)) throw new PathNotFoundError(path, this.name);
      throw err;
    }
  }
}
