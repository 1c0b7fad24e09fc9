import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Digester, digestOf, type Digest } from '../../src/oci/digest.js';
import { BlobUnknownError, BlobUploadUnknownError, DigestInvalidError, RangeInvalidError } from '../../src/oci/errors.js';
import { chunks, collect, newRegistry, type TestRegistry } from './helpers.js';

const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

function blobFile(root: string, digest: Digest): string {
  const hex = digest.slice('sha256:'.length);
  return join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

describe('upload sessions', () => {
  let t: TestRegistry;
  before(async () => {
    t = await newRegistry();
  });
  after(() => t.cleanup());

  it('makes a blob visible only after commit, at Distribution\'s path, linked into the repository', async () => {
    const repo = t.registry.repository('team/app');
    const content = 'hello, berth';
    const digest = digestOf(Buffer.from(content));
    const session = await repo.blobs.create();
    await session.append(chunks('hello, ', 'berth'));
    await assert.rejects(repo.blobs.stat(digest), BlobUnknownError);
    await assert.rejects(stat(blobFile(t.root, digest)), { code: 'ENOENT' });

    assert.deepEqual(await session.commit(digest), { digest, size: content.length });
    assert.equal(await readFile(blobFile(t.root, digest), 'utf8'), content);
    const link = join(t.root, 'docker/registry/v2/repositories/team/app/_layers/sha256', digest.slice(7), 'link');
    assert.equal(await readFile(link, 'utf8'), digest);
    assert.equal((await collect((await repo.blobs.open(digest)).stream)).toString(), content);
    assert.deepEqual(await readdir(join(t.root, 'docker/registry/v2/repositories/team/app/_uploads')), []);
  });

  it('refuses a wrong digest, stores nothing and ends the session', async () => {
    const repo = t.registry.repository('team/app');
    const session = await repo.blobs.create();
    await session.append(chunks('actual bytes'));
    const claimed = digestOf(Buffer.from('other bytes'));
    await assert.rejects(session.commit(claimed), DigestInvalidError);
    await assert.rejects(stat(blobFile(t.root, claimed)), { code: 'ENOENT' });
    await assert.rejects(repo.blobs.resume(session.id), BlobUploadUnknownError);
  });

  it('rejects a chunk that does not start where the upload ends, reporting the current size', async () => {
    const repo = t.registry.repository('team/app');
    const session = await repo.blobs.create();
    await session.append(chunks('0123'), { start: 0, end: 3 });
    await assert.rejects(session.append(chunks('89'), { start: 8, end: 9 }), (err: unknown) => {
      assert.ok(err instanceof RangeInvalidError);
      assert.deepEqual((err.detail as { size: number }).size, 4);
      return true;
    });
    await session.append(chunks('4567'), { start: 4, end: 7 });
    assert.equal(session.size, 8);
    const digest = digestOf(Buffer.from('01234567'));
    assert.equal((await session.commit(digest)).size, 8);
  });

  it('resumes a chunked upload after a restart and verifies the digest from the stored bytes', async () => {
    const first = t.registry.repository('team/resume');
    const session = await first.blobs.create();
    await session.append(chunks('part one, '));

    const restarted = t.reopen().repository('team/resume');
    const resumed = await restarted.blobs.resume(session.id);
    assert.equal(resumed.size, 'part one, '.length);
    await resumed.append(chunks('part two'), { start: resumed.size, end: resumed.size + 7 });
    const digest = digestOf(Buffer.from('part one, part two'));
    assert.equal((await resumed.commit(digest)).digest, digest);
    assert.equal((await collect((await restarted.blobs.open(digest)).stream)).toString(), 'part one, part two');
  });

  it('saves the hash state after each append, stamped with the boot, so that another process continues the hash', async () => {
    const session = await t.registry.repository('team/handover').blobs.create();
    await session.append(chunks('first part; '));
    const uploadDir = join(t.root, 'docker/registry/v2/repositories/team/handover/_uploads', session.id);
    const statePath = join(uploadDir, 'berthhashstate.sha256');
    const firstState = await readFile(statePath);
    assert.ok(firstState.toString('latin1').endsWith(BOOT_ID));
    const { ino } = await stat(statePath);

    // Another worker or replica: its own registry, nothing in memory.
    const other = await t.reopen().repository('team/handover').blobs.resume(session.id);
    await other.append(chunks('second part'), { start: 12, end: 22 });
    // The same file, rewritten in place, now over all 23 bytes.
    assert.deepEqual((await readdir(uploadDir)).sort(), ['berthhashstate.sha256', 'data', 'startedat']);
    assert.equal((await stat(statePath)).ino, ino);
    const secondState = await readFile(statePath);
    assert.equal(secondState.length, firstState.length);
    assert.notDeepEqual(secondState, firstState);
    const digest = digestOf(Buffer.from('first part; second part'));
    assert.equal((await (await t.reopen().repository('team/handover').blobs.resume(session.id)).commit(digest)).digest, digest);
  });

  it('a saved state over fewer bytes than the upload holds is ignored: the commit hashes the stored bytes', async () => {
    const session = await t.registry.repository('team/stale').blobs.create();
    await session.append(chunks('first part; '));
    const statePath = join(t.root, 'docker/registry/v2/repositories/team/stale/_uploads', session.id, 'berthhashstate.sha256');
    const firstState = await readFile(statePath);
    await session.append(chunks('second part'), { start: 12, end: 22 });
    // As if the second chunk's bytes had landed but its state had not.
    await writeFile(statePath, firstState);
    const digest = digestOf(Buffer.from('first part; second part'));
    assert.equal((await (await t.reopen().repository('team/stale').blobs.resume(session.id)).commit(digest)).digest, digest);
  });

  /** An upload of `content` whose saved state is replaced by one of other bytes, as `stamp` says. */
  async function uploadWithForgedState(repository: string, content: string, stamp: (forged: Buffer) => { path: string; bytes: Buffer }) {
    const session = await t.registry.repository(repository).blobs.create();
    await session.append(chunks(content));
    const uploadDir = join(t.root, 'docker/registry/v2/repositories', repository, '_uploads', session.id);
    const other = new Digester();
    other.update(Buffer.from('x'.repeat(content.length)));
    const { path, bytes } = stamp(other.save()!);
    await rm(join(uploadDir, 'berthhashstate.sha256'));
    await mkdir(dirname(join(uploadDir, path)), { recursive: true });
    await writeFile(join(uploadDir, path), bytes);
    return t.reopen().repository(repository).blobs.resume(session.id);
  }

  it('a commit trusts a state saved in this boot over the stored bytes: one of other content fails the digest check', async () => {
    const resumed = await uploadWithForgedState('team/trusted', 'genuine bytes', (forged) => ({
      path: 'berthhashstate.sha256',
      bytes: Buffer.concat([forged, Buffer.from(BOOT_ID)]),
    }));
    await assert.rejects(resumed.commit(digestOf(Buffer.from('genuine bytes'))), DigestInvalidError);
  });

  it('a state saved before the host restarted is ignored: the commit hashes the stored bytes', async () => {
    const resumed = await uploadWithForgedState('team/rebooted', 'genuine bytes', (forged) => ({
      path: 'berthhashstate.sha256',
      bytes: Buffer.concat([forged, Buffer.from(randomUUID())]),
    }));
    const digest = digestOf(Buffer.from('genuine bytes'));
    assert.equal((await resumed.commit(digest)).digest, digest);
  });

  it("a commit trusts a state in Distribution's hashstates/ (Distribution's own, or Berth's on S3)", async () => {
    const resumed = await uploadWithForgedState('team/distribution', 'genuine bytes', (forged) => ({
      path: 'hashstates/sha256/13',
      bytes: forged,
    }));
    await assert.rejects(resumed.commit(digestOf(Buffer.from('genuine bytes'))), DigestInvalidError);
  });

  it('twenty concurrent uploads of the same content end with one correct blob', async () => {
    const content = Buffer.alloc(256 * 1024, 7);
    const digest = digestOf(content);
    const repos = Array.from({ length: 20 }, (_, i) => t.registry.repository(`race/r${i}`));
    await Promise.all(
      repos.map(async (repo) => {
        const session = await repo.blobs.create();
        await session.append(chunks(content.subarray(0, 100_000), content.subarray(100_000)));
        await session.commit(digest);
      }),
    );
    assert.deepEqual(await readFile(blobFile(t.root, digest)), content);
    for (const repo of repos) assert.equal((await repo.blobs.stat(digest)).size, content.length);
  });

  it('cancel drops the session and is safe to call twice', async () => {
    const repo = t.registry.repository('team/app');
    const session = await repo.blobs.create();
    await session.append(chunks('doomed'));
    await session.cancel();
    await session.cancel();
    await assert.rejects(repo.blobs.resume(session.id), BlobUploadUnknownError);
  });

  it('keeps the bytes that arrived before a client went away, so the upload can continue', async () => {
    const repo = t.registry.repository('team/app');
    const session = await repo.blobs.create();
    async function* dropsMidway(): AsyncIterable<Uint8Array> {
      yield Buffer.from('first half ');
      throw new Error('connection reset');
    }
    await assert.rejects(session.append(dropsMidway()), /connection reset/);
    const resumed = await repo.blobs.resume(session.id);
    assert.equal(resumed.size, 'first half '.length);
    await resumed.append(chunks('second half'));
    const digest = digestOf(Buffer.from('first half second half'));
    assert.equal((await resumed.commit(digest)).digest, digest);
  });

  it('an unknown or malformed upload id is BLOB_UPLOAD_UNKNOWN', async () => {
    const repo = t.registry.repository('team/app');
    await assert.rejects(repo.blobs.resume('00000000-0000-0000-0000-000000000000'), BlobUploadUnknownError);
    await assert.rejects(repo.blobs.resume('../../escape'), BlobUploadUnknownError);
  });
});
