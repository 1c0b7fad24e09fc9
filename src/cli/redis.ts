/**
 * The `redis` section turned into an ioredis client: one server (`addr`) or Redis Cluster (`addrs`).
 * ioredis multiplexes commands over one connection per node, so the `pool` keys have nothing to size and are
 * accepted for registry:2 configs only. Commands fail fast while disconnected (no offline queue, a command
 * timeout): callers treat a failing cache as a miss rather than waiting for Redis.
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { BerthConfig } from '../config/schema.js';

const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
/** How long start-up waits for Redis before serving without the cache for now. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

export function parseRedisAddress(addr: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(addr);
  if (!match) throw new Error(`redis: expected host:port, got ${JSON.stringify(addr)}`);
  return { host: match[1] ?? match[2]!, port: match[3] === undefined ? 6379 : Number(match[3]) };
}

export type RedisClient = Redis | Cluster;

/** The Redis client of a config, or undefined when it names no server (then ioredis is not even loaded). */
export async function createRedisClient(config: BerthConfig['redis'], logger: Logger): Promise<RedisClient | undefined> {
  const addrs = config.addrs.length > 0 ? config.addrs : config.addr !== undefined ? [config.addr] : [];
  if (addrs.length === 0) return undefined;
  const { Cluster, Redis } = await import('ioredis');
  const options: RedisOptions = {
    ...(config.password !== undefined && { password: config.password }),
    db: config.db,
    ...(config.tls.enabled && { tls: {} }),
    ...(config.dialtimeout !== undefined && { connectTimeout: config.dialtimeout }),
    commandTimeout: Math.max(config.readtimeout ?? 0, config.writetimeout ?? 0) || DEFAULT_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  };
  const nodes = addrs.map(parseRedisAddress);
  const client =
    config.addrs.length > 1
      ? new Cluster(nodes, { redisOptions: options, enableOfflineQueue: false })
      : new Redis({ ...options, ...nodes[0]! });
  let lastReport = 0;
  client.on('error', (err: Error) => {
    // ioredis reports every failed reconnection attempt; once a minute is enough for the log.
    if (Date.now() - lastReport < 60_000) return;
    lastReport = Date.now();
    logger.warn({ err: err.message, redis: addrs }, 'redis unavailable; the blob descriptor cache is bypassed');
  });
  return client;
}

/**
 * Waits until the client is connected, at most `timeoutMs`; false when it is not by then. Commands fail at
 * once until then (no offline queue), so callers wait before relying on the cache.
 */
export async function whenReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    const onReady = () => done(true);
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    client.on('ready', onReady);
  });
}
