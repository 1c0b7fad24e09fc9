/**
 * The `proxy` section: Distribution's single pull-through upstream (`remoteurl`, `username`, `password`,
 * `ttl`), plus Berth's own keys: several upstreams by name and prefix (`upstreams`), a cache size limit
 * (`maxsize`), an upstream timeout (`timeout`) and containerd mirror namespaces (`namespaces`).
 */
import * as z from 'zod';
import { duration, int, list, section, secret, str, url } from './fields.js';

/** A path of repository-name components, as prefixes are written: `hub`, `mirrors/quay`. */
const PREFIX = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

const upstream = section({
  /** Berth only: names the upstream in errors, logs and counters; unique. */
  name: str().refine((v) => /^[A-Za-z0-9._-]+$/.test(v), { message: 'letters, digits, ".", "_" and "-" only' }),
  /** Berth only: local namespace of the upstream's repositories (`hub` serves `/v2/hub/library/alpine`); defaults to the name. */
  prefix: str()
    .refine((v) => PREFIX.test(v), { message: 'expected repository name components such as hub or mirrors/quay' })
    .optional(),
  /** URL of the upstream registry. */
  remoteurl: url(),
  /** Account on the upstream. */
  username: str().optional(),
  /** Password of `username`. */
  password: secret().optional(),
  /** How long a cached tag is served before it is re-checked upstream; 0 (the default) re-checks on every pull. */
  ttl: duration().optional(),
  /** Largest the upstream's cache may grow, in bytes; least recently pulled blobs go first. */
  maxsize: int({ min: 1 }).optional(),
  /** Longest wait for the upstream's response headers, and longest silence in a body. */
  timeout: duration().optional(),
  /** Values of containerd's `?ns=` that mean this upstream; its host (and docker.io for Docker Hub) by default. */
  namespaces: list(str()).optional(),
});

export const proxy = section({
  /** Upstream registry to cache; setting it makes this a pull-through cache of every repository. */
  remoteurl: url().optional(),
  /** Account on the upstream registry. */
  username: str().optional(),
  /** Password of `username`. */
  password: secret().optional(),
  /** How long a cached tag is served before it is re-checked upstream; 0 (the default) re-checks on every pull. */
  ttl: duration().optional(),
  /** Berth only: largest the cache of `remoteurl` may grow, in bytes. */
  maxsize: int({ min: 1 }).optional(),
  /** Berth only: upstream timeout for `remoteurl` and the default of every upstream (30s). */
  timeout: duration().optional(),
  /** Berth only: `?ns=` values that mean `remoteurl`. */
  namespaces: list(str()).optional(),
  /** Berth only: upstreams cached under their own prefixes, beside ordinary repositories. */
  upstreams: list(upstream).default([]),
})
  .superRefine((value, ctx) => {
    const names = new Set<string>();
    const prefixes = new Set<string>();
    value.upstreams.forEach((entry, index) => {
      const prefix = entry.prefix ?? entry.name;
      if (names.has(entry.name)) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'name'], message: `duplicate upstream name ${JSON.stringify(entry.name)}` });
      if (prefixes.has(prefix)) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'prefix'], message: `duplicate upstream prefix ${JSON.stringify(prefix)}` });
      else if (entry.prefix === undefined && !PREFIX.test(prefix)) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'name'], message: 'is used as the prefix, so it must be a repository name component (lowercase); set prefix' });
      names.add(entry.name);
      prefixes.add(prefix);
    });
  })
  .prefault({});

export type ProxyConfig = z.output<typeof proxy>;
