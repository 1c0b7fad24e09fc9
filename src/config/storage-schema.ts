/**
 * The `storage` section: one driver plus the options every driver shares. Distribution keeps this as an
 * untyped map read by each driver; Berth types the keys of the drivers it models.
 */
import {
  bool,
  choice,
  duration,
  durationText,
  freeform,
  group,
  int,
  map,
  ms,
  oneOf,
  secret,
  section,
  str,
} from './fields.js';

const MiB = 1024 * 1024;

const filesystem = section({
  /** Directory under which the `docker/registry/v2` tree lives. Relative paths are resolved against the cwd. */
  rootdirectory: str()
    .refine((dir) => dir !== '', { message: 'must not be empty' })
    .default('/var/lib/registry'),
  /** Upper bound on concurrent filesystem operations; values below 25 count as 25, as in Distribution. */
  maxthreads: int()
    .transform((n) => Math.max(n, 25))
    .default(100),
});

const s3 = section({
  /** AWS access key; unset means the default credential chain. */
  accesskey: secret().optional(),
  /** AWS secret key. */
  secretkey: secret().optional(),
  /** Temporary session token to go with the keys. */
  sessiontoken: secret().optional(),
  /** AWS region of the bucket; may be omitted with `regionendpoint` (then us-east-1). */
  region: str().optional(),
  /** Endpoint of an S3-compatible service (MinIO, Ceph...). */
  regionendpoint: str().optional(),
  /** Path-style (`host/bucket/key`) rather than virtual-hosted requests. */
  forcepathstyle: bool().optional(),
  /** Bucket that holds the registry. */
  bucket: str(),
  /** Key prefix inside the bucket. */
  rootdirectory: str().optional(),
  /** Server-side encryption of stored objects. */
  encrypt: bool().optional(),
  /** KMS key ID for `encrypt`. */
  keyid: str().optional(),
  /** HTTPS to the endpoint (default true in Distribution). */
  secure: bool().optional(),
  /** Skips TLS verification of the endpoint. */
  skipverify: bool().optional(),
  /** Signature version 4 (default true). Berth signs with v4 only: false is refused. */
  v4auth: bool()
    .refine((v4) => v4, { message: 'false is not supported: Berth signs requests with Signature Version 4 only' })
    .optional(),
  /** Smallest part size of multipart uploads in bytes (default 10 MiB, min 5 MiB); doubled for huge blobs. */
  chunksize: int({ min: 5 * MiB }).optional(),
  /** Part size in bytes of server-side multipart copies (default 32 MiB, min 5 MiB). */
  multipartcopychunksize: int({ min: 5 * MiB }).optional(),
  /** Parts copied at once in a multipart copy (default 100). */
  multipartcopymaxconcurrency: int({ min: 1 }).optional(),
  /** Objects larger than this many bytes are copied in parts (default 32 MiB). */
  multipartcopythresholdsize: int({ min: 0 }).optional(),
  /** STANDARD, REDUCED_REDUNDANCY, ..., or NONE to send no storage class. */
  storageclass: str().optional(),
  /** Canned ACL of stored objects (default private). */
  objectacl: str().optional(),
  /** User-Agent of requests to S3. */
  useragent: str().optional(),
  /** IPv4+IPv6 S3 endpoints. */
  usedualstack: bool().optional(),
  /** S3 Transfer Acceleration endpoints. */
  accelerate: bool().optional(),
  /** AWS SDK log level (off, debug, ...); accepted and ignored, S3 failures are logged by Berth. */
  loglevel: str().optional(),
  /**
   * Berth only. `when_required` (default) sends request checksums only where S3 demands them, as registry:2
   * does; `when_supported` adds the AWS SDK's streaming CRC32 checksums, which Ceph RGW and older MinIO refuse.
   */
  checksums: oneOf(['when_required', 'when_supported']).default('when_required'),
});

/** Parameters of the drivers Berth recognises but does not model key by key yet. */
const otherDriver = () => map(freeform()).optional();

export const storage = choice(
  'storage driver',
  {
    /** Files on a local disk, in Distribution's layout. */
    filesystem: filesystem.optional(),
    /** In memory, lost on exit; for tests. */
    inmemory: section({}).optional(),
    /** Amazon S3 or an S3-compatible service. */
    s3: s3.optional(),
    azure: otherDriver(),
    gcs: otherDriver(),
    swift: otherDriver(),
    oss: otherDriver(),
  },
  {
    delete: group({
      /** Allows DELETE of blobs and manifests; off by default, as in Distribution. */
      enabled: bool().default(false),
    }),
    redirect: group({
      /** Serves blobs through the registry instead of redirecting to the storage backend. */
      disable: bool().default(false),
    }),
    cache: group({
      /** Blob descriptor cache: inmemory or redis; unset means no cache. */
      blobdescriptor: oneOf(['inmemory', 'redis']).optional(),
      /** Entries kept by the inmemory blob descriptor cache. */
      blobdescriptorsize: int({ min: 1 }).optional(),
      /** Berth only: how long a cached blob descriptor is trusted without looking at the storage. */
      blobdescriptorttl: duration().default(ms('10m')),
      /** Old name of `blobdescriptor`, still read by Distribution. */
      layerinfo: oneOf(['inmemory', 'redis']).optional(),
    }),
    maintenance: group({
      uploadpurging: group({
        /** Periodically removes upload sessions older than `age`. */
        enabled: bool().default(true),
        /** Age after which an unfinished upload is removed. */
        age: durationText().default(ms('168h')),
        /** Time between purge runs. */
        interval: durationText().default(ms('24h')),
        /** Only logs what would be removed. */
        dryrun: bool().default(false),
      }),
      readonly: group({
        /** Refuses pushes and deletes (for maintenance such as garbage collection). */
        enabled: bool().default(false),
      }),
      /** Berth only: online garbage collection inside `berth serve` (see docs/garbage-collection.md). */
      gc: group({
        /** Runs garbage collection on a schedule while serving, safely alongside pushes. */
        enabled: bool().default(false),
        /** Time between runs; the first run starts one interval (at most an hour) after start-up. */
        interval: durationText({ positive: true }).default(ms('24h')),
        /** Content pushed or referenced by a push more recently than this is never deleted. */
        graceperiod: durationText({ positive: true }).default(ms('24h')),
        /** Also deletes manifests that no tag keeps alive, as `garbage-collect --delete-untagged`. */
        deleteuntagged: bool().default(false),
        /** Only logs what would be deleted. */
        dryrun: bool().default(false),
      }),
    }),
    tag: group({
      /** Concurrency of tag lookups (Distribution 3 option, accepted so its configs load). */
      concurrencylimit: int({ min: 1 }).optional(),
    }),
  },
  { required: true },
);
