/**
 * Which storage driver a loaded configuration selects. Apart from the schema so that the processes serving
 * an already-parsed configuration (worker processes) need not load zod.
 */
import type { StorageConfig } from './schema.js';

export const STORAGE_DRIVERS = ['filesystem', 'inmemory', 's3', 'azure', 'gcs', 'swift', 'oss'] as const;
export type StorageDriverName = (typeof STORAGE_DRIVERS)[number];

/** The one storage driver the configuration selects (the schema guarantees exactly one). */
export function storageDriverName(storage: StorageConfig): StorageDriverName {
  const name = STORAGE_DRIVERS.find((driver) => storage[driver] !== undefined);
  if (!name) throw new Error('no storage driver configured');
  return name;
}
