import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withChecks } from '../../../src/storage/base.js';
import { localFileOf, type StorageDriver } from '../../../src/storage/driver.js';
import { FilesystemDriver } from '../../../src/storage/drivers/filesystem.js';
import { directWritesAvailable } from '../../../src/storage/drivers/direct-io.js';
import { isOnLocalFilesystem } from '../../../src/storage/drivers/fs-calls.js';
import { PathNotFoundError, StorageError } from '../../../src/storage/errors.js';
import { runDriverSuite } from '../driver-suite.js';
import { chunksOf } from '../suite/helpers.js';

// As on a local disk, and as on a network filesystem (where the driver also writes through the page cache
// when O_DIRECT is refused).
for (const local of [true, false]) {
  const name = local ? 'metadata calls inline, direct writes' : 'metadata calls in the thread pool, cached writes';
  runDriverSuite(`filesystem, ${name}`, async () => {
    const rootDirectory = await mkdtemp(join(tmpdir(), 'berth-fs-driver-'));
    const driver = new FilesystemDriver({ rootDirectory, inlineMetadata: local, directWrites: local });
    return { driver, cleanup: () => rm(rootDirectory, { recursive: true }) };
  });
}

describe('isOnLocalFilesystem', () => {
  it('takes a disk-backed directory, also one not created yet, and refuses a pseudo filesystem', () => {
    assert.equal(isOnLocalFilesystem(tmpdir()), true);
    assert.equal(isOnLocalFilesystem(join(tmpdir(), 'not', 'there', 'yet')), true);
    assert.equal(isOnLocalFilesystem('/proc/self'), false);
  });
});

describe('FilesystemDriver unsyncedEpoch', () => {
  it("is the host's boot id on a local filesystem, and absent elsewhere (another filesystem may lose unsynced bytes)", () => {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    assert.equal(new FilesystemDriver({ rootDirectory: join(tmpdir(), 'not-created') }).unsyncedEpoch, bootId);
    assert.equal(withChecks(new FilesystemDriver({ rootDirectory: join(tmpdir(), 'not-created') })).unsyncedEpoch, bootId);
    assert.equal(new FilesystemDriver({ rootDirectory: '/proc/self' }).unsyncedEpoch, undefined);
  });
});

describe('FilesystemDriver on disk', () => {
  let root: string;
  let driver: StorageDriver;
  let umask: number;

  before(async () => {
    // Pin the usual umask so the modes checked below are the ones the driver asks for.
    umask = process.umask(0o022);
    root = await mkdtemp(join(tmpdir(), 'berth-fs-layout-'));
    driver = withChecks(new FilesystemDriver({ rootDirectory: root }));
  });

  after(async () => {
    process.umask(umask);
    await rm(root, { recursive: true });
  });

  it('stores a key at exactly <root>/<key>, as Distribution lays it out', async () => {
    const key = '/docker/registry/v2/repositories/library/alpine/_manifests/tags/3.19/current/link';
    await driver.putContent(key, Buffer.from('sha256:abc'));
    assert.equal(await readFile(join(root, key), 'utf8'), 'sha256:abc');
  });

  it('reads files and directories another process wrote under the root', async () => {
    await mkdir(join(root, 'foreign/blobs/sha256/ab'), { recursive: true });
    await writeFile(join(root, 'foreign/blobs/sha256/ab/data'), 'written by registry:2');
    assert.equal((await driver.getContent('/foreign/blobs/sha256/ab/data')).toString(), 'written by registry:2');
    assert.deepEqual(await driver.list('/foreign/blobs/sha256'), ['/foreign/blobs/sha256/ab']);
  });

  it('putContent leaves no temporary file behind, also when the rename fails', async () => {
    await driver.putContent('/tidy/file', Buffer.from('one'));
    await driver.putContent('/tidy/file', Buffer.from('two'));
    await mkdir(join(root, 'tidy/occupied/child'), { recursive: true });
    await assert.rejects(driver.putContent('/tidy/occupied', Buffer.from('x')), StorageError);
    assert.deepEqual((await readdir(join(root, 'tidy'))).sort(), ['file', 'occupied']);
  });

  it('putContent in place rewrites the same file, with no temporary one', async () => {
    const options = { durable: false, inPlace: true };
    await driver.putContent('/in-place/lease', Buffer.from('one'), options);
    const before = await stat(join(root, 'in-place/lease'));
    await driver.putContent('/in-place/lease', Buffer.from('two'), options);
    assert.equal((await stat(join(root, 'in-place/lease'))).ino, before.ino);
    assert.deepEqual(await readdir(join(root, 'in-place')), ['lease']);
  });

  it('creates files readable by everyone and directories everyone may enter', async () => {
    await driver.putContent('/modes/put', Buffer.from('x'));
    const writer = await driver.writer('/modes/deep/written', { append: false });
    await writer.append(chunksOf('x'));
    await writer.commit();
    assert.equal((await stat(join(root, 'modes/put'))).mode & 0o777, 0o644);
    assert.equal((await stat(join(root, 'modes/deep/written'))).mode & 0o777, 0o644);
    assert.equal((await stat(join(root, 'modes'))).mode & 0o777, 0o755);
    assert.equal((await stat(join(root, 'modes/deep'))).mode & 0o777, 0o755);
  });

  it('keeps directories emptied by delete, which list and walk still handle', async () => {
    await driver.putContent('/emptied/only', Buffer.from('x'));
    await driver.delete('/emptied/only');
    assert.deepEqual(await driver.list('/emptied'), []);
    const visited: string[] = [];
    await driver.walk('/', (info) => {
      if (info.path.startsWith('/emptied')) visited.push(info.path);
    });
    assert.deepEqual(visited, ['/emptied']);
  });

  it('reports an operating-system failure as a StorageError naming driver and key, with its cause', async () => {
    await driver.putContent('/blocker', Buffer.from('a file where a directory is needed'));
    await assert.rejects(driver.putContent('/blocker/child', Buffer.from('x')), (err: unknown) => {
      assert.ok(err instanceof StorageError && !(err instanceof PathNotFoundError));
      assert.match(err.message, /^filesystem: .*: \/blocker\/child$/);
      assert.ok((err.cause as NodeJS.ErrnoException).code);
      return true;
    });
  });

  it('readers name the open file and range they read, for sendfile, and closing the stream closes the file', async () => {
    await driver.putContent('/file/range', Buffer.from('0123456789'));
    const cases: Array<[number, number | undefined, number]> = [[0, undefined, 10], [3, 4, 4], [6, 100, 4]];
    for (const [offset, length, expected] of cases) {
      const stream = await driver.reader('/file/range', offset, length);
      const file = localFileOf(stream);
      assert.ok(file, 'no local file on the stream');
      assert.deepEqual({ offset: file.offset, length: file.length }, { offset, length: expected });
      const opened = await readlink(`/proc/self/fd/${file.fd}`);
      assert.equal(opened, join(root, '/file/range'));
      await new Promise<void>((resolve) => stream.destroy().once('close', resolve));
      assert.notEqual(await readlink(`/proc/self/fd/${file.fd}`).catch(() => undefined), opened, 'the file stayed open');
    }
  });
});

