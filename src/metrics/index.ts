/**
 * Every Prometheus metric Berth exports, on one prom-client registry per `Metrics` instance (tests build
 * their own; `berth serve` builds one and hands it to each layer).
 *
 * Distribution 2.8's names, labels and buckets are kept so that registry:2 dashboards and alerts work as
 * they are: `registry_http_*` come from docker/go-metrics' `NewDefaultHttpMetrics` (the `handler` label is
 * the route name, `method` lower case, `code` the bare status), `registry_storage_action_seconds` from
 * `storage/driver/base`, `registry_storage_cache_total{type}` from `storage/cache`, `registry_notifications_*` from `notifications/metrics.go`. Berth's own metrics
 * are named `berth_*`. Labels never carry digests or full repository names: repositories are reduced to a
 * bounded set of namespaces (see `namespaceLabel`).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** docker/go-metrics' default buckets. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60];
/** 1 KiB to 4 GiB, doubling (go-metrics: `ExponentialBuckets(1024, 2, 22)`). */
const SIZE_BUCKETS = Array.from({ length: 22 }, (_, i) => 1024 * 2 ** i);
/** Prometheus' default buckets, which Distribution's storage timer uses. */
const STORAGE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Distinct namespaces labelled before the rest are counted as `_other`. */
export const MAX_NAMESPACES = 100;

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'registry_http_requests_total',
    help: 'Total number of HTTP requests made.',
    labelNames: ['handler', 'code', 'method'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'The HTTP request latencies in seconds.',
    labelNames: ['handler', 'method'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly httpRequestSize = new Histogram({
    name: 'registry_http_request_size_bytes',
    help: 'The HTTP request sizes in bytes.',
    labelNames: ['handler'] as const,
    buckets: SIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly httpResponseSize = new Histogram({
    name: 'registry_http_response_size_bytes',
    help: 'The HTTP response sizes in bytes.',
    labelNames: ['handler'] as const,
    buckets: SIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly httpInFlight = new Gauge({
    name: 'registry_http_in_flight_requests',
    help: 'The in-flight HTTP requests',
    labelNames: ['handler'] as const,
    registers: [this.registry],
  });

  readonly storageAction = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'The number of seconds that the storage action takes',
    labelNames: ['driver', 'action'] as const,
    buckets: STORAGE_BUCKETS,
    registers: [this.registry],
  });

  readonly storageCache = new Counter({
    name: 'registry_storage_cache_total',
    help: 'The number of cache request received',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  readonly notificationEvents = new Counter({
    name: 'registry_notifications_events_total',
    help: 'The number of total events',
    labelNames: ['type', 'endpoint'] as const,
    registers: [this.registry],
  });
  readonly notificationsPending = new Gauge({
    name: 'registry_notifications_pending_total',
    help: 'The gauge of pending events in queue',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  readonly notificationStatus = new Counter({
    name: 'registry_notifications_status_total',
    help: 'The number of status code',
    labelNames: ['code', 'endpoint'] as const,
    registers: [this.registry],
  });

  readonly bytesPushed = new Counter({
    name: 'berth_bytes_pushed_total',
    help: 'Bytes received into blob uploads and manifests, by repository namespace.',
    labelNames: ['namespace'] as const,
    registers: [this.registry],
  });
  readonly bytesPulled = new Counter({
    name: 'berth_bytes_pulled_total',
    help: 'Bytes of blobs and manifests served (counted when the response starts), by repository namespace.',
    labelNames: ['namespace'] as const,
    registers: [this.registry],
  });
  readonly uploadsStarted = new Counter({
    name: 'berth_upload_sessions_started_total',
    help: 'Blob upload sessions started.',
    registers: [this.registry],
  });
  readonly uploadsClosed = new Counter({
    name: 'berth_upload_sessions_closed_total',
    help: 'Blob upload sessions ended: committed, cancelled, or purged as stale.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'berth_auth_failures_total',
    help: 'Requests refused for authentication (401) or authorization (403), by route.',
    labelNames: ['handler', 'code'] as const,
    registers: [this.registry],
  });
  readonly healthChecksFailing = new Gauge({
    name: 'berth_health_checks_failing',
    help: 'Health checks currently failing (the registry answers 503 while this is above 0).',
    registers: [this.registry],
  });

  readonly #namespaces = new Set<string>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The label for a repository: its first path component (`team` for `team/app`), `_` for single-component
   * names, and `_other` once MAX_NAMESPACES distinct namespaces have been seen, so cardinality stays bounded.
   */
  namespaceLabel(repository: string): string {
    const slash = repository.indexOf('/');
    const namespace = slash < 0 ? '_' : repository.slice(0, slash);
    if (this.#namespaces.has(namespace)) return namespace;
    if (this.#namespaces.size >= MAX_NAMESPACES) return '_other';
    this.#namespaces.add(namespace);
    return namespace;
  }

  /** The text exposition format, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
