/**
 * Counters of one upstream's cache, as plain numbers that a metrics exporter can read later. Counted per
 * client request: a request served from the cache is a hit; one that needed the upstream (or joined a fill
 * another request started) is a miss.
 */
export interface ProxyCounters {
  hits: number;
  misses: number;
  /** Misses that joined an upstream fetch already running instead of starting one. */
  coalesced: number;
  /** Bytes received from the upstream: blobs and manifests. */
  upstreamBytes: number;
  /** Cached tags served because the upstream could not be asked. */
  staleServed: number;
  /** Upstream requests that failed (unreachable, timed out, 429, 5xx, refused). */
  upstreamErrors: number;
  evictedBlobs: number;
  evictedBytes: number;
}

export function newCounters(): ProxyCounters {
  return { hits: 0, misses: 0, coalesced: 0, upstreamBytes: 0, staleServed: 0, upstreamErrors: 0, evictedBlobs: 0, evictedBytes: 0 };
}

/** The counters of every upstream, by upstream name. */
export type ProxyStats = Record<string, ProxyCounters>;

/** What the cache logs through: pino's Logger fits. */
export interface ProxyLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
