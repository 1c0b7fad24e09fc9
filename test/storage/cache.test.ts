import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withChecks } from '../../src/storage/base.js';
import { withContentCache } from '../../src/storage/cache.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { PathNotFoundError } from '../../src/storage/errors.js';

const BLOB = '/docker/registry/v2/blobs/sha256/ab/ab00/data';
const LINK = '/docker/registry/v2/repositories/app/_manifests/tags/v1/current/link';

/** Counts the reads that reach the store. */
function counting(driver: StorageDriver): { driver: StorageDriver; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(driver, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (key === 'getContent') {
        return (path: string) => {
          reads++;
          return target.getContent(path);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { driver: proxy, reads: () => reads };
}

describe('content cache', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-cache-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const open = () => withChecks(new FilesystemDriver({ rootDirectory: root }));

  it('reads a content-addressed blob from the store once', async () => {
    const store = counting(open());
    const cached = withContentCache(store.driver);
    await cached.putContent(BLOB, Buffer.from('manifest bytes'));
    for (let i = 0; i < 3; i++) assert.equal((await cached.getContent(BLOB)).toString(), 'manifest bytes');
    assert.equal(store.reads(), 1);
  });

  it('sees a link rewritten by another process at once', async () => {
    const cached = withContentCache(open());
    const elsewhere = open();
    await elsewhere.putContent(LINK, Buffer.from('sha256:one'));
    assert.equal((await cached.getContent(LINK)).toString(), 'sha256:one');
    await elsewhere.putContent(LINK, Buffer.from('sha256:two'));
    assert.equal((await cached.getContent(LINK)).toString(), 'sha256:two');
    await elsewhere.delete(LINK);
    await assert.rejects(cached.getContent(LINK), PathNotFoundError);
  });

  it('serves an unchanged link without reading it again', async () => {
    const store = counting(open());
    const cached = withContentCache(store.driver);
    await cached.putContent(LINK, Buffer.from('sha256:three'));
    await cached.getContent(LINK);
    await cached.getContent(LINK);
    assert.equal(store.reads(), 1);
  });

  it('forgets what it deletes, down the whole tree', async () => {
    const cached = withContentCache(open());
    await cached.putContent(BLOB, Buffer.from('gone soon'));
    await cached.getContent(BLOB);
    await cached.stat(BLOB);
    await cached.delete('/docker/registry/v2/blobs/sha256/ab');
    await assert.rejects(cached.getContent(BLOB), PathNotFoundError);
    await assert.rejects(cached.stat(BLOB), PathNotFoundError);
  });

  it('stays within its byte budget, dropping the least recently used', async () => {
    const store = counting(open());
    const cached = withContentCache(store.driver, { maxBytes: 3 * 1024, maxEntryBytes: 1024 });
    const paths = [0, 1, 2, 3].map((i) => `/docker/registry/v2/blobs/sha256/cd/cd0${i}/data`);
    for (const path of paths) await cached.putContent(path, Buffer.alloc(700, 1));
    for (const path of paths) await cached.getContent(path);
    const afterFilling = store.reads();
    await cached.getContent(paths[3]!);
    assert.equal(store.reads(), afterFilling, 'the newest entry is still cached');
    await cached.getContent(paths[0]!);
    assert.equal(store.reads(), afterFilling + 1, 'the oldest entry was dropped');
  });
});
