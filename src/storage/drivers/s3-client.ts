/**
 * What the S3 driver and its writer share: the options (already resolved from config by the CLI), the
 * S3Client built from them, key mapping and the small helpers that classify S3 errors.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

export const MiB = 1024 * 1024;
/** S3's own limits on multipart uploads. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;

export interface S3DriverOptions {
  bucket: string;
  region: string;
  /** Endpoint of an S3-compatible service; without a scheme, `secure` picks https or http. */
  endpoint?: string;
  forcePathStyle: boolean;
  accessKey?: string;
  secretKey?: string;
  sessionToken?: string;
  /** Key prefix inside the bucket, e.g. `registry` (slashes around it do not matter). */
  rootDirectory: string;
  /** Server-side encryption: AES256, or aws:kms with `keyId`. */
  encrypt: boolean;
  keyId?: string;
  secure: boolean;
  skipVerify: boolean;
  /** Smallest part size of multipart uploads (writers), at least 5 MiB. */
  chunkSize: number;
  multipartCopyChunkSize: number;
  multipartCopyMaxConcurrency: number;
  multipartCopyThresholdSize: number;
  /** Undefined sends no storage class (Distribution's NONE). */
  storageClass?: string;
  objectAcl?: string;
  userAgent?: string;
  useDualstack: boolean;
  accelerate: boolean;
  /**
   * `when_required` sends request checksums only where S3 demands them and skips response validation, as
   * Distribution's SDK does; older Ceph RGW and MinIO refuse the SDK's default streaming CRC32 trailers.
   * `when_supported` is the SDK's default.
   */
  checksums: 'when_required' | 'when_supported';
  /** Lifetime of presigned redirect URLs; 0 disables redirects. */
  redirectExpirySeconds: number;
  /** Parts per multipart upload before the writer doubles its part size (S3 allows 10,000). Lowered by tests. */
  maxParts?: number;
}

export function createS3Client(options: S3DriverOptions): S3Client {
  // The SDK warns on Node 20 that its releases from 2027 on need Node 22; Berth's lockfile pins one that
  // runs on Node 20, so the multi-line warning in every start-up log tells operators nothing they can act on.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const checksums = options.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    useDualstackEndpoint: options.useDualstack,
    useAccelerateEndpoint: options.accelerate,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    // The driver retries nothing itself; the SDK's standard retries cover throttling and 5xx.
    maxAttempts: 5,
  };
  if (options.endpoint !== undefined) {
    config.endpoint = /^[a-z][a-z0-9+.-]*:\/\//i.test(options.endpoint)
      ? options.endpoint
      : `${options.secure ? 'https' : 'http'}://${options.endpoint}`;
  }
  if (options.accessKey !== undefined && options.secretKey !== undefined) {
    config.credentials = {
      accessKeyId: options.accessKey,
      secretAccessKey: options.secretKey,
      ...(options.sessionToken !== undefined ? { sessionToken: options.sessionToken } : {}),
    };
  }
  if (options.userAgent !== undefined) config.customUserAgent = options.userAgent;
  config.requestHandler = {
    // Registries open many blobs at once; the SDK's default of 50 sockets would queue them.
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: !options.skipVerify }),
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
  };
  const client = new S3Client(config);
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        describeFailure(err);
        throw err;
      }
    },
    { step: 'initialize', name: 'berthDescribeFailure' },
  );
  return client;
}

/**
 * Gives an S3 error a message that says what happened: Ceph RGW sends no `<Message>`, which leaves the SDK's
 * `UnknownError`. The error keeps its name and fields, which callers test.
 */
function describeFailure(err: unknown): void {
  if (!(err instanceof Error)) return;
  const status = (err as S3Failure).$metadata?.httpStatusCode;
  if (status === undefined) return;
  const detail = err.message === '' || err.message === 'UnknownError' || err.message === err.name ? '' : `: ${err.message}`;
  err.message = `S3 ${err.name} (HTTP ${status})${detail}`;
}

/** Maps driver paths (`/a/b`) to keys (`<root>/a/b`) and back, as Distribution's `s3Path` does. */
export class KeyMap {
  /** `root/`, or '' when the bucket holds the registry at its top. */
  readonly prefix: string;

  constructor(rootDirectory: string) {
    const root = rootDirectory.replace(/^\/+|\/+$/g, '');
    this.prefix = root === '' ? '' : `${root}/`;
  }

  key(path: string): string {
    return path === '/' ? this.prefix : this.prefix + path.slice(1);
  }

  /** The prefix of everything below `path`. */
  dirPrefix(path: string): string {
    return path === '/' ? this.prefix : `${this.key(path)}/`;
  }

  path(key: string): string {
    return `/${key.slice(this.prefix.length)}`;
  }
}

interface S3Failure {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** "No such object": GetObject says NoSuchKey, HEAD requests (no body) only NotFound. */
export function isNoSuchKey(err: unknown): boolean {
  const failure = err as S3Failure;
  return failure?.name === 'NoSuchKey' || failure?.name === 'NotFound' || failure?.Code === 'NoSuchKey';
}

export function isInvalidRange(err: unknown): boolean {
  const failure = err as S3Failure;
  return failure?.name === 'InvalidRange' || failure?.$metadata?.httpStatusCode === 416;
}

/** The `CopySource` of a key: bucket and key, URL-encoded component by component. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Runs `task` for every item with at most `limit` running at once; rejects with the first failure. */
export async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
