import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
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

/** Counts the reads (getContent and list) that reach the store. */
function counting(driver: StorageDriver): { driver: StorageDriver; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(driver, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (key === 'getContent' || key === 'list') {
        return (path: string) => {
          reads++;
          return key === 'list' ? target.list(path) : target.getContent(path);
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

  it('serves a settled, unchanged link without reading it again', async () => {
    const store = counting(open());
    const cached = withContentCache(store.driver);
    await cached.putContent(LINK, Buffer.from('sha256:three'));
    const old = new Date(Date.now() - 60_000);
    await utimes(join(root, LINK), old, old);
    await cached.getContent(LINK);
    await cached.getContent(LINK);
    assert.equal(store.reads(), 1);
  });

  it('does not keep a link rewritten within the last moments', async () => {
    // Its version (inode and mtime) could come back for a later rewrite within the same clock tick.
    const store = counting(open());
    const cached = withContentCache(store.driver);
    await cached.putContent(LINK, Buffer.from('sha256:four'));
    await cached.getContent(LINK);
    await cached.getContent(LINK);
    assert.equal(store.reads(), 2);
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

  it('lists a settled directory once, and sees a child added by another process at once', async () => {
    const store = counting(open());
    const cached = withContentCache(store.driver);
    const elsewhere = open();
    const tags = '/docker/registry/v2/repositories/listed/_manifests/tags';
    await elsewhere.putContent(`${tags}/a/current/link`, Buffer.from('sha256:a'));
    const old = new Date(Date.now() - 60_000);
    await utimes(join(root, tags), old, old);

    assert.deepEqual(await cached.list(tags), [`${tags}/a`]);
    assert.deepEqual(await cached.list(tags), [`${tags}/a`]);
    assert.equal(store.reads(), 1, 'the second listing came from the cache');

    await elsewhere.putContent(`${tags}/b/current/link`, Buffer.from('sha256:b'));
    assert.deepEqual(await cached.list(tags), [`${tags}/a`, `${tags}/b`]);
  });

  it('does not keep a listing of a directory changed within the last moments', async () => {
    const store = counting(open());
    const cached = withContentCache(store.driver);
    const fresh = '/docker/registry/v2/repositories/fresh/_manifests/tags';
    await cached.putContent(`${fresh}/x/current/link`, Buffer.from('sha256:x'));
    await cached.list(fresh);
    await cached.list(fresh);
    assert.equal(store.reads(), 2);
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
