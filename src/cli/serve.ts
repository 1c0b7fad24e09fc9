/**
 * `berth serve`: load the configuration, assemble storage → registry → HTTP, listen, run maintenance, and
 * shut down gracefully: on SIGTERM/SIGINT stop accepting, let in-flight requests finish within
 * `http.draintimeout` (0 waits for them all), then exit.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyListenOptions } from 'fastify';
import type { Logger } from 'pino';
import type { BerthConfig } from '../config/schema.js';
import { buildApp } from '../http/app.js';
import type { buildDebugApp } from '../http/debug.js';
import { directReceiveAvailable } from '../http/receive.js';
import { sendfileAvailable } from '../http/sendfile.js';
import { bindSharedPort, socketAddon } from '../http/socket-addon.js';
import type { Digest } from '../oci/digest.js';
import type { ProxyRegistry, UpstreamOptions } from '../proxy/registry.js';
import { InMemoryBlobDescriptorCache } from '../registry/cache/memory.js';
import { RedisBlobDescriptorCache } from '../registry/cache/redis.js';
import type { BlobDescriptorCache } from '../registry/cache/types.js';
import { createRegistry } from '../registry/index.js';
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';
import { scheduleGarbageCollection } from './gc.js';
import { createAuth } from './auth.js';
import { createLogger } from './logging.js';
import { createAuditLogger, createHealthChecks, createNotifications } from './operations.js';
import { createRedisClient, DEFAULT_DIAL_TIMEOUT_MS, whenReady, type RedisClient } from './redis.js';
import { createStorageDriver, scheduleUploadPurging } from './storage.js';
import { serverTlsOptions, tlsEnabled } from './tls.js';

export interface ListenAddress {
  host?: string;
  port?: number;
  path?: string;
}

/** `http.addr` as Go's net.Listen reads it: `:5000`, `127.0.0.1:5000`, `[::1]:5000`, or a socket path. */
export function parseListenAddress(addr: string, net: 'tcp' | 'unix'): ListenAddress {
  if (net === 'unix') return { path: addr };
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!match) throw new Error(`http.addr: expected host:port or :port, got ${JSON.stringify(addr)}`);
  const host = match[1] ?? match[2];
  return { host: host === '' ? '::' : host, port: Number(match[3]) };
}

