import assert from 'node:assert/strict';
import { utimes, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OCI_MANIFEST } from '../../src/oci/mediatypes.js';
import { purgeUploads } from '../../src/registry/purge.js';
import { chunks, newRegistry, pushImageContent } from './helpers.js';

describe('catalog', () => {
  it('lists repositories with manifests in lexical order, nested names included, paginated', async () => {
    const t = await newRegistry();
    try {
      for (const name of ['b/app', 'a', 'a-b', 'a/b/c', 'z']) {
        const repo = t.registry.repository(name);
        await repo.manifests.put(await pushImageContent(repo, name), OCI_MANIFEST, { kind: 'tag', tag: 'latest' });
      }
      // A repository with only an upload in progress has no manifests yet and is not listed.
      await t.registry.repository('only/uploads').blobs.create();
      assert.deepEqual(await t.registry.catalog({}), { items: ['a', 'a-b', 'a/b/c', 'b/app', 'z'], more: false });
      assert.deepEqual(await t.registry.catalog({ n: 2, last: 'a-b' }), { items: ['a/b/c', 'b/app'], more: true });
    } finally {
      await t.cleanup();
    }
  });

  it('lists a repository created through another replica once its cached list is older than the limit', async () => {
    const t = await newRegistry({ catalogMaxAgeMs: 50 });
    try {
      const here = t.registry;
      const elsewhere = t.reopen();
      const first = here.repository('local/app');
      await first.manifests.put(await pushImageContent(first, 'local'), OCI_MANIFEST, { kind: 'tag', tag: 'v1' });
      assert.deepEqual((await here.catalog({})).items, ['local/app']);

      const other = elsewhere.repository('remote/app');
      await other.manifests.put(await pushImageContent(other, 'remote'), OCI_MANIFEST, { kind: 'tag', tag: 'v1' });
      const mine = here.repository('local/second');
      await mine.manifests.put(await pushImageContent(mine, 'second'), OCI_MANIFEST, { kind: 'tag', tag: 'v1' });
      assert.deepEqual((await here.catalog({})).items, ['local/app', 'local/second'], 'local pushes show at once');

      await new Promise((resolve) => setTimeout(resolve, 80));
      await here.catalog({}); // starts the background re-read
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual((await here.catalog({})).items, ['local/app', 'local/second', 'remote/app']);
    } finally {
      await t.cleanup();
    }
  });

  it('is empty for a fresh store', async () => {
    const t = await newRegistry();
    try {
      assert.deepEqual(await t.registry.catalog({}), { items: [], more: false });
    } finally {
      await t.cleanup();
    }
  });
});

describe('upload purging', () => {
  it('removes sessions older than the age, keeps recent ones, and changes nothing on a dry run', async () => {
    const t = await newRegistry();
    try {
      const repo = t.registry.repository('purge/app');
      const old = await repo.blobs.create();
      await old.append(chunks('stale'));
      const fresh = await repo.blobs.create();
      const uploads = join(t.root, 'docker/registry/v2/repositories/purge/app/_uploads');
      await writeFile(join(uploads, old.id, 'startedat'), new Date(Date.now() - 8 * 24 * 3600_000).toISOString());
      await utimes(join(uploads, old.id, 'startedat'), new Date(), new Date());

      const cutoff = new Date(Date.now() - 7 * 24 * 3600_000);
      const dry = await purgeUploads(t.driver, { olderThan: cutoff, dryRun: true });
      assert.equal(dry.purged.length, 1);
      assert.deepEqual((await readdir(uploads)).sort(), [old.id, fresh.id].sort());

      const real = await purgeUploads(t.driver, { olderThan: cutoff, dryRun: false });
      assert.deepEqual(real.purged, dry.purged);
      assert.deepEqual(await readdir(uploads), [fresh.id]);
    } finally {
      await t.cleanup();
    }
  });
});
