/**
 * The pull-through cache as a `Registry` decorator: requests for a cached namespace go to the proxy's stores,
 * every other repository to the wrapped registry, so cached namespaces sit beside ordinary push/pull
 * repositories.
 *
 * An upstream is chosen
 * - by containerd's mirror query `?ns=<registry host>` (`/v2/library/alpine/...?ns=docker.io`): the request
 *   names the repository as the upstream knows it, and it is cached under the upstream's prefix;
 * - else by the repository name's first components (`/v2/hub/library/alpine` → `library/alpine` of the
 *   upstream with prefix `hub`); the longest matching prefix wins;
 * - else by the catch-all upstream (prefix ''), Distribution's single `proxy.remoteurl`, which caches every
 *   repository.
 * Docker Hub's official images go upstream as `library/<name>`, as docker does.
 */
import { NameInvalidError } from '../oci/errors.js';
import { validateRepositoryName } from '../oci/reference.js';
import type { PageRequest, Registry, Repository, RepositoryHints } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import { ProxyBlobStore } from './blobs.js';
import { UpstreamClient } from './client.js';
import type { ProxyContext, UpstreamState } from './context.js';
import { FillTable } from './fill.js';
import { CacheLimit } from './limit.js';
import { ProxyManifestStore, ProxyTagStore } from './manifests.js';
import { newCounters, type ProxyLog, type ProxyStats } from './stats.js';

export interface UpstreamOptions {
  /** Unique; names the upstream in errors, logs and counters. */
  name: string;
  /** Local namespace of its repositories, e.g. `hub`; '' caches every repository (Distribution's mode). */
  prefix: string;
  /** `remoteurl`. */
  url: string;
  username?: string;
  password?: string;
  /** How long a cached tag is served before it is re-checked upstream; 0 re-checks on every pull. */
  ttlMs: number;
  /** Longest wait for the upstream's response headers and between chunks of its bodies. */
  timeoutMs: number;
  /** Cache size limit in bytes, with least-recently-pulled eviction; none when absent. */
  maxBytes?: number;
  /** Values of `?ns=` that mean this upstream; its host (and `docker.io` for Docker Hub) when absent. */
  namespaces?: string[];
}

export interface ProxyOptions {
  upstreams: UpstreamOptions[];
  /** The storage the cache lives in (the registry's own). */
  driver: StorageDriver;
  /** A registry on the same storage that the proxy writes cached content through: writable, reference validation off. */
  cache: Registry;
  log: ProxyLog;
  /** Where in-flight blob fills are spooled; the OS temp dir when absent. */
  spoolDir?: string;
}

export interface ProxyRegistry extends Registry {
  /** Counters per upstream name. */
  readonly stats: ProxyStats;
  close(): Promise<void>;
}

const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io']);

interface Upstream {
  options: UpstreamOptions;
  state: UpstreamState;
  namespaces: Set<string>;
  dockerHub: boolean;
}

export function createProxyRegistry(inner: Registry, options: ProxyOptions): ProxyRegistry {
  const stats: ProxyStats = {};
  const upstreams: Upstream[] = options.upstreams.map((upstream) => {
    const client = new UpstreamClient({
      name: upstream.name,
      url: upstream.url,
      username: upstream.username,
      password: upstream.password,
      timeoutMs: upstream.timeoutMs,
    });
    const counters = newCounters();
    stats[upstream.name] = counters;
    const host = new URL(upstream.url).hostname;
    const dockerHub = DOCKER_HUB_HOSTS.has(host);
    const namespaces = new Set(upstream.namespaces ?? [client.host, host, ...(dockerHub ? ['docker.io'] : [])]);
    const limit =
      upstream.maxBytes === undefined
        ? undefined
        : new CacheLimit(options.driver, upstream.prefix, upstream.maxBytes, counters, options.log, upstream.name);
    const state: UpstreamState = {
      client,
      ttlMs: upstream.ttlMs,
      fills: new FillTable(),
      known: new Map(),
      inflight: new Map(),
      counters,
      limit,
      spoolDir: options.spoolDir,
    };
    return { options: upstream, state, namespaces, dockerHub };
  });
  const byPrefix = [...upstreams].sort((a, b) => b.options.prefix.length - a.options.prefix.length);

  function cached(upstream: Upstream, localName: string, remoteName: string, requested: string): Repository {
    validateRepositoryName(localName);
    const remote = upstream.dockerHub && !remoteName.includes('/') ? `library/${remoteName}` : remoteName;
    const ctx: ProxyContext = {
      upstream: upstream.state,
      driver: options.driver,
      log: options.log,
      local: options.cache.repository(localName),
      localName,
      remoteName: remote,
    };
    const manifests = new ProxyManifestStore(ctx);
    return {
      name: requested,
      blobs: new ProxyBlobStore(ctx),
      manifests,
      tags: new ProxyTagStore(ctx, manifests),
      referrers: ctx.local.referrers,
    };
  }

  return {
    stats,
    repository(name: string, hints?: RepositoryHints): Repository {
      validateRepositoryName(name);
      const namespace = hints?.namespace?.toLowerCase();
      const byNamespace = namespace === undefined ? undefined : upstreams.find((u) => u.namespaces.has(namespace));
      if (byNamespace) {
        const { prefix } = byNamespace.options;
        return cached(byNamespace, prefix === '' ? name : `${prefix}/${name}`, name, name);
      }
      for (const upstream of byPrefix) {
        const { prefix } = upstream.options;
        if (prefix === '') return cached(upstream, name, name, name);
        if (name === prefix) throw new NameInvalidError(name, `${prefix} is the namespace of upstream ${upstream.options.name}; name a repository inside it`);
        if (name.startsWith(`${prefix}/`)) return cached(upstream, name, name.slice(prefix.length + 1), name);
      }
      return inner.repository(name, hints);
    },
    catalog(page: PageRequest) {
      return inner.catalog(page);
    },
    async close() {
      await Promise.all(upstreams.map((u) => u.state.client.close()));
    },
  };
}
