import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { digestOf } from '../../../src/oci/digest.js';
import { ManifestBlobUnknownError, ManifestUnknownError } from '../../../src/oci/errors.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../../src/oci/mediatypes.js';
import { collectGarbage } from '../../../src/registry/gc/index.js';
import { claimBlob } from '../../../src/registry/gc/lease.js';
import type { FileInfo, FileWriter, PutOptions, StorageDriver, WalkDecision } from '../../../src/storage/driver.js';
import { blobDataPath, blobSweepingPath } from '../../../src/storage/paths.js';
import { chunks, collect, newRegistry, pushBlob, type TestRegistry } from '../helpers.js';
import { blobsOnDisk, tag } from './fixtures.js';

/**
 * The collector's view of the store, with a hook that runs before chosen writes and deletes: the place where
 * another replica's push is made to happen at the worst moment of the protocol.
 */
class HookedDriver implements StorageDriver {
  readonly name: string;
  hook?: (operation: 'put' | 'delete', path: string) => Promise<void>;

  constructor(private readonly inner: StorageDriver) {
    this.name = inner.name;
  }

  async putContent(path: string, content: Uint8Array, options?: PutOptions): Promise<void> {
    await this.hook?.('put', path);
    return this.inner.putContent(path, content, options);
  }

  async delete(path: string): Promise<void> {
    await this.hook?.('delete', path);
    return this.inner.delete(path);
  }

  getContent(path: string): Promise<Buffer> {
    return this.inner.getContent(path);
  }
  reader(path: string, offset?: number, length?: number): Promise<Readable> {
    return this.inner.reader(path, offset, length);
  }
  writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    return this.inner.writer(path, options);
  }
  stat(path: string): Promise<FileInfo> {
    return this.inner.stat(path);
  }
  list(path: string): Promise<string[]> {
    return this.inner.list(path);
  }
  move(source: string, destination: string): Promise<void> {
    return this.inner.move(source, destination);
  }
  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return this.inner.walk(path, visit);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const online = { dryRun: false, deleteUntagged: false, gracePeriodMs: 0 };
const CONTENT = 'a layer nobody references any more';
const digest = digestOf(Buffer.from(CONTENT));

function manifestNaming(layer: string): { bytes: Buffer; config: string } {
  const config = '{"architecture":"amd64","os":"linux"}';
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: digestOf(Buffer.from(config)), size: config.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: digestOf(Buffer.from(layer)), size: layer.length }],
    }),
  );
  return { bytes, config };
}

describe('blob leases: garbage collection alongside pushes', () => {
  let t: TestRegistry;
  let collector: HookedDriver;
  beforeEach(async () => {
    t = await newRegistry();
    collector = new HookedDriver(t.driver);
  });
  afterEach(() => t.cleanup());

  it('keeps a blob that a push claims after the collector judged it unreferenced', async () => {
    const repo = t.registry.repository('team/app');
    await pushBlob(repo, CONTENT);
    collector.hook = async (operation, path) => {
      // Just before the tombstone: another replica commits the same content again.
      if (operation === 'put' && path === blobSweepingPath(digest)) await pushBlob(t.registry.repository('team/other'), CONTENT);
    };

    const report = await collectGarbage(collector, online);

    assert.deepEqual(report.blobsEligible, [digest]);
    assert.equal(report.blobsDeleted, 0);
    assert.equal(report.claimedDuringSweep, 1);
    assert.equal((await collect((await t.registry.repository('team/other').blobs.open(digest)).stream)).toString(), CONTENT);
  });

  it('an upload that commits while the blob is being deleted waits, then stores its own bytes', async () => {
    const repo = t.registry.repository('team/app');
    await pushBlob(repo, CONTENT);
    let commit: Promise<unknown> | undefined;
    let committed = false;
    collector.hook = async (operation, path) => {
      if (operation !== 'delete' || path !== blobDataPath(digest)) return;
      // The collector has checked the lease and is about to delete: the commit must not slip in between.
      const session = await t.registry.repository('team/other').blobs.create();
      await session.append(chunks(CONTENT));
      commit = session.commit(digest).then(() => (committed = true));
      await sleep(200);
      assert.equal(committed, false, 'the commit waits while the blob is being swept');
    };

    const report = await collectGarbage(collector, online);
    await commit;

    assert.equal(report.blobsDeleted, 1);
    assert.equal(committed, true);
    const other = t.registry.repository('team/other');
    assert.equal((await collect((await other.blobs.open(digest)).stream)).toString(), CONTENT);
  });

  it('a manifest PUT whose layer is being deleted fails with MANIFEST_BLOB_UNKNOWN and leaves no tag', async () => {
    const repo = t.registry.repository('team/app');
    const { bytes, config } = manifestNaming(CONTENT);
    await pushBlob(repo, CONTENT);
    await pushBlob(repo, config);
    let put: Promise<unknown> | undefined;
    collector.hook = async (operation, path) => {
      if (operation !== 'delete' || path !== blobDataPath(digest)) return;
      put = repo.manifests.put(bytes, OCI_MANIFEST, tag('v1'));
      put.catch(() => undefined);
      await sleep(200);
    };

    await collectGarbage(collector, online);

    await assert.rejects(put!, ManifestBlobUnknownError);
    await assert.rejects(repo.manifests.get(tag('v1')), ManifestUnknownError);
  });

  it('a cross-repository mount of a blob being deleted is refused, so the client uploads instead', async () => {
    const repo = t.registry.repository('team/app');
    await pushBlob(repo, CONTENT);
    let mount: Promise<unknown> | undefined;
    collector.hook = async (operation, path) => {
      if (operation !== 'delete' || path !== blobDataPath(digest)) return;
      mount = t.registry.repository('team/other').blobs.mount(digest, 'team/app');
      await sleep(200);
    };

    await collectGarbage(collector, online);

    assert.equal(await mount, undefined);
    assert.ok(!(await blobsOnDisk(t.root)).has(digest));
  });

  it('a claim on a blob with no sweep under way answers at once whether the data is there', async () => {
    await pushBlob(t.registry.repository('team/app'), CONTENT);
    assert.equal(await claimBlob(t.driver, digest), true);
    assert.equal(await claimBlob(t.driver, digestOf(Buffer.from('never stored'))), false);
  });
});
