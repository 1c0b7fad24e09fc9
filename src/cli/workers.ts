/**
 * Worker mode (`http.workers` > 1): the process started serves, and forks N - 1 more that serve `http.addr`
 * with it.
 *
 * - Each process binds its own socket to `http.addr` with SO_REUSEPORT (through the native addon), and the
 *   kernel spreads new connections evenly over them by their addresses; no process spends CPU passing
 *   connections on (as the primary of Node's `cluster` module does, accepting every connection and sending
 *   it to a worker). The first binds only if the address is free, so a second server can never join it; its
 *   workers bind the port it got. Without the addon, or on a Unix socket, the first process hands its
 *   listening socket to each worker over the IPC channel instead and they all accept from it; the kernel
 *   then gives a connection to whichever process waits first, and a burst of them may land mostly on one.
 * - Each serves requests exactly as a single `berth serve` would. They keep no state another process relies
 *   on: everything lives in storage, as with separate replicas (an upload may PATCH on one process and PUT
 *   on another; the in-memory running hash only serves when it covers exactly the bytes in storage).
 * - The first process also runs the singletons (upload purging, online GC) once, replaces a worker that dies,
 *   and on SIGTERM/SIGINT drains itself and tells every worker to drain (each honours
 *   `http.draintimeout`), then exits once they all have. Serving from it instead of keeping a primary that
 *   only supervises saves a whole Node process: about 60 MiB of resident memory, 40 of them the `node`
 *   binary's pages, which `ps` counts again in every process. The cost: if the first process dies, its
 *   workers stop too (they drain and exit when its IPC channel closes), as a single server would.
 * - A worker that exits before it ever listened (unreadable storage, a crash at start) stops the whole
 *   server with exit code 1 rather than being restarted in a loop.
 * - Workers get the first process's effective configuration (in BERTH_WORKER_CONFIG), so a replacement
 *   serves with the settings the server started with even if the file changed since, and load no config
 *   parser. Log lines carry `worker=<n>`: 1 for the first process, 2 and up for the workers it forked.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { BerthConfig } from '../config/schema.js';
import { storageDriverName } from '../config/storage-driver.js';
import { createLogger } from './logging.js';
import type { ShareListener } from './serve.js';

const CONFIG_ENV = 'BERTH_WORKER_CONFIG';
const ID_ENV = 'BERTH_WORKER_ID';

/**
 * Messages on a worker's IPC channel: it asks how to listen, is told the port to bind (or given the socket's
 * handle along with the message), and says when it serves.
 */
type WorkerMessage = { berth: 'listen?' } | { berth: 'listen'; reusePort?: number } | { berth: 'listening' };

/** `http.workers` as a process count: `auto` is one per core. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? os.availableParallelism() : setting;
}

/** True in a process forked by `servePrimary`. */
export function isWorkerProcess(): boolean {
  return process.send !== undefined && process.env[CONFIG_ENV] !== undefined;
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

const isWorkerMessage = (message: unknown, kind: WorkerMessage['berth']): boolean =>
  typeof message === 'object' && message !== null && (message as { berth?: unknown }).berth === kind;

/** Serves as worker 1, and forks `count - 1` workers that serve `http.addr` beside it. */
export async function servePrimary(config: BerthConfig, warnings: string[], source: string, count: number): Promise<void> {
  const problems = workerModeProblems(config);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const logger = createLogger({ ...config.log, fields: { ...config.log.fields, worker: 1 } });
  for (const warning of warnings) logger.warn(warning);
  logger.info({ config: source, workers: count }, 'starting berth with workers');
  const { canReusePort, drainOnSignals, parseListenAddress, startServer } = await import('./serve.js');
  const reusePort = canReusePort(parseListenAddress(config.http.addr, config.http.net));
  const server = await startServer(config, logger, { processes: count, ...(reusePort && { share: { reusePort: { first: true } } }) });

  const env = { ...process.env, [CONFIG_ENV]: JSON.stringify(config) };
  const workers = new Set<ChildProcess>();
  const listening = new Set<ChildProcess>();
  let stopping = false;
  let lastId = 1;
  let announced = false;
  let allExited = () => {};

  const stop = drainOnSignals(logger, config.http.draintimeout, async () => {
    stopping = true;
    const exited = new Promise<void>((resolve) => {
      allExited = resolve;
      if (workers.size === 0) resolve();
    });
    for (const worker of workers) worker.kill('SIGTERM');
    await Promise.all([server.close(), exited]);
  });

  const start = () => {
    lastId += 1;
    const id = lastId;
    const worker = fork(process.argv[1]!, process.argv.slice(2), { env: { ...env, [ID_ENV]: String(id) }, execArgv: process.execArgv });
    workers.add(worker);
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message, 'listen?')) {
        if (server.reusePort) worker.send({ berth: 'listen', reusePort: server.port } satisfies WorkerMessage);
        else worker.send({ berth: 'listen' } satisfies WorkerMessage, server.listenHandle as never);
      } else if (isWorkerMessage(message, 'listening')) {
        listening.add(worker);
        if (listening.size === count - 1 && !announced) {
          announced = true;
          logger.info({ address: server.address, workers: count }, 'listening');
        }
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      const wasListening = listening.delete(worker);
      if (stopping) {
        if (workers.size === 0) allExited();
      } else if (!wasListening) {
        logger.error({ worker: id, code, signal }, 'worker exited before it could serve; stopping');
        stop('worker failed to start', 1);
      } else {
        logger.error({ worker: id, pid: worker.pid, code, signal }, 'worker died; starting a replacement');
        start();
      }
    });
  };
  for (let i = 1; i < count; i += 1) start();
}

/** The body of a worker process: serve `http.addr` with the first process's configuration until told to drain. */
export async function serveWorker(): Promise<void> {
  const config = JSON.parse(process.env[CONFIG_ENV]!) as BerthConfig;
  const id = Number(process.env[ID_ENV]);
  const logger = createLogger({ ...config.log, fields: { ...config.log.fields, worker: id } });
  const share = new Promise<ShareListener>((resolve) => {
    const onMessage = (message: unknown, handle: unknown) => {
      if (!isWorkerMessage(message, 'listen')) return;
      const { reusePort } = message as { reusePort?: number };
      if (reusePort !== undefined) resolve({ reusePort: { first: false, port: reusePort } });
      else if (typeof handle === 'object' && handle !== null) resolve({ handle });
      else return;
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
  });
  process.send!({ berth: 'listen?' } satisfies WorkerMessage);
  const { drainOnSignals, startServer } = await import('./serve.js');
  const server = await startServer(config, logger, { maintenance: false, processes: workerCount(config.http.workers), share: await share });
  const stop = drainOnSignals(logger, config.http.draintimeout, () => server.close());
  // The first process is gone (killed, or crashed): a worker must not go on serving on its own.
  process.once('disconnect', () => stop('the first process exited'));
  process.send!({ berth: 'listening' } satisfies WorkerMessage);
}
