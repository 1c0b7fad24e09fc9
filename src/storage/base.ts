/**
 * The wrapper every driver is used through (Distribution's `storage/driver/base`), so that drivers only
 * implement storage: it refuses invalid paths and offsets before a driver sees them, and turns a driver's
 * unexpected failures into StorageErrors that name the driver and the path (keeping the original as `cause`).
 * Errors the caller's own code raised (a failing source stream, a walk callback) reach the caller unchanged.
 *
 * Every call passes through `CheckedDriver.#call`, the place for further cross-cutting work such as metrics.
 */
import type { Readable } from 'node:stream';
import { isValidPath, type FileInfo, type FileWriter, type PutOptions, type StorageDriver, type WalkDecision } from './driver.js';
import { InvalidOffsetError, InvalidPathError, StorageError } from './errors.js';

export function withChecks(driver: StorageDriver): StorageDriver {
  return new CheckedDriver(driver);
}

class CheckedDriver implements StorageDriver {
  readonly name: string;
  declare readonly redirectURL?: (path: string, method: 'GET' | 'HEAD') => Promise<string | undefined>;
  readonly #driver: StorageDriver;

  constructor(driver: StorageDriver) {
    this.#driver = driver;
    this.name = driver.name;
    const redirectURL = driver.redirectURL?.bind(driver);
    if (redirectURL !== undefined) {
      this.redirectURL = (path, method) => this.#call([path], () => redirectURL(path, method));
    }
  }

  getContent(path: string): Promise<Buffer> {
    return this.#call([path], () => this.#driver.getContent(path));
  }

  putContent(path: string, content: Uint8Array, options?: PutOptions): Promise<void> {
    return this.#call([path], () => this.#driver.putContent(path, content, options));
  }

  reader(path: string, offset = 0, length?: number): Promise<Readable> {
    return this.#call([path], () => {
      if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOffsetError(path, this.name, offset);
      if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
        throw new StorageError(`invalid length ${length}`, path, this.name);
      }
      return this.#driver.reader(path, offset, length);
    });
  }

  async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    const writer = await this.#call([path], () => this.#driver.writer(path, options));
    return new CheckedWriter(writer, this.name, path);
  }

  stat(path: string): Promise<FileInfo> {
    return this.#call([path], () => this.#driver.stat(path));
  }

  list(path: string): Promise<string[]> {
    return this.#call([path], () => this.#driver.list(path));
  }

  move(source: string, destination: string): Promise<void> {
    return this.#call([source, destination], () => this.#driver.move(source, destination));
  }

  delete(path: string): Promise<void> {
    return this.#call([path], () => this.#driver.delete(path));
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    const callerErrors = new CallerErrors();
    return this.#call([path], () => this.#driver.walk(path, callerErrors.callback(visit)), callerErrors);
  }

  /** Validates `paths`, then runs `operation`; failures are reported against the first path. */
  async #call<T>(paths: string[], operation: () => Promise<T>, callerErrors?: CallerErrors): Promise<T> {
    for (const path of paths) {
      if (!isValidPath(path)) throw new InvalidPathError(path, this.name);
    }
    return normalising(this.name, paths[0]!, operation, callerErrors);
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
