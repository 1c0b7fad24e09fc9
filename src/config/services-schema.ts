/**
 * Sections that connect the registry to other services or extend it: auth, notifications, redis, health
 * checks, middleware. Parsed and validated now; most are listed in `unsupported.ts` until implemented.
 */
import { bool, choice, duration, freeform, group, headers, int, list, ms, oneOf, secret, section, str, url } from './fields.js';
import { withAliases } from './introspect.js';

export const auth = choice(
  'auth type',
  {
    /** Test-only controller: any request with an Authorization header passes. */
    silly: section({
      /** Realm in the challenge. */
      realm: str().optional(),
      /** Service in the challenge. */
      service: str().optional(),
    }).optional(),
    /** Bearer tokens issued by an external token server. */
    token: section({
      /** URL of the token server, sent in the challenge. */
      realm: str().optional(),
      /** Audience tokens must be issued for. */
      service: str().optional(),
      /** Issuer tokens must name. */
      issuer: str().optional(),
      /** PEM certificates whose keys may sign tokens. */
      rootcertbundle: str().optional(),
      /** JWKS file with keys that may sign tokens. */
      jwks: str().optional(),
      /** Builds the realm from the request's host. */
      autoredirect: bool().default(false),
      /** JWS algorithms accepted on tokens. */
      signingalgorithms: list(str()).default([]),
      /**
       * Berth only: how long an upload session started under a valid token keeps accepting its PATCH and PUT
       * from the same subject after the token expires; 0 turns this off.
       */
      uploadgrace: duration().default(ms('1h')),
      /** Berth only: clock skew tolerated on `nbf` and `exp` (Distribution's fixed value is 60s). */
      leeway: duration().default(ms('60s')),
      /** Berth only: the built-in token service, issuing tokens at the realm's path. */
      builtin: section({
        /** PEM private key (EC P-256/P-384, RSA or Ed25519) that signs tokens; an EC P-256 key is generated here if missing. */
        signingkey: str(),
        /** htpasswd file (bcrypt) of the accounts that may sign in; without it only anonymous rules apply. */
        accounts: str().optional(),
        /** Lifetime of issued tokens. */
        expiration: duration().default(ms('5m')),
        /** Lifetime of refresh tokens (OAuth2 `access_type=offline`, `offline_token=true`). */
        refreshexpiration: duration().default(ms('720h')),
        /** Who may do what: the union of the matching rules is granted, intersected with what is asked. */
        access: list(
          section({
            /** Account names the rule applies to; `*` is every signed-in account. */
            accounts: list(str()).default([]),
            /** Applies to requests without credentials too. */
            anonymous: bool().default(false),
            /** Repository name patterns: `*` matches within one path component, `**` across components. */
            repositories: list(str()).default([]),
            /** Actions granted on those repositories. */
            actions: list(oneOf(['pull', 'push', 'delete', '*'])).default([]),
            /** Also grants `registry:catalog:*` (listing repositories). */
            catalog: bool().default(false),
          }),
        ).default([]),
      }).optional(),
    }).optional(),
    /** Basic auth against an Apache htpasswd file (bcrypt entries). */
    htpasswd: section({
      /** Realm in the Basic challenge. */
      realm: str().optional(),
      /** The htpasswd file. */
      path: str().optional(),
    }).optional(),
  },
  {},
  { required: false },
);