describe('FilesystemDriver uploads written with O_DIRECT', () => {
  const MiB = 1024 * 1024;

  /** Appends `sizes` in turn (each through a new writer, as upload chunks are) and checks every byte. */
  async function appendAndCheck(root: string, sizes: number[]): Promise<void> {
    const driver = withChecks(new FilesystemDriver({ rootDirectory: root }));
    const expected = createHash('sha256');
    let total = 0;
    for (const [index, size] of sizes.entries()) {
      const bytes = randomBytes(size);
      expected.update(bytes);
      total += size;
      const writer = await driver.writer('/upload/data', { append: index > 0 });
      // 64 KiB pieces, as a socket delivers them.
      const pieces = Array.from({ length: Math.ceil(size / 65536) }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536));
      assert.equal(await writer.append(chunksOf(...pieces)), size);
      assert.equal(writer.size, total);
      await writer.commit();
    }
    const stored = await readFile(join(root, 'upload/data'));
    assert.equal(stored.length, total);
    assert.equal(createHash('sha256').update(stored).digest('hex'), expected.digest('hex'));
  }

  it('loaded the aligned-buffer addon that npm install builds, on Linux', () => {
    assert.ok(process.platform !== 'linux' || directWritesAvailable, 'build/Release/berth_aligned.node did not load: run npm install');
  });

  it('keeps every byte in order when whole batches go direct and unaligned parts through the page cache', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-direct-'));
    try {
      // Direct batches and a cached tail; then an append starting unaligned (all cached); then one starting
      // aligned, at the size of the two before (direct again).
      await appendAndCheck(root, [36 * MiB + 1000, MiB + 7, 3 * MiB - 1007 + 4096 * 3, 2 * MiB]);
    } finally {
      await rm(root, { recursive: true });
    }
  });

  it('a source failing amid direct writes keeps every byte it delivered, in order', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-direct-'));
    try {
      const driver = withChecks(new FilesystemDriver({ rootDirectory: root }));
      const failure = new Error('connection reset');
      const delivered = createHash('sha256');
      let deliveredBytes = 0;
      async function* failingLate(): AsyncGenerator<Uint8Array> {
        // 40 MiB in odd-sized chunks: the failure lands mid-batch with direct writes under way.
        while (deliveredBytes < 40 * MiB) {
          const chunk = randomBytes(70_001);
          delivered.update(chunk);
          deliveredBytes += chunk.length;
          yield chunk;
        }
        throw failure;
      }
      const writer = await driver.writer('/upload/data', { append: false });
      await assert.rejects(writer.append(failingLate()), (err: unknown) => err === failure);
      assert.equal(writer.size, deliveredBytes);
      await writer.close();
      const stored = await readFile(join(root, 'upload/data'));
      assert.equal(stored.length, deliveredBytes);
      assert.equal(createHash('sha256').update(stored).digest('hex'), delivered.digest('hex'));
    } finally {
      await rm(root, { recursive: true });
    }
  });
});
