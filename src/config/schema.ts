/**
 * The configuration schema: Distribution's `config.yml` (version 0.1), key for key, with the YAML names
 * kept as they are (all lowercase, no underscores: the `REGISTRY_*` overlay splits variable names on `_`).
 *
 * Parsing fills in defaults, so the typed `BerthConfig` has a value for every key that has a default, and
 * durations are milliseconds. Options that Berth reads but does not implement yet are listed in
 * `unsupported.ts`; docs/configuration.md describes every key for users.
 */
import * as z from 'zod';
import {
  bool,
  choice,
  duration,
  durationText,
  freeform,
  group,
  headers,
  int,
  list,
  map,
  ms,
  oneOf,
  pattern,
  secret,
  section,
  str,
  url,
} from './fields.js';
import { withAliases } from './introspect.js';

const logLevel = () => oneOf(['error', 'warn', 'info', 'debug'], { ignoreCase: true });

const log = group({
  /** Least severe level written: error, warn, info or debug (any case). Default info. */
  level: logLevel().optional(),
  /** Line format: text, json or logstash. */
  formatter: oneOf(['text', 'json', 'logstash']).default('text'),
  /** Static fields added to every log line, e.g. `service: registry`. */
  fields: map(freeform()).default({}),
  accesslog: group({
    /** Turns off the one-line-per-request access log. */
    disabled: bool().default(false),
  }),
  /** Log hooks (e.g. mail on error), as in Distribution. */
  hooks: list(
    section({
      disabled: bool().default(false),
      type: str().optional(),
      levels: list(str()).default([]),
      options: freeform().optional(),
    }),
  ).default([]),
  /** Adds the calling function to each log line. */
  reportcaller: bool().default(false),
});

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
  /** AWS region of the bucket. */
  region: str().optional(),
  /** Endpoint of an S3-compatible service (MinIO, Ceph...). */
  regionendpoint: str().optional(),
  /** Path-style (`host/bucket/key`) rather than virtual-hosted requests. */
  forcepathstyle: bool().optional(),
  /** Bucket that holds the registry. */
  bucket: str().optional(),
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
  /** Signature version 4 (default true in Distribution). */
  v4auth: bool().optional(),
  /** Multipart upload part size in bytes (min 5 MiB). */
  chunksize: int().optional(),
  multipartcopychunksize: int().optional(),
  multipartcopymaxconcurrency: int().optional(),
  multipartcopythresholdsize: int().optional(),
  /** STANDARD, REDUCED_REDUNDANCY, ..., or NONE to send no storage class. */
  storageclass: str().optional(),
  /** Canned ACL of stored objects (default private). */
  objectacl: str().optional(),
  useragent: str().optional(),
  usedualstack: bool().optional(),
  accelerate: bool().optional(),
  loglevel: str().optional(),
});

/** Parameters of the drivers Berth recognises but does not model key by key yet. */
const otherDriver = () => map(freeform()).optional();

const storage = choice(
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
    }),
    tag: group({
      /** Concurrency of tag lookups (Distribution 3 option, accepted so its configs load). */
      concurrencylimit: int({ min: 1 }).optional(),
    }),
  },
  { required: true },
);

const auth = choice(
  'auth type',
  {
    /** Test-only controller: any request with an Authorization header passes. */
    silly: section({ realm: str().optional(), service: str().optional() }).optional(),
    /** Bearer tokens issued by an external token server. */
    token: section({
      realm: str().optional(),
      service: str().optional(),
      issuer: str().optional(),
      rootcertbundle: str().optional(),
      jwks: str().optional(),
      autoredirect: bool().default(false),
      signingalgorithms: list(str()).default([]),
    }).optional(),
    /** Basic auth against an Apache htpasswd file (bcrypt entries). */
    htpasswd: section({ realm: str().optional(), path: str().optional() }).optional(),
  },
  {},
  { required: false },
);

const http = group({
  /** Listen address: `host:port` for tcp, a socket path for unix. */
  addr: str().default(':5000'),
  /** tcp or unix. */
  net: oneOf(['tcp', 'unix']).default('tcp'),
  /** Path prefix under which the API is served, e.g. `/registry/`. */
  prefix: str().optional(),
  /** Externally reachable base URL, used to build Location headers. */
  host: url().optional(),
  /** Key for signing upload state; set it when several instances share storage. */
  secret: secret().optional(),
  /** Relative URLs in Location headers. */
  relativeurls: bool().default(false),
  /** How long to wait for in-flight requests on shutdown; 0 stops at once, as in Distribution. */
  draintimeout: duration().default(0),
  /** Headers added to every response, e.g. `X-Content-Type-Options: [nosniff]`. */
  headers: headers().default({}),
  tls: group({
    certificate: str().optional(),
    key: str().optional(),
    clientcas: list(str()).default([]),
    minimumtls: oneOf(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).optional(),
    ciphersuites: list(str()).default([]),
    letsencrypt: group({
      cachefile: str().optional(),
      email: str().optional(),
      hosts: list(str()).default([]),
      directoryurl: url().optional(),
    }),
  }),
  debug: group({
    /** Address of the separate debug server (metrics, health). */
    addr: str().optional(),
    prometheus: group({
      enabled: bool().default(false),
      path: str().default('/metrics'),
    }),
  }),
  http2: group({
    /** Refuses HTTP/2 (only meaningful with TLS). */
    disabled: bool().default(false),
  }),
});