const endpoint = section({
  /** Name of the endpoint in logs and metrics. */
  name: str().optional(),
  /** Keeps the endpoint configured but sends it nothing. */
  disabled: bool().default(false),
  /** Where events are POSTed. */
  url: url().optional(),
  /** Headers sent with every POST (Authorization values are masked when printed). */
  headers: headers().default({}),
  /** Time allowed for one POST. */
  timeout: duration().optional(),
  /** Failures in a row before backing off. */
  threshold: int().optional(),
  /** Pause after `threshold` failures. */
  backoff: duration().optional(),
  /** Target media types whose events are not sent (older form of `ignore.mediatypes`). */
  ignoredmediatypes: list(str()).default([]),
  ignore: group({
    /** Target media types whose events are not sent. */
    mediatypes: list(str()).default([]),
    /** Actions (pull, push, delete, mount) whose events are not sent. */
    actions: list(oneOf(['pull', 'push', 'delete', 'mount'])).default([]),
  }),
  /** Berth only: key for the `X-Berth-Signature-256` HMAC-SHA256 of each delivery's body. */
  secret: secret().optional(),
});

export const notifications = withAliases(
  group({
    events: group({
      /** Adds the manifest's references to manifest events. */
      includereferences: bool().default(false),
    }),
    /** Webhooks that receive registry events. */
    endpoints: list(endpoint).default([]),
    /**
     * Berth only: directory of the durable per-endpoint event queues (local to this instance). Default:
     * `<storage.filesystem.rootdirectory>/.berth/notifications`; required with other storage drivers.
     */
    queuedir: str().optional(),
  }),
  { eventconfig: 'events' },
);

export const redis = group({
  /** `host:port` of the Redis server; unset means no Redis. */
  addr: str().optional(),
  /** Berth only (Distribution 3 spelling): `host:port` of several Redis Cluster nodes, instead of `addr`. */
  addrs: list(str()).default([]),
  /** Berth only: prefix of every key Berth writes, so registries can share one Redis database. */
  keyprefix: str().default('berth:'),
  /** Password for AUTH. */
  password: secret().optional(),
  /** Database number. */
  db: int({ min: 0 }).default(0),
  /** Time allowed to connect. */
  dialtimeout: duration().optional(),
  /** Time allowed for one read. */
  readtimeout: duration().optional(),
  /** Time allowed for one write. */
  writetimeout: duration().optional(),
  pool: group({
    /** Idle connections kept open. */
    maxidle: int({ min: 0 }).optional(),
    /** Most connections open at once. */
    maxactive: int({ min: 0 }).optional(),
    /** Idle time after which a connection is closed. */
    idletimeout: duration().optional(),
  }),
  tls: group({
    /** TLS to the Redis server. */
    enabled: bool().default(false),
  }),
});

const check = {
  /** Time between checks. */
  interval: duration().default(ms('10s')),
  /** Failures in a row before the registry reports itself unhealthy; 0 means the first. */
  threshold: int({ min: 0 }).default(0),
};

export const health = withAliases(
  group({
    /** Periodic check that the storage driver answers. */
    storagedriver: group({
      /** Runs the check. */
      enabled: bool().default(false),
      ...check,
    }),
    /** Unhealthy while the named file exists. */
    file: list(
      section({
        /** Path whose existence means unhealthy. */
        file: str(),
        ...check,
      }),
    ).default([]),
    /** Unhealthy while the URI does not answer with `statuscode`. */
    http: list(
      section({
        /** URL to request. */
        uri: url(),
        /** Headers sent with the request. */
        headers: headers().default({}),
        /** Status a healthy answer has. */
        statuscode: int().default(200),
        /** Time allowed for one request. */
        timeout: duration().optional(),
        ...check,
      }),
    ).default([]),
    /** Unhealthy while a TCP connection to `addr` fails. */
    tcp: list(
      section({
        /** `host:port` to connect to. */
        addr: str(),
        /** Time allowed to connect. */
        timeout: duration().optional(),
        ...check,
      }),
    ).default([]),
  }),
  { filecheckers: 'file', httpcheckers: 'http', tcpcheckers: 'tcp' },
);

export const middlewareEntry = section({
  /** Registered name of the middleware, e.g. `cloudfront`, `redirect`. */
  name: str(),
  /** Keeps the entry configured but unused. */
  disabled: bool().default(false),
  /** Parameters passed to the middleware. */
  options: freeform().optional(),
});
