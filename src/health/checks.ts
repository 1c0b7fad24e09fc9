/**
 * Periodic health checks, as Distribution's `health` package and `health.*` config run them: each check runs
 * every `interval`; it counts as failing after `threshold` failures in a row (0 or 1: the first failure) and
 * recovers on the first success. While any check fails, the registry answers 503 (see `http/app.ts`) and
 * `/debug/health` lists the failures by name: `storagedriver_<driver>`, `file_<path>`, `http_<uri>`,
 * `tcp_<addr>`, Distribution's names.
 *
 * Unlike Distribution, whose checks first run one interval after start, every check runs at once, so a
 * registry that starts on broken storage is unready from the start.
 */
import { promises as fsp } from 'node:fs';
import { connect } from 'node:net';
import type { StorageDriver } from '../storage/driver.js';
import { isNotFound } from '../storage/errors.js';

export type Check = () => Promise<void>;

export interface CheckSchedule {
  intervalMs: number;
  threshold: number;
}

interface Registered extends CheckSchedule {
  name: string;
  check: Check;
  failures: number;
  error?: string;
  timer?: NodeJS.Timeout;
}

export class HealthChecks {
  readonly #checks: Registered[] = [];
  #onChange: ((failing: number) => void) | undefined;

  /** `onChange` hears the number of failing checks whenever it changes (for a metric). */
  constructor(options: { onChange?: (failing: number) => void } = {}) {
    this.#onChange = options.onChange;
  }

  register(name: string, check: Check, schedule: CheckSchedule): void {
    this.#checks.push({ name, check, ...schedule, failures: 0 });
  }

  get size(): number {
    return this.#checks.length;
  }

  /** Failing checks by name, with their last error; empty when healthy. */
  failing(): Record<string, string> {
    return Object.fromEntries(this.#checks.filter((c) => c.error !== undefined).map((c) => [c.name, c.error!]));
  }

  /** Runs every check once now, then on its interval. */
  async start(): Promise<void> {
    await Promise.all(
      this.#checks.map(async (registered) => {
        await this.#run(registered);
        registered.timer = setInterval(() => void this.#run(registered), registered.intervalMs);
        registered.timer.unref();
      }),
    );
  }

  stop(): void {
    for (const registered of this.#checks) clearInterval(registered.timer);
  }

  async #run(registered: Registered): Promise<void> {
    const before = Object.keys(this.failing()).length;
    try {
      await registered.check();
      registered.failures = 0;
      registered.error = undefined;
    } catch (err) {
      registered.failures++;
      if (registered.failures >= Math.max(1, registered.threshold)) {
        registered.error = err instanceof Error ? err.message : String(err);
      }
    }
    const after = Object.keys(this.failing()).length;
    if (after !== before) this.#onChange?.(after);
  }
}

/** The backend answers: a stat of the root that finds nothing still counts as an answer. */
export function storageDriverCheck(driver: StorageDriver): Check {
  return async () => {
    try {
      await driver.stat('/');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
}

/** Unhealthy while `file` exists: an operator's switch for taking an instance out of rotation. */
export function fileCheck(file: string): Check {
  return async () => {
    const exists = await fsp.stat(file).then(
      () => true,
      () => false,
    );
    if (exists) throw new Error('file exists');
  };
}

/** Unhealthy unless a HEAD of `uri` answers `statusCode` within `timeoutMs`. */
export function httpCheck(uri: string, statusCode: number, timeoutMs: number, headers: Record<string, string[]>): Check {
  return async () => {
    const requestHeaders = new Headers();
    for (const [name, values] of Object.entries(headers)) for (const value of values) requestHeaders.append(name, value);
    let status: number;
    try {
      const response = await fetch(uri, { method: 'HEAD', headers: requestHeaders, signal: AbortSignal.timeout(timeoutMs) });
      status = response.status;
    } catch (err) {
      throw new Error(`error while checking: ${(err as Error).message}`);
    }
    if (status !== statusCode) throw new Error(`downstream service returned unexpected status: ${status}`);
  };
}

/** Unhealthy unless a TCP connection to `addr` (host:port) opens within `timeoutMs`. */
export function tcpCheck(addr: string, timeoutMs: number): Check {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!match) throw new Error(`health.tcp: addr must be host:port, got ${JSON.stringify(addr)}`);
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  return () =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: host === '' ? '127.0.0.1' : host, port, timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('timeout', () => {
        socket.destroy();
        reject(new Error(`connection to ${addr} timed out`));
      });
      socket.once('error', () => reject(new Error(`connection to ${addr} failed`)));
    });
}
