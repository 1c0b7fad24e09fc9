/** Shared pieces of the driver conformance suite. */
import type { Readable } from 'node:stream';
import { PathNotFoundError } from '../../../src/storage/errors.js';
import type { StorageDriver } from '../../../src/storage/driver.js';

export interface SuiteContext {
  /** The driver under test, wrapped by `withChecks`; fresh and empty for every test. */
  readonly driver: StorageDriver;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function* chunksOf(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

export function isPathNotFound(path: string) {
  return (err: unknown): boolean => err instanceof PathNotFoundError && err.path === path;
}

/** Puts a small file at each path, its content being the path itself. */
export async function putFiles(driver: StorageDriver, paths: string[]): Promise<void> {
  for (const path of paths) await driver.putContent(path, Buffer.from(path));
}
