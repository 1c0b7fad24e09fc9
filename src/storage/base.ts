/**
 * The wrapper every driver is used through (Distribution's `storage/driver/base`), so that drivers only
 * implement storage: it refuses invalid paths and offsets before a driver sees them, and turns a driver's
 * unexpected failures into StorageErrors that name the driver and the path (keeping the original as `cause`).
 * Errors the caller's own code raised (a failing source stream, a walk callback) reach the caller unchanged.
 *
 * Every call passes through `CheckedDriver.#call`, which also times it into `registry_storage_action_seconds`
 * with Distribution's action names (GetContent, PutContent, Reader, Writer, Stat, List, Move, Delete, URLFor,
 * Walk) when given metrics. As in Distribution, Reader and Writer time opening the stream, not the transfer.
 */
import type { Readable } from 'node:stream';
import { isValidPath, type FileInfo, type FileWriter, type PutOptions, type StorageDriver, type WalkDecision } from './driver.js';
import { InvalidOffsetError, InvalidPathError, StorageError } from './errors.js';

/** What the wrapper needs of `metrics/`: the storage action histogram. */
export interface StorageMetrics {
  storageAction: { observe(labels: { driver: string; action: string }, seconds: number): void };
}

export function withChecks(driver: StorageDriver, options: { metrics?: StorageMetrics } = {}): StorageDriver {
  return new CheckedDriver(driver, options.metrics);
}

type Action =
  | 'GetContent'
  | 'PutContent'
  | 'Reader'
  | 'Writer'
  | 'Stat'
  | 'List'
  | 'Move'
  | 'Delete'
  | 'URLFor'
  | 'Walk'
  | 'PurgeStaleWrites';

class CheckedDriver implements StorageDriver {
  readonly name: string;
  readonly unsyncedEpoch: string | undefined;
  declare readonly redirectURL?: (path: string, method: 'GET' | 'HEAD') => Promise<string | undefined>;
  declare readonly purgeStaleWrites?: (olderThan: Date, options: { dryRun: boolean }) => Promise<string[]>;
  readonly #driver: StorageDriver;
  readonly #metrics: StorageMetrics | undefined;

  constructor(driver: StorageDriver, metrics: StorageMetrics | undefined) {
    this.#driver = driver;
    this.#metrics = metrics;
    this.name = driver.name;
    this.unsyncedEpoch = driver.unsyncedEpoch;
    const redirectURL = driver.redirectURL?.bind(driver);
    if (redirectURL !== undefined) {
      this.redirectURL = (path, method) => this.#call('URLFor', [path], () => redirectURL(path, method));
    }
    const purgeStaleWrites = driver.purgeStaleWrites?.bind(driver);
    if (purgeStaleWrites !== undefined) {
      this.purgeStaleWrites = (olderThan, options) => this.#call('PurgeStaleWrites', ['/'], () => purgeStaleWrites(olderThan, options));
    }
  }

  getContent(path: string): Promise<Buffer> {
    return this.#call('GetContent', [path], () => this.#driver.getContent(path));
  }

  async putContent(path: string, content: Uint8Array, options?: PutOptions): Promise<void> {
    // The caller's reason for not publishing is its own error, not the driver's: it is passed on unwrapped.
    let refusal: { reason: unknown } | undefined;
    const publishAfter = options?.publishAfter?.catch((reason: unknown) => {
      refusal = { reason };
      throw reason;
    });
    // The driver may fail before it waits for it.
    publishAfter?.catch(() => undefined);
    try {
      return await this.#call('PutContent', [path], () =>
        this.#driver.putContent(path, content, publishAfter ? { ...options, publishAfter } : options),
      );
    } catch (err) {
      throw refusal ? refusal.reason : err;
    }
  }

  reader(path: string, offset = 0, length?: number): Promise<Readable> {
    return this.#call('Reader', [path], () => {
      if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(path, this.name, offset);
      if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
        throw new StorageError(`invalid length ${length}`, path, this.name);
      }
      return this.#driver.reader(path, offset, length);
    });
  }

  async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    const writer = await this.#call('Writer', [path], () => this.#driver.writer(path, options));
    return new CheckedWriter(writer, this.name, path);
  }

  stat(path: string): Promise<FileInfo> {
    return this.#call('Stat', [path], () => this.#driver.stat(path));
  }

  list(path: string): Promise<string[]> {
    return this.#call('List', [path], () => this.#driver.list(path));
  }

  move(source: string, destination: string): Promise<void> {
    return this.#call('Move', [source, destination], () => this.#driver.move(source, destination));
  }

  delete(path: string): Promise<void> {
    return this.#call('Delete', [path], () => this.#driver.delete(path));
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    const callerErrors = new CallerErrors();
    return this.#call('Walk', [path], () => this.#driver.walk(path, callerErrors.callback(visit)), callerErrors);
  }

  /** Validates `paths`, then runs and times `operation`; failures are reported against the first path. */
  async #call<T>(action: Action, paths: string[], operation: () => Promise<T>, callerErrors?: CallerErrors): Promise<T> {
    for (const path of paths) {
      if (!isValidPath(path)) throw new InvalidPathError(path, this.name);
    }
    const started = performance.now();
    try {
      return await normalising(this.name, paths[0]!, operation, callerErrors);
    } finally {
      this.#metrics?.storageAction.observe({ driver: this.name, action }, (performance.now() - started) / 1000);
    }
  }
}

class CheckedWriter implements FileWriter {
  readonly #writer: FileWriter;
  readonly #driverName: string;
  readonly #path: string;

  constructor(writer: FileWriter, driverName: string, path: string) {
    this.#writer = writer;
    this.#driverName = driverName;
    this.#path = path;
  }

  get size(): number {
    return this.#writer.size;
  }

  append(source: AsyncIterable<Uint8Array>): Promise<number> {
    const callerErrors = new CallerErrors();
    return this.#call(() => this.#writer.append(callerErrors.iterable(source)), callerErrors);
  }

  commit(): Promise<void> {
    return this.#call(() => this.#writer.commit());
  }

  close(): Promise<void> {
    return this.#call(() => this.#writer.close());
  }

  cancel(): Promise<void> {
    return this.#call(() => this.#writer.cancel());
  }

  #call<T>(operation: () => Promise<T>, callerErrors?: CallerErrors): Promise<T> {
    return normalising(this.#driverName, this.#path, operation, callerErrors);
  }
}

async function normalising<T>(
  driverName: string,
  path: string,
  operation: () => Promise<T>,
  callerErrors?: CallerErrors,
): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof StorageError || callerErrors?.has(err)) throw err;
    const wrapped = new StorageError(err instanceof Error ? err.message : String(err), path, driverName);
    wrapped.cause = err;
    throw wrapped;
  }
}

/** Remembers the errors raised by code the caller handed in, so that they are not mistaken for the driver's. */
class CallerErrors {
  readonly #errors = new Set<unknown>();

  has(err: unknown): boolean {
    return this.#errors.has(err);
  }

  callback<A, R>(fn: (arg: A) => R | Promise<R>): (arg: A) => Promise<R> {
    return async (arg) => {
      try {
        return await fn(arg);
      } catch (err) {
        this.#errors.add(err);
        throw err;
      }
    };
  }

  async *iterable<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      for await (const item of source) yield item;
    } catch (err) {
      this.#errors.add(err);
      throw err;
    }
  }
}
