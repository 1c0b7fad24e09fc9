/** A registry on a real filesystem root in a temp directory, and small helpers to push into it. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../src/oci/mediatypes.js';
import { createRegistry, type RegistryOptions } from '../../src/registry/index.js';
import type { Registry, Repository } from '../../src/registry/types.js';
import { withChecks } from '../../src/storage/base.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';

export interface TestRegistry {
  root: string;
  driver: StorageDriver;
  registry: Registry;
  /** A second registry on the same root, as after a restart. */
  reopen(): Registry;
  cleanup(): Promise<void>;
}

export async function newRegistry(options: Partial<Omit<RegistryOptions, 'driver'>> = {}): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  const driver = withChecks(new FilesystemDriver({ rootDirectory: root }));
  const open = () => createRegistry({ driver, deleteEnabled: true, readOnly: false, ...options });
  return { root, driver, registry: open(), reopen: open, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export async function* chunks(...parts: (string | Buffer)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield Buffer.from(part);
}

export async function pushBlob(repo: Repository, content: string | Buffer): Promise<Digest> {
  const session = await repo.blobs.create();
  await session.append(chunks(content));
  return (await session.commit(digestOf(Buffer.from(content)))).digest;
}

/** Pushes a config and one layer, and returns the bytes of an OCI manifest naming them. */
export async function pushImageContent(repo: Repository, seed: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`layer of ${seed}`);
  await pushBlob(repo, config);
  await pushBlob(repo, layer);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: digestOf(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: digestOf(layer), size: layer.length }],
      ...extra,
    }),
  );
}

export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}
