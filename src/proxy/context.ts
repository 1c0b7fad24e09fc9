/** What the proxy's stores share: per upstream (client, fills, counters, limit) and per repository (names). */
import type { Repository } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import type { UpstreamClient } from './client.js';
import type { FillTable } from './fill.js';
import type { CacheLimit } from './limit.js';
import type { ProxyCounters, ProxyLog } from './stats.js';

/** One upstream and the state shared by all of its repositories. */
export interface UpstreamState {
  client: UpstreamClient;
  /** How long a cached tag is served before the upstream is asked again; 0 asks on every pull. */
  ttlMs: number;
  fills: FillTable;
  /** Blobs the upstream confirmed for a repository (`name@digest` → size), so joiners skip the HEAD. */
  known: Map<string, number>;
  /** Upstream requests in progress, by what they fetch: concurrent identical requests share one. */
  inflight: Map<string, Promise<unknown>>;
  counters: ProxyCounters;
  limit?: CacheLimit;
  spoolDir?: string;
}

export interface ProxyContext {
  upstream: UpstreamState;
  driver: StorageDriver;
  log: ProxyLog;
  /** The repository as stored in the cache (writable, reference validation off). */
  local: Repository;
  /** The repository's name in the cache, e.g. `hub/library/alpine`. */
  localName: string;
  /** Its name upstream, e.g. `library/alpine`. */
  remoteName: string;
}

/** Runs `task` unless the same `key` is already running, in which case its result is shared. */
export function shared<T>(state: UpstreamState, key: string, task: () => Promise<T>): Promise<T> {
  const running = state.inflight.get(key);
  if (running) return running as Promise<T>;
  const started = task().finally(() => state.inflight.delete(key));
  state.inflight.set(key, started);
  return started;
}

const MAX_KNOWN = 10_000;

export function remember(state: UpstreamState, key: string, size: number): void {
  if (state.known.size >= MAX_KNOWN) state.known.delete(state.known.keys().next().value!);
  state.known.set(key, size);
}