export interface RunningServer {
  address: string;
  /** The port bound (`http.addr`'s, or the one the system chose for port 0); undefined on a Unix socket. */
  port?: number;
  /** The listening socket's handle, to hand to worker processes that serve on the same socket. */
  listenHandle: object;
  /** Whether the listening socket was bound with SO_REUSEPORT, so that other processes can bind their own. */
  reusePort: boolean;
  /** The debug server's address, when `http.debug.addr` is set. */
  debugAddress?: string;
  close(): Promise<void>;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;

/** The upstreams the `proxy` section configures: `remoteurl` as the catch-all, then `upstreams` by prefix. */
export function upstreamsOf(config: BerthConfig): UpstreamOptions[] {
  const { proxy } = config;
  const timeoutMs = proxy.timeout ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  const upstreams: UpstreamOptions[] = [];
  if (proxy.remoteurl !== undefined) {
    upstreams.push({
      name: new URL(proxy.remoteurl).host,
      prefix: '',
      url: proxy.remoteurl,
      username: proxy.username,
      password: proxy.password,
      ttlMs: proxy.ttl ?? 0,
      timeoutMs,
      maxBytes: proxy.maxsize,
      namespaces: proxy.namespaces,
    });
  }
  for (const upstream of proxy.upstreams) {
    upstreams.push({
      name: upstream.name,
      prefix: upstream.prefix ?? upstream.name,
      url: upstream.remoteurl,
      username: upstream.username,
      password: upstream.password,
      ttlMs: upstream.ttl ?? 0,
      timeoutMs: upstream.timeout ?? timeoutMs,
      maxBytes: upstream.maxsize,
      namespaces: upstream.namespaces,
    });
  }
  return upstreams;
}

export interface StartOptions {
  /** Runs maintenance (upload purging, online GC) in this process; a worker process leaves it to the primary. */
  maintenance?: boolean;
  /** How many processes serve this configuration (worker mode). */
  processes?: number;
  /** Worker mode: how this process shares `http.addr` with the other processes (see `workers.ts`). */
  share?: ShareListener;
}

/**
 * SO_REUSEPORT: bind a socket of its own to the address (`first`: it must be free; `port`: the one the first
 * process bound, for port 0), or serve the listening socket whose handle the first process passed on.
 */
export type ShareListener = { reusePort: { first: boolean; port?: number } } | { handle: object };

/** Whether this process can bind `http.addr` with SO_REUSEPORT: a TCP address and the native addon. */
export function canReusePort(listen: ListenAddress): boolean {
  return listen.path === undefined && socketAddon !== undefined;
}

export async function startServer(config: BerthConfig, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const tls = tlsEnabled(config.http.tls) ? serverTlsOptions(config.http.tls) : undefined;
  const { auth, tokenService } = await createAuth(config, logger);
  const debug = config.http.debug;
  // Optional parts load their modules (prom-client, ioredis, the proxy's HTTP client) only when configured.
  const metrics = debug.addr !== undefined && debug.prometheus.enabled ? new (await import('../metrics/index.js')).Metrics() : undefined;
  const driver = await createStorageDriver(config, { metrics, processes: options.processes, logger });
  await checkStorage(driver);
  const health = createHealthChecks(config, driver, metrics);
  const listen = parseListenAddress(config.http.addr, config.http.net);
  const notifications = await createNotifications(config, logger, listen.port, metrics);
  const redis = await createRedisClient(config.redis, logger);
  if (redis !== undefined && !(await whenReady(redis, config.redis.dialtimeout ?? DEFAULT_DIAL_TIMEOUT_MS))) {
    logger.warn({ redis: config.redis.addrs.length > 0 ? config.redis.addrs : config.redis.addr }, 'redis not reachable yet; serving without the cache until it is');
  }
  const blobDescriptorCache = createBlobDescriptorCache(config, redis);
  let lastCacheError = 0;
  const onCacheError = (err: unknown): void => {
    if (Date.now() - lastCacheError < 60_000) return;
    lastCacheError = Date.now();
    logger.warn({ err }, 'blob descriptor cache failed; reading the storage instead');
  };
  const local = createRegistry({
    driver,
    deleteEnabled: config.storage.delete.enabled,
    readOnly: config.storage.maintenance.readonly.enabled,
    manifestURLs: {
      allow: config.validation.manifests.urls.allow.map((source) => new RegExp(source)),
      deny: config.validation.manifests.urls.deny.map((source) => new RegExp(source)),
    },
    validationDisabled: config.validation.disabled,
    ...(blobDescriptorCache !== undefined && { blobDescriptorCache }),
    onCacheError,
  });
  const upstreams = upstreamsOf(config);
  let proxy: ProxyRegistry | undefined;
  if (upstreams.length > 0) {
    // Cached content is written through a registry of its own: pushes stay refused, references are not checked.
    // It shares the blob descriptor cache, so that what it removes is forgotten there too.
    const cache = createRegistry({
      driver,
      deleteEnabled: true,
      readOnly: false,
      validationDisabled: true,
      ...(blobDescriptorCache !== undefined && { blobDescriptorCache }),
      onCacheError,
    });
    const { createProxyRegistry } = await import('../proxy/registry.js');
    proxy = createProxyRegistry(local, { upstreams, driver, cache, log: logger });
    logger.info({ upstreams: upstreams.map((u) => ({ name: u.name, prefix: u.prefix })) }, 'pull-through cache enabled');
  }
  const registry = proxy ?? local;
  const app = buildApp({
    registry,
    logger,
    accessLog: !config.log.accesslog.disabled,
    prefix: config.http.prefix,
    host: config.http.host,
    relativeURLs: config.http.relativeurls,
    headers: config.http.headers,
    catalogMaxEntries: config.catalog.maxentries,
    maxManifestBytes: config.validation.manifests.maxsize,
    redirect: !config.storage.redirect.disable,
    sendfile: config.http.sendfile,
    directUploads: config.http.directuploads,
    metrics,
    healthFailures: health.size > 0 ? () => health.failing() : undefined,
    events: notifications && {
      sink: notifications.notifier,
      source: notifications.source,
      includeReferences: notifications.includeReferences,
    },
    audit: createAuditLogger(config),
    tls,
    http2: !config.http.http2.disabled,
    auth,
    tokenService,
  });
  await health.start();
  let accepting = false;
  let debugApp: ReturnType<typeof buildDebugApp> | undefined;
  let debugAddress: string | undefined;
  if (debug.addr !== undefined) {
    const { buildDebugApp } = await import('../http/debug.js');
    debugApp = buildDebugApp({ health, metrics, metricsPath: debug.prometheus.path, accepting: () => accepting });
    const debugListen = parseListenAddress(debug.addr, 'tcp');
    debugAddress = await debugApp.listen({ host: debugListen.host, port: debugListen.port });
    logger.info({ address: debugAddress, metrics: metrics !== undefined }, 'debug server listening');
  }
  const maintenance = options.maintenance !== false;
  const stopPurging = maintenance ? scheduleUploadPurging(config, driver, logger, metrics) : () => {};
  const forgetBlob =
    blobDescriptorCache && ((digest: Digest) => blobDescriptorCache.deleteBlob(digest).catch(onCacheError));
  const stopCollecting = maintenance ? scheduleGarbageCollection(config, driver, logger, forgetBlob) : async () => {};
  // Node names a Unix socket's server by the path it listened on; one served by handle has none, and
  // Fastify's start-up log line needs it.
  if (options.share !== undefined && 'handle' in options.share && listen.path !== undefined) {
    (app.server as unknown as { _pipeName: string })._pipeName = listen.path;
  }
  const address = await app.listen(await listenOptions(listen, options.share));
  accepting = true;
  logger.info(
    {
      address,
      storage: driver.name,
      tls: tls !== undefined,
      http2: tls !== undefined && !config.http.http2.disabled,
      sendfile: config.http.sendfile && sendfileAvailable,
      directUploads: config.http.directuploads && directReceiveAvailable,
    },
    'listening',
  );
  return {
    address,
    port: listen.path === undefined ? (app.server.address() as AddressInfo).port : undefined,
    listenHandle: (app.server as unknown as { _handle: object })._handle,
    reusePort: options.share !== undefined && 'reusePort' in options.share,
    debugAddress,
    async close() {
      accepting = false;
      stopPurging();
      health.stop();
      await Promise.all([stopCollecting(), app.close()]);
      // After the API has drained, so that the events of the last requests are queued first.
      await notifications?.notifier.close();
      await debugApp?.close();
      await proxy?.close();
      redis?.disconnect();
    },
  };
}

/**
 * Fastify's listen options: bind `http.addr`, bind a socket with SO_REUSEPORT, or serve a socket the first
 * process bound. For the last two the host only keeps Fastify from resolving `localhost` and binding each of
 * its addresses itself.
 */
async function listenOptions(listen: ListenAddress, share: ShareListener | undefined): Promise<FastifyListenOptions> {
  if (share === undefined) return listen.path !== undefined ? { path: listen.path } : { host: listen.host, port: listen.port };
  // Node's listen() takes `fd` and `handle`; Fastify passes its options through without declaring them.
  if ('reusePort' in share) {
    const fd = await bindSharedPort(listen.host!, share.reusePort.port ?? listen.port!, share.reusePort.first);
    return { fd, host: '0.0.0.0' } as unknown as FastifyListenOptions;
  }
  return { handle: share.handle, ...(listen.path !== undefined ? { path: listen.path } : { host: '0.0.0.0' }) } as unknown as FastifyListenOptions;
}

/** `storage.cache.blobdescriptor` (or its old name `layerinfo`): none, this process's memory, or Redis. */
export function createBlobDescriptorCache(config: BerthConfig, redis: RedisClient | undefined): BlobDescriptorCache | undefined {
  const { cache } = config.storage;
  const ttlMs = cache.blobdescriptorttl;
  switch (cache.blobdescriptor ?? cache.layerinfo) {
    case 'inmemory':
      return new InMemoryBlobDescriptorCache({ ttlMs, ...(cache.blobdescriptorsize !== undefined && { size: cache.blobdescriptorsize }) });
    case 'redis':
      if (redis === undefined) throw new Error('storage.cache.blobdescriptor: redis needs redis.addr');
      return new RedisBlobDescriptorCache(redis, { ttlMs, prefix: config.redis.keyprefix });
    default:
      return undefined;
  }
}

/** Fails start-up when the storage cannot be reached (S3: no such bucket, bad credentials, no endpoint). */
async function checkStorage(driver: StorageDriver): Promise<void> {
  try {
    await driver.stat('/');
  } catch (err) {
    // A filesystem root that does not exist yet is made by the first write.
    if (isNotFound(err)) return;
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new Error(`storage ${driver.name} is not usable: ${cause}`, { cause: err });
  }
}

export async function serve(config: BerthConfig, warnings: string[], source: string): Promise<void> {
  const logger = createLogger(config.log);
  for (const warning of warnings) logger.warn(warning);
  logger.info({ config: source }, 'starting berth');
  const server = await startServer(config, logger);
  drainOnSignals(logger, config.http.draintimeout, () => server.close());
}

/**
 * On SIGTERM/SIGINT: stop accepting, let in-flight requests finish within `drainMs` (0 waits for them all),
 * then exit 0. Answers the same shutdown, to start it for another reason with another exit code.
 */
export function drainOnSignals(logger: Logger, drainMs: number, close: () => Promise<void>): (reason: string, code?: number) => void {
  let stopping = false;
  const stop = async (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down: draining in-flight requests');
    const deadline =
      drainMs > 0
        ? setTimeout(() => {
            logger.warn({ drainMs }, 'drain timeout reached; exiting with requests in flight');
            process.exit(code);
          }, drainMs)
        : undefined;
    await close();
    if (deadline) clearTimeout(deadline);
    logger.info({ code }, 'stopped');
    logger.flush();
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return (reason, code) => void stop(reason, code);
}
