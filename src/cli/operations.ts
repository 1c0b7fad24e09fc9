/**
 * Builds the operational parts `berth serve` runs beside the API from the configuration: health checks,
 * the notification sink, and the audit stream.
 */
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { BerthConfig } from '../config/schema.js';
import { storageDriverName } from '../config/storage-driver.js';
import type { EndpointSettings } from '../events/endpoint.js';
import type { SourceRecord } from '../events/event.js';
import { Notifier } from '../events/notifier.js';
import { fileCheck, HealthChecks, httpCheck, storageDriverCheck, tcpCheck } from '../health/checks.js';
import type { Metrics } from '../metrics/index.js';
import type { StorageDriver } from '../storage/driver.js';

/** Distribution's default for http and tcp checks without a timeout. */
const CHECK_TIMEOUT_MS = 5_000;

export function createHealthChecks(config: BerthConfig, driver: StorageDriver, metrics?: Metrics): HealthChecks {
  const health = new HealthChecks({ onChange: (failing) => metrics?.healthChecksFailing.set(failing) });
  const { storagedriver, file, http, tcp } = config.health;
  const schedule = (c: { interval: number; threshold: number }) => ({ intervalMs: c.interval || 10_000, threshold: c.threshold });
  if (storagedriver.enabled) {
    health.register(`storagedriver_${storageDriverName(config.storage)}`, storageDriverCheck(driver), schedule(storagedriver));
  }
  for (const c of file) health.register(`file_${c.file}`, fileCheck(c.file), schedule(c));
  for (const c of http) {
    health.register(`http_${c.uri}`, httpCheck(c.uri, c.statuscode, c.timeout || CHECK_TIMEOUT_MS, c.headers), schedule(c));
  }
  for (const c of tcp) health.register(`tcp_${c.addr}`, tcpCheck(c.addr, c.timeout || CHECK_TIMEOUT_MS), schedule(c));
  return health;
}

/** `notifications.queuedir`, or its default next to the registry's data. */
function queueDir(config: BerthConfig): string {
  if (config.notifications.queuedir !== undefined) return path.resolve(config.notifications.queuedir);
  const driver = storageDriverName(config.storage);
  if (driver === 'filesystem') return path.resolve(config.storage.filesystem!.rootdirectory, '.berth', 'notifications');
  // In-memory storage keeps nothing across restarts, so neither need its events.
  if (driver === 'inmemory') return path.join(tmpdir(), `berth-notifications-${process.pid}`);
  throw new Error(`notifications.queuedir: required with storage.${driver} (a local directory for the event queues)`);
}

function endpointSettings(config: BerthConfig): EndpointSettings[] {
  return config.notifications.endpoints
    .filter((endpoint) => !endpoint.disabled)
    .map((endpoint, index) => {
      const where = `notifications.endpoints[${index}]`;
      if (endpoint.name === undefined || endpoint.name === '') throw new Error(`${where}.name: required`);
      if (endpoint.url === undefined) throw new Error(`${where}.url: required`);
      return {
        name: endpoint.name,
        url: endpoint.url,
        headers: endpoint.headers,
        // Distribution's defaults for unset or zero values.
        timeoutMs: endpoint.timeout || 1_000,
        threshold: endpoint.threshold && endpoint.threshold > 0 ? endpoint.threshold : 10,
        backoffMs: endpoint.backoff || 1_000,
        secret: endpoint.secret,
        ignoredMediaTypes: [...endpoint.ignoredmediatypes, ...endpoint.ignore.mediatypes],
        ignoredActions: endpoint.ignore.actions,
      };
    });
}

export interface Notifications {
  notifier: Notifier;
  source: SourceRecord;
  includeReferences: boolean;
}

/** The notification sink, or undefined when no endpoint is enabled. */
export async function createNotifications(
  config: BerthConfig,
  logger: Logger,
  listenPort: number | undefined,
  metrics?: Metrics,
): Promise<Notifications | undefined> {
  const endpoints = endpointSettings(config);
  if (endpoints.length === 0) return undefined;
  const notifier = await Notifier.open({ endpoints, queueDir: queueDir(config), logger, metrics });
  return {
    notifier,
    // As Distribution: this host and the API's port, and an id that changes with every start.
    source: { addr: `${hostname()}:${listenPort ?? ''}`, instanceID: randomUUID() },
    includeReferences: config.notifications.events.includereferences,
  };
}

/** The audit stream's logger: JSON lines with the configured static fields, to a file or stdout. */
export function createAuditLogger(config: BerthConfig): Logger | undefined {
  const { enabled, path: file } = config.log.audit;
  if (!enabled) return undefined;
  const destination = file === undefined || file === '-' ? pino.destination(1) : pino.destination({ dest: file, mkdir: true, sync: false });
  return pino(
    { level: 'info', base: { ...config.log.fields, stream: 'audit' }, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
}
