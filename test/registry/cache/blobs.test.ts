import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { digestOf, type Digest } from '../../../src/oci/digest.js';
import { BlobUnknownError } from '../../../src/oci/errors.js';
import { InMemoryBlobDescriptorCache } from '../../../src/registry/cache/memory.js';
import { collectGarbage } from '../../../src/registry/gc/index.js';
import { createRegistry } from '../../../src/registry/index.js';
import type { BlobDescriptorCache } from '../../../src/registry/cache/types.js';
import type { BlobDescriptor } from '../../../src/registry/types.js';
import type { StorageDriver } from '../../../src/storage/driver.js';
import { chunks, newRegistry, pushBlob, type TestRegistry } from '../helpers.js';

/** Counts the storage reads a blob stat makes, by wrapping the registry's driver. */
function countingStats(driver: StorageDriver): { driver: StorageDriver; reads: () => number } {
  let reads = 0;
  const counted: StorageDriver = {
    name: driver.name,
    getContent: (path) => {
      reads++;
      return driver.getContent(path);
    },
    stat: (path) => {
      reads++;
      return driver.stat(path);
    },
    putContent: (path, content) => driver.putContent(path, content),
    reader: (path, offset, length) => driver.reader(path, offset, length),
    writer: (path, options) => driver.writer(path, options),
    list: (path) => driver.list(path),
    move: (source, destination) => driver.move(source, destination),
    delete: (path) => driver.delete(path),
    walk: (path, visit) => driver.walk(path, visit),
  };
  return { driver: counted, reads: () => reads };
}

describe('blob descriptor cache in front of a repository', () => {
  let fixture: TestRegistry;
  before(async () => {
    fixture = await newRegistry();
  });
  after(() => fixture.cleanup());

  it('answers a repeated stat without reading the storage, and a pushed blob is cached at once', async () => {
    const counting = countingStats(fixture.driver);
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000 });
    const registry = createRegistry({ driver: counting.driver, deleteEnabled: true, readOnly: false, blobDescriptorCache: cache });
    const repo = registry.repository('cached/app');
    const digest = await pushBlob(repo, 'cached layer');
    const before = counting.reads();
    assert.deepEqual(await repo.blobs.stat(digest), { digest, size: 12 });
    assert.deepEqual(await repo.blobs.stat(digest), { digest, size: 12 });
    assert.equal(counting.reads(), before);
  });

  it('a deleted blob is unknown at once, also to another registry sharing the cache', async () => {
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000 });
    const one = createRegistry({ driver: fixture.driver, deleteEnabled: true, readOnly: false, blobDescriptorCache: cache });
    const two = createRegistry({ driver: fixture.driver, deleteEnabled: true, readOnly: false, blobDescriptorCache: cache });
    const digest = await pushBlob(one.repository('cached/deleted'), 'doomed layer');
    assert.ok(await two.repository('cached/deleted').blobs.stat(digest));
    await one.repository('cached/deleted').blobs.delete(digest);
    await assert.rejects(two.repository('cached/deleted').blobs.stat(digest), BlobUnknownError);
  });

  it('a mounted blob is cached for the repository it was mounted into, and only there', async () => {
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000 });
    const registry = createRegistry({ driver: fixture.driver, deleteEnabled: true, readOnly: false, blobDescriptorCache: cache });
    const digest = await pushBlob(registry.repository('cached/source'), 'shared layer');
    await registry.repository('cached/target').blobs.mount(digest, 'cached/source');
    assert.ok(await cache.get('cached/target', digest));
    assert.equal(await cache.get('cached/elsewhere', digest), undefined);
  });

  it('a failing cache is reported and bypassed: stats, pushes and deletes still work from the storage', async () => {
    const failure = new Error('redis is down');
    const broken: BlobDescriptorCache = {
      get: async () => Promise.reject(failure),
      set: async () => Promise.reject(failure),
      unlink: async () => undefined,
      deleteBlob: async () => undefined,
    };
    const reported: unknown[] = [];
    const registry = createRegistry({
      driver: fixture.driver,
      deleteEnabled: true,
      readOnly: false,
      blobDescriptorCache: broken,
      onCacheError: (err) => reported.push(err),
    });
    const repo = registry.repository('cached/broken');
    const session = await repo.blobs.create();
    await session.append(chunks('still works'));
    const digest: Digest = digestOf(Buffer.from('still works'));
    const committed: BlobDescriptor = await session.commit(digest);
    assert.deepEqual(await repo.blobs.stat(digest), committed);
    assert.ok(reported.length >= 2 && reported.every((err) => err === failure));
  });

  it('garbage collection makes the cache forget the blobs it deletes', async () => {
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000 });
    const registry = createRegistry({ driver: fixture.driver, deleteEnabled: true, readOnly: false, blobDescriptorCache: cache });
    const repo = registry.repository('cached/collected');
    const digest = await pushBlob(repo, 'layer no manifest references');
    assert.ok(await cache.get('cached/collected', digest));
    const report = await collectGarbage(fixture.driver, {
      dryRun: false,
      deleteUntagged: false,
      gracePeriodMs: 0,
      onBlobDeleted: (deleted) => cache.deleteBlob(deleted),
    });
    assert.ok(report.blobsDeleted >= 1);
    assert.equal(await cache.get('cached/collected', digest), undefined);
    await assert.rejects(repo.blobs.stat(digest), BlobUnknownError);
  });

  it('a delete fails rather than leave a link the cache could keep serving', async () => {
    const cache = new InMemoryBlobDescriptorCache({ ttlMs: 60_000 });
    const registry = createRegistry({
      driver: fixture.driver,
      deleteEnabled: true,
      readOnly: false,
      blobDescriptorCache: { ...bind(cache), unlink: async () => Promise.reject(new Error('redis is down')) },
    });
    const repo = registry.repository('cached/undeletable');
    const digest = await pushBlob(repo, 'kept layer');
    await assert.rejects(repo.blobs.delete(digest), /redis is down/);
    assert.ok(await registry.repository('cached/undeletable').blobs.stat(digest), 'the blob was not unlinked');
  });
});

function bind(cache: BlobDescriptorCache): BlobDescriptorCache {
  return {
    get: cache.get.bind(cache),
    set: cache.set.bind(cache),
    unlink: cache.unlink.bind(cache),
    deleteBlob: cache.deleteBlob.bind(cache),
  };
}
