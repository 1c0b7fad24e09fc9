/**
 * Worker mode (`http.workers` > 1): one primary process and N workers forked with Node's `cluster`.
 *
 * - The workers share the listening socket (the primary accepts and hands connections out round-robin), and
 *   each serves requests exactly as a single `berth serve` would. They keep no state another process relies
 *   on: everything lives in storage, as with separate replicas (an upload may PATCH on one worker and PUT on
 *   another; the in-memory running hash only serves when it covers exactly the bytes in storage).
 * - The primary serves no requests. It runs the singletons (upload purging) once, replaces a worker that dies,
 *   and on SIGTERM/SIGINT tells every worker to drain (each honours `http.draintimeout`), then exits once
 *   they all have. It never loads the HTTP stack (only workers import `serve.ts`), and the processes split
 *   the content cache's budget, so that N workers take little more memory than one server.
 * - A worker that exits before it ever listened (a port in use, an unreadable storage root) stops the whole
 *   server with exit code 1 rather than being restarted in a loop.
 * - Workers get the primary's effective configuration (in BERTH_WORKER_CONFIG), so a replacement worker serves
 *   with the settings the server started with even if the file changed since.
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import type { Logger } from 'pino';
import type { BerthConfig } from '../config/schema.js';
import { storageDriverName } from '../config/storage-driver.js';
import { createLogger } from './logging.js';
import { scheduleGarbageCollection } from './gc.js';
import { createStorageDriver, scheduleUploadPurging } from './storage.js';

const CONFIG_ENV = 'BERTH_WORKER_CONFIG';

/** `http.workers` as a process count: `auto` is one per core. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? os.availableParallelism() : setting;
}

/**
 * Settings whose state lives in one process, so that N workers would each keep their own: refused rather than
 * served wrongly (in-memory storage would be N registries; metrics would be one random worker's; each
 * worker would open the same notification queues).
 */
export function workerModeProblems(config: BerthConfig): string[] {
  const problems: string[] = [];
  if (storageDriverName(config.storage) === 'inmemory') problems.push('http.workers > 1 needs shared storage; storage.inmemory lives in one process');
  if (config.http.debug.addr !== undefined) problems.push('not supported yet: http.debug with http.workers > 1');
  if (config.notifications.endpoints.some((e) => !e.disabled)) problems.push('not supported yet: notifications.endpoints with http.workers > 1');
  return problems;
}

export async function servePrimary(config: BerthConfig, warnings: string[], source: string, count: number): Promise<void> {
  const problems = workerModeProblems(config);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const logger = createLogger(config.log);
  for (const warning of warnings) logger.warn(warning);
  logger.info({ config: source, workers: count }, 'starting berth with workers');
  const env = { [CONFIG_ENV]: JSON.stringify(config) };
  const listening = new Set<Worker>();
  let stopping = false;
  let stopMaintenance = () => {};

  const finish = (code: number) => {
    stopMaintenance();
    logger.info({ code }, 'stopped');
    logger.flush();
    process.exit(code);
  };
  const stopAll = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down: workers drain in-flight requests');
    stopMaintenance();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };

  let failed = false;
  let announced = false;
  cluster.on('listening', (worker, address) => {
    listening.add(worker);
    if (listening.size === count && !announced) {
      announced = true;
      logger.info({ address: formatAddress(address), workers: count }, 'listening');
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    const wasListening = listening.delete(worker);
    if (!stopping && !wasListening) {
      logger.error({ worker: worker.id, code, signal }, 'worker exited before it could serve; stopping');
      failed = true;
      stopAll('worker failed to start');
    } else if (!stopping) {
      logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
      cluster.fork(env);
    }
    if (stopping && Object.keys(cluster.workers ?? {}).length === 0) finish(failed ? 1 : 0);
  });
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));

  for (let i = 0; i < count; i += 1) cluster.fork(env);
  // Maintenance runs once, here: online GC in particular must have a single collector.
  const driver = await createStorageDriver(config, { processes: count });
  const stopPurging = scheduleUploadPurging(config, driver, logger);
  const stopCollecting = scheduleGarbageCollection(config, driver, logger);
  stopMaintenance = () => {
    stopPurging();
    void stopCollecting();
  };
}

/** The body of a worker process: serve with the primary's configuration until told to drain. */
export async function serveWorker(): Promise<void> {
  const snapshot = process.env[CONFIG_ENV];
  if (snapshot === undefined) throw new Error(`a cluster worker needs ${CONFIG_ENV} from its primary`);
  const config = JSON.parse(snapshot) as BerthConfig;
  const logger: Logger = createLogger({ ...config.log, fields: { ...config.log.fields, worker: cluster.worker?.id } });
  // Only workers load the HTTP stack: the primary stays small.
  const { drainOnSignals, startServer } = await import('./serve.js');
  const server = await startServer(config, logger, { maintenance: false, processes: workerCount(config.http.workers) });
  drainOnSignals(logger, config.http.draintimeout, () => server.close());
}

function formatAddress(address: { address: string | null; port: number; addressType: number | string }): string {
  if (address.addressType === -1) return String(address.address);
  const host = address.address === null || address.address === '' ? '::' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}
