/**
 * The configuration schema: Distribution's `config.yml` (version 0.1), key for key, with the YAML names
 * kept as they are (all lowercase, no underscores: the `REGISTRY_*` overlay splits variable names on `_`).
 *
 * Parsing fills in defaults, so the typed `BerthConfig` has a value for every key that has a default, and
 * durations are milliseconds. Options that Berth reads but does not implement yet are listed in
 * `unsupported.ts`; docs/configuration.md describes every key for users.
 */
import * as z from 'zod';
import { bool, countOrAuto, duration, freeform, group, headers, int, list, map, oneOf, pattern, secret, section, str, url } from './fields.js';
import { withAliases } from './introspect.js';
import { proxy } from './proxy-schema.js';
import { auth, health, middlewareEntry, notifications, redis } from './services-schema.js';
import { storage } from './storage-schema.js';

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
      /** Keeps the hook configured but unused. */
      disabled: bool().default(false),
      /** Hook kind, e.g. `mail`. */
      type: str().optional(),
      /** Levels that fire the hook. */
      levels: list(str()).default([]),
      /** Parameters of the hook (for mail: smtp, from, to). */
      options: freeform().optional(),
    }),
  ).default([]),
  /** Adds the calling function to each log line. */
  reportcaller: bool().default(false),
  /** Berth only: the audit stream of pushes, deletes, logins and refused requests, as JSON lines. */
  audit: group({
    /** Writes the audit stream. */
    enabled: bool().default(false),
    /** File the stream is appended to; stdout when unset or `-`. */
    path: str().optional(),
  }),
});

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
  /**
   * Berth only: send blob bodies from the filesystem driver with sendfile(2) (Linux, plain HTTP/1.x, when the
   * addon was built); false streams them through userspace as on other systems.
   */
  sendfile: bool().default(true),
  /**
   * Berth only: large upload bodies (plain HTTP/1.x, Content-Length of 4 MiB or more, when the addon was
   * built) are read from the socket by the addon's threads, and the connection is closed after the response.
   */
  directuploads: bool().default(true),
  /** Headers added to every response, e.g. `X-Content-Type-Options: [nosniff]`. */
  headers: headers().default({}),
  /**
   * Berth only: processes serving requests, sharing the listening socket; `auto` is one per core. The primary
   * process restarts a worker that dies and runs maintenance (upload purging) once for all.
   */
  workers: countOrAuto().default(1),
  tls: group({
    /** PEM certificate (chain) file to serve HTTPS with. */
    certificate: str().optional(),
    /** PEM private key file of `certificate`. */
    key: str().optional(),
    /** CA files; when set, clients must present a certificate signed by one. */
    clientcas: list(str()).default([]),
    /** Oldest TLS version accepted (Distribution's default is tls1.2). */
    minimumtls: oneOf(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).optional(),
    /** Allowed cipher suites, by Go name. */
    ciphersuites: list(str()).default([]),
    letsencrypt: group({
      /** File that keeps the ACME account and certificates; setting it turns ACME on. */
      cachefile: str().optional(),
      /** Contact address of the ACME account. */
      email: str().optional(),
      /** Host names a certificate may be obtained for. */
      hosts: list(str()).default([]),
      /** ACME directory; Let's Encrypt when unset. */
      directoryurl: url().optional(),
    }),
  }),
  debug: group({
    /** Address of the separate debug server (metrics, health). */
    addr: str().optional(),
    prometheus: group({
      /** Serves Prometheus metrics on the debug server. */
      enabled: bool().default(false),
      /** Path of the metrics endpoint. */
      path: str().default('/metrics'),
    }),
  }),
  http2: group({
    /** Refuses HTTP/2 (only meaningful with TLS). */
    disabled: bool().default(false),
  }),
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
    bugsnag: group({
      /** Bugsnag API key; setting it turns reporting on. */
      apikey: secret().optional(),
      /** Deployment stage reported, e.g. production. */
      releasestage: str().optional(),
      /** Enterprise Bugsnag endpoint. */
      endpoint: str().optional(),
    }),
    newrelic: group({
      /** New Relic license key; setting it turns reporting on. */
      licensekey: secret().optional(),
      /** Component name in New Relic. */
      name: str().optional(),
      /** Debug output of the agent. */
      verbose: bool().default(false),
    }),
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
  proxy,
  compatibility: group({
    schema1: withAliases(
      group({
        /** Key that signs schema1 manifests served to old clients. */
        signingkeyfile: str().optional(),
        /** Accepts and serves Docker schema1 manifests. */
        enabled: bool().default(false),
      }),
      { trustkey: 'signingkeyfile' },
    ),
  }),
  validation: group({
    /** Deprecated: ignored, use `disabled`. */
    enabled: bool().optional(),
    /** Turns off the checks below. */
    disabled: bool().default(false),
    manifests: group({
      /** Berth only: the largest manifest accepted, in bytes (4 MiB, the size the spec asks registries to take). */
      maxsize: int({ min: 1024 }).default(4 * 1024 * 1024),
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
