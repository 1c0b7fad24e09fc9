import assert from 'node:assert/strict';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { digestOf, type Digest } from '../../../src/oci/digest.js';
import { BlobUnknownError, ManifestUnknownError } from '../../../src/oci/errors.js';
import { collectGarbage } from '../../../src/registry/gc/index.js';
import { newRegistry, pushBlob, type TestRegistry } from '../helpers.js';
import { blobsOnDisk, byDigest, pushImage, pushIndex } from './fixtures.js';

const offline = { dryRun: false, deleteUntagged: false, gracePeriodMs: 0 };

/** Every file under `dir` with its content and modification time, to prove that nothing changed. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const info = await stat(full);
    files.set(full, entry.isFile() ? `${info.mtimeMs} ${await readFile(full, 'base64')}` : 'dir');
  }
  return files;
}

describe('garbage collection (mark and sweep)', () => {
  let t: TestRegistry;
  beforeEach(async () => {
    t = await newRegistry();
  });
  afterEach(() => t.cleanup());

  it('keeps what any manifest revision references, across repositories, and deletes only unreferenced blobs', async () => {
    const a = t.registry.repository('team/a');
    const b = t.registry.repository('team/b');
    const tagged = await pushImage(a, 'tagged', { tag: 'v1', shared: ['base layer'] });
    const untagged = await pushImage(a, 'untagged');
    const other = await pushImage(b, 'other', { tag: 'v1', shared: ['base layer'] });
    const orphan = await pushBlob(a, 'uploaded, never referenced');
    const deleted = await pushImage(b, 'deleted', { tag: 'gone', shared: ['base layer'] });
    await b.manifests.delete(byDigest(deleted.digest));

    const report = await collectGarbage(t.driver, offline);

    const expected = [orphan, deleted.digest, deleted.blobs[0]!, deleted.blobs[2]!].sort();
    assert.deepEqual(report.blobsEligible, expected);
    assert.equal(report.blobsDeleted, 4);
    const sizes = ['uploaded, never referenced', 'layer of deleted'].reduce((n, s) => n + s.length, 0);
    assert.ok(report.bytesDeleted > sizes, 'bytes include the config and the manifest');
    const onDisk = await blobsOnDisk(t.root);
    for (const digest of expected) assert.ok(!onDisk.has(digest), `${digest} deleted`);
    for (const digest of [tagged, untagged, other].flatMap((m) => [m.digest, ...m.blobs])) {
      assert.ok(onDisk.has(digest), `${digest} kept`);
    }
    await assert.rejects(a.blobs.stat(orphan), BlobUnknownError);
    // The `_layers` links of deleted blobs go with them.
    await assert.rejects(readdir(join(t.root, 'docker/registry/v2/repositories/team/a/_layers/sha256', orphan.slice(7))));
    assert.equal((await a.manifests.get(byDigest(untagged.digest))).digest, untagged.digest);
  });

  it('with deleteUntagged removes untagged manifests but keeps index children and referrers of live subjects', async () => {
    const repo = t.registry.repository('team/app');
    const amd = await pushImage(repo, 'amd64');
    const arm = await pushImage(repo, 'arm64');
    const index = await pushIndex(repo, [amd, arm], 'multi');
    const live = await pushImage(repo, 'live', { tag: 'v1' });
    const signature = await pushImage(repo, 'signature of live', { subject: live });
    const moved = await pushImage(repo, 'moved', { tag: 'latest' });
    const signatureOfMoved = await pushImage(repo, 'signature of moved', { subject: moved });
    await pushImage(repo, 'newer', { tag: 'latest' });
    const loose = await pushImage(repo, 'loose');

    const report = await collectGarbage(t.driver, { ...offline, deleteUntagged: true });

    const dead = [moved, signatureOfMoved, loose];
    assert.deepEqual(
      report.manifestsEligible.map((m) => m.digest).sort(),
      dead.map((m) => m.digest).sort(),
    );
    assert.equal(report.manifestsDeleted, 3);
    for (const m of dead) await assert.rejects(repo.manifests.get(byDigest(m.digest)), ManifestUnknownError);
    const manifests = join(t.root, 'docker/registry/v2/repositories/team/app/_manifests');
    await assert.rejects(stat(join(manifests, 'tags/latest/index/sha256', moved.digest.slice(7))));
    await assert.rejects(stat(join(manifests, 'referrers/sha256', moved.digest.slice(7), 'sha256', signatureOfMoved.digest.slice(7))));
    const onDisk = await blobsOnDisk(t.root);
    for (const m of dead) for (const digest of [m.digest, m.blobs[0]!, m.blobs.at(-1)!]) assert.ok(!onDisk.has(digest));

    for (const m of [index, amd, arm, live, signature]) {
      assert.equal((await repo.manifests.get(byDigest(m.digest))).digest, m.digest);
      for (const blob of m === index ? [] : m.blobs) assert.equal((await repo.blobs.stat(blob)).digest, blob);
    }
    assert.deepEqual((await repo.referrers.list(live.digest)).map((d) => d.digest), [signature.digest]);
  });

  it('a dry run reports what it would delete and changes nothing', async () => {
    const repo = t.registry.repository('team/app');
    await pushImage(repo, 'kept', { tag: 'v1' });
    const loose = await pushImage(repo, 'loose');
    const orphan = await pushBlob(repo, 'orphan');
    const before = await snapshot(t.root);
    const lines: string[] = [];

    const report = await collectGarbage(t.driver, { dryRun: true, deleteUntagged: true, gracePeriodMs: 0, emit: (l) => lines.push(l) });

    assert.deepEqual(await snapshot(t.root), before);
    assert.deepEqual(report.blobsEligible, [loose.digest, ...loose.blobs, orphan].sort());
    assert.equal(report.blobsDeleted, 0);
    assert.ok(lines.includes(`manifest eligible for deletion: ${loose.digest}`));
    assert.ok(lines.includes(`blob eligible for deletion: ${orphan}`));
    assert.ok(lines.some((l) => l.startsWith('team/app: marking manifest sha256:')));
  });

  it('with a grace period keeps recently pushed content, and collects it once nothing renewed it for that long', async () => {
    const repo = t.registry.repository('team/app');
    const orphan = await pushBlob(repo, 'just uploaded');
    const loose = await pushImage(repo, 'loose');
    const online = { dryRun: false, deleteUntagged: true, gracePeriodMs: 60_000 };

    const fresh = await collectGarbage(t.driver, online);
    assert.deepEqual(fresh.blobsEligible, []);
    assert.equal(fresh.manifestsDeleted, 0);

    const longAgo = new Date(Date.now() - 120_000);
    for (const digest of [orphan, loose.digest, ...loose.blobs]) {
      const dir = join(t.root, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7));
      for (const file of await readdir(dir)) await utimes(join(dir, file), longAgo, longAgo);
    }
    const stale = await collectGarbage(t.driver, online);
    assert.deepEqual(stale.blobsEligible, [orphan, loose.digest, ...loose.blobs].sort());
    assert.equal(stale.manifestsDeleted, 1);
    assert.equal(stale.blobsDeleted, 4);
  });

  it('refuses to collect when a stored manifest cannot be read, naming it', async () => {
    const repo = t.registry.repository('team/app');
    const image = await pushImage(repo, 'image', { tag: 'v1' });
    const data = join(t.root, 'docker/registry/v2/blobs/sha256', image.digest.slice(7, 9), image.digest.slice(7), 'data');
    await writeFile(data, 'not json');
    await assert.rejects(collectGarbage(t.driver, offline), new RegExp(`team/app@${image.digest}: cannot read`));
    assert.ok((await blobsOnDisk(t.root)).has(image.blobs[1]!), 'nothing was deleted');
  });

  it('counts what a dry run would free in bytes', async () => {
    const repo = t.registry.repository('team/app');
    const content = 'x'.repeat(1000);
    const digest: Digest = await pushBlob(repo, content);
    assert.equal(digest, digestOf(Buffer.from(content)));
    const report = await collectGarbage(t.driver, { ...offline, dryRun: true });
    assert.equal(report.bytesEligible, 1000);
  });
});
