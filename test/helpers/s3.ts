/**
 * A real S3 store for tests: Ceph's RADOS Gateway on loopback, started by the project's shared
 * `../shared/s3/start.sh` (a one-node cluster; about 6 s, plus the apt install of Ceph the first time).
 *
 * - `S3_ENDPOINT` (with `S3_ACCESS_KEY`, `S3_SECRET_KEY`) set: that store is used as it is.
 * - Otherwise the cluster in `CEPH_S3_DATA_DIR` (default `<tmpdir>/berth-test-ceph-s3`) is started, or reused
 *   when running; test files run in parallel processes, so the start is serialised with `flock`.
 *   `scripts/test.js` gives every run a fresh directory and stops the cluster afterwards.
 * A store that cannot start fails the test with the script's own message: never a mock in its place.
 * Every test gets its own bucket (`testBucket`), emptied and removed by its cleanup.
 */
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { S3DriverOptions } from '../../src/storage/drivers/s3-client.js';
import { freePort } from './net.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// The project's shared scripts sit beside the checkout, as they do in CI.
const START_SCRIPT = path.resolve(REPO_ROOT, '..', 'shared', 's3', 'start.sh');
const START_TIMEOUT_MS = 600_000;

export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
}

let started: Promise<S3Endpoint> | undefined;

/** The store the tests use, started on first call. */
export function s3Endpoint(): Promise<S3Endpoint> {
  started ??= startStore();
  return started;
}

async function startStore(): Promise<S3Endpoint> {
  if (process.env.S3_ENDPOINT && process.env.S3_ACCESS_KEY && process.env.S3_SECRET_KEY) {
    return fromEnv(process.env);
  }
  const dataDir = process.env.CEPH_S3_DATA_DIR ?? path.join(os.tmpdir(), 'berth-test-ceph-s3');
  // Free ports for a first start; a running or stopped cluster keeps the ones it has. `--close`: the daemons
  // the script starts must not inherit the lock, or the other test files would wait for them forever.
  const env = { ...process.env, CEPH_S3_PORT: String(await freePort()), CEPH_S3_MON_PORT: String(await freePort()) };
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('flock', ['--close', `${dataDir}.lock`, START_SCRIPT, dataDir], {
      env,
      timeout: START_TIMEOUT_MS,
      maxBuffer: 1 << 20,
    }));
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`the S3 store (Ceph RGW, ${START_SCRIPT} ${dataDir}) did not start:\n${stderr ?? String(err)}`);
  }
  const exported: Record<string, string> = {};
  for (const match of stdout.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)) exported[match[1]!] = match[2]!;
  return fromEnv(exported);
}

function fromEnv(env: Record<string, string | undefined>): S3Endpoint {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`the S3 store gave no ${name}`);
    return value;
  };
  return {
    endpoint: need('S3_ENDPOINT'),
    region: env.S3_REGION ?? 'us-east-1',
    accessKey: need('S3_ACCESS_KEY'),
    secretKey: need('S3_SECRET_KEY'),
  };
}


export function s3Client(store: S3Endpoint): S3Client {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: store.endpoint,
    region: store.region,
    forcePathStyle: true,
    credentials: { accessKeyId: store.accessKey, secretAccessKey: store.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface TestBucket {
  store: S3Endpoint;
  bucket: string;
  client: S3Client;
  /** Driver options for this bucket (as `storage.s3` with `checksums: when_required` gives). */
  driverOptions(overrides?: Partial<S3DriverOptions>): S3DriverOptions;
  /** The `storage.s3` config section for this bucket. */
  config(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** Every key in the bucket. */
  keys(): Promise<string[]>;
  /** Empties and removes the bucket. */
  cleanup(): Promise<void>;
}

export async function testBucket(): Promise<TestBucket> {
  const store = await s3Endpoint();
  const client = s3Client(store);
  const bucket = `berth-test-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const keys = async (): Promise<string[]> => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      found.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return found;
  };
  return {
    store,
    bucket,
    client,
    driverOptions: (overrides = {}) => ({
      bucket,
      region: store.region,
      endpoint: store.endpoint,
      forcePathStyle: true,
      accessKey: store.accessKey,
      secretKey: store.secretKey,
      rootDirectory: '',
      encrypt: false,
      secure: false,
      skipVerify: false,
      chunkSize: 5 * 1024 * 1024,
      multipartCopyChunkSize: 32 * 1024 * 1024,
      multipartCopyMaxConcurrency: 100,
      multipartCopyThresholdSize: 32 * 1024 * 1024,
      useDualstack: false,
      accelerate: false,
      checksums: 'when_required',
      redirectExpirySeconds: 1200,
      ...overrides,
    }),
    config: (overrides = {}) => ({
      bucket,
      region: store.region,
      regionendpoint: store.endpoint,
      forcepathstyle: true,
      accesskey: store.accessKey,
      secretkey: store.secretKey,
      checksums: 'when_required',
      ...overrides,
    }),
    keys,
    async cleanup() {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      for (const upload of uploads.Uploads ?? []) {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key!, UploadId: upload.UploadId! }));
      }
      for (let all = await keys(); all.length > 0; all = await keys()) {
        for (let i = 0; i < all.length; i += 1000) {
          const Objects = all.slice(i, i + 1000).map((Key) => ({ Key }));
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects, Quiet: true } }));
        }
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
  };
}