const endpoint = section({
  name: str().optional(),
  disabled: bool().default(false),
  url: url().optional(),
  headers: headers().default({}),
  timeout: duration().optional(),
  threshold: int().optional(),
  backoff: duration().optional(),
  ignoredmediatypes: list(str()).default([]),
  ignore: group({ mediatypes: list(str()).default([]), actions: list(str()).default([]) }),
});

const notifications = withAliases(
  group({
    events: group({
      /** Adds the manifest's references to manifest events. */
      includereferences: bool().default(false),
    }),
    /** Webhooks that receive registry events. */
    endpoints: list(endpoint).default([]),
  }),
  { eventconfig: 'events' },
);

const redis = group({
  addr: str().optional(),
  password: secret().optional(),
  db: int({ min: 0 }).default(0),
  dialtimeout: duration().optional(),
  readtimeout: duration().optional(),
  writetimeout: duration().optional(),
  pool: group({
    maxidle: int({ min: 0 }).optional(),
    maxactive: int({ min: 0 }).optional(),
    idletimeout: duration().optional(),
  }),
  tls: group({ enabled: bool().default(false) }),
});

const check = {
  /** Time between checks. */
  interval: duration().default(ms('10s')),
  /** Failures in a row before the registry reports itself unhealthy; 0 means the first. */
  threshold: int({ min: 0 }).default(0),
};

const health = withAliases(
  group({
    storagedriver: group({ enabled: bool().default(false), ...check }),
    file: list(section({ file: str(), ...check })).default([]),
    http: list(
      section({
        uri: url(),
        headers: headers().default({}),
        statuscode: int().default(200),
        timeout: duration().optional(),
        ...check,
      }),
    ).default([]),
    tcp: list(section({ addr: str(), timeout: duration().optional(), ...check })).default([]),
  }),
  { filecheckers: 'file', httpcheckers: 'http', tcpcheckers: 'tcp' },
);

const middlewareEntry = section({
  name: str(),
  disabled: bool().default(false),
  options: freeform().optional(),
});

const configObject = section({
  /** Configuration format version; must be 0.1. */
  version: str().refine((v) => v === '0.1', { message: 'unsupported version (expected "0.1")' }),
  log,
  /** Deprecated top-level form of `log.level`, used when `log.level` is unset. */
  loglevel: logLevel().optional(),
  storage,
  auth,
  /** Middleware per injection point, applied in order. */
  middleware: group({
    registry: list(middlewareEntry).default([]),
    repository: list(middlewareEntry).default([]),
    storage: list(middlewareEntry).default([]),
  }),
  reporting: group({
    bugsnag: group({ apikey: secret().optional(), releasestage: str().optional(), endpoint: str().optional() }),
    newrelic: group({ licensekey: secret().optional(), name: str().optional(), verbose: bool().default(false) }),
  }),
  http,
  notifications,
  redis,
  health,
  catalog: group({
    /** Most repositories one `/v2/_catalog` response lists; 0 or less means 1000, as in Distribution. */
    maxentries: int()
      .transform((n) => (n > 0 ? n : 1000))
      .default(1000),
  }),
  proxy: group({
    /** Upstream registry to cache; setting it makes this a pull-through cache. */
    remoteurl: url().optional(),
    username: str().optional(),
    password: secret().optional(),
    /** How long cached content is kept; 0 keeps it forever. */
    ttl: duration().optional(),
  }),
  compatibility: group({
    schema1: withAliases(group({ signingkeyfile: str().optional(), enabled: bool().default(false) }), {
      trustkey: 'signingkeyfile',
    }),
  }),
  validation: group({
    /** Deprecated: ignored, use `disabled`. */
    enabled: bool().optional(),
    /** Turns off the checks below. */
    disabled: bool().default(false),
    manifests: group({
      urls: group({
        /** Regular expressions that foreign-layer URLs in pushed manifests must match. */
        allow: list(pattern()).default([]),
        /** Regular expressions that foreign-layer URLs in pushed manifests must not match. */
        deny: list(pattern()).default([]),
      }),
    }),
  }),
  policy: group({
    repository: group({
      /** Config media type classes allowed in pushed manifests; empty allows all. */
      classes: list(str()).default([]),
    }),
  }),
});

/** The whole configuration, with `loglevel` folded into `log.level` the way Distribution does. */
export const configSchema = configObject.transform(({ version, loglevel, log: { level, ...log }, ...rest }) => ({
  version,
  log: { level: level ?? loglevel ?? ('info' as const), ...log },
  ...rest,
}));

export type BerthConfig = z.output<typeof configSchema>;
export type StorageConfig = BerthConfig['storage'];

export const STORAGE_DRIVERS = ['filesystem', 'inmemory', 's3', 'azure', 'gcs', 'swift', 'oss'] as const;
export type StorageDriverName = (typeof STORAGE_DRIVERS)[number];

/** The one storage driver the configuration selects (the schema guarantees exactly one). */
export function storageDriverName(storage: StorageConfig): StorageDriverName {
  const name = STORAGE_DRIVERS.find((driver) => storage[driver] !== undefined);
  if (!name) throw new Error('no storage driver configured');
  return name;
}
