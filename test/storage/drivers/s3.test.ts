import {
  CompleteMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { withChecks } from '../../../src/storage/base.js';
import type { StorageDriver } from '../../../src/storage/driver.js';
import { S3Driver } from '../../../src/storage/drivers/s3.js';
import type { S3DriverOptions } from '../../../src/storage/drivers/s3-client.js';
import { PathNotFoundError } from '../../../src/storage/errors.js';
import { s3Client, testBucket, type TestBucket } from '../../helpers/s3.js';
import { runDriverSuite } from '../driver-suite.js';

// One bucket for the file; every test of the suite gets its own rootdirectory in it.
let suiteBucket: Promise<TestBucket> | undefined;
after(async () => (await suiteBucket)?.cleanup());
runDriverSuite('s3', async () => {
  const bucket = await (suiteBucket ??= testBucket());
  const rootDirectory = `suite-${randomBytes(6).toString('hex')}`;
  return { driver: new S3Driver(bucket.driverOptions({ rootDirectory })), cleanup: async () => undefined };
});

describe('S3Driver on a real bucket', () => {
  let bucket: TestBucket;
  const MiB = 1024 * 1024;

  before(async () => {
    bucket = await testBucket();
  });

  after(async () => {
    await bucket.cleanup();
  });

  /** A driver whose S3 requests are recorded: multipart part sizes by upload, and the command names. */
  function recordingDriver(overrides: Partial<S3DriverOptions> = {}) {
    const client = s3Client(bucket.store);
    const partSizes = new Map<string, number[]>();
    const completed: number[][] = [];
    const commands: string[] = [];
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    (client as { send: unknown }).send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const { input } = command;
      commands.push(command.constructor.name);
      const uploadId = input.UploadId as string;
      const sizes = partSizes.get(uploadId) ?? [];
      if (command instanceof UploadPartCommand) sizes[(input.PartNumber as number) - 1] = input.ContentLength as number;
      if (command instanceof UploadPartCopyCommand) {
        const [start, end] = (input.CopySourceRange as string).slice('bytes='.length).split('-').map(Number);
        sizes[(input.PartNumber as number) - 1] = end! - start! + 1;
      }
      if (uploadId !== undefined) partSizes.set(uploadId, sizes);
      if (command instanceof CompleteMultipartUploadCommand) completed.push(sizes);
      return send(command);
    };
    const driver = withChecks(new S3Driver(bucket.driverOptions(overrides), client));
    return { driver, completed, commands };
  }

  function assertEqualParts(uploads: number[][]): void {
    for (const sizes of uploads) {
      assert.ok(sizes.length > 0 && sizes.every((size) => size > 0), `parts ${sizes}`);
      const first = sizes[0]!;
      assert.ok(sizes.slice(0, -1).every((size) => size === first), `unequal parts: ${sizes.join(',')}`);
      assert.ok(sizes.at(-1)! <= first, `last part larger than the others: ${sizes.join(',')}`);
    }
  }

  async function* random(total: number, chunk: number, hash: Hash): AsyncGenerator<Uint8Array> {
    for (let sent = 0; sent < total; sent += chunk) {
      const bytes = randomBytes(Math.min(chunk, total - sent));
      hash.update(bytes);
      yield bytes;
    }
  }

  async function sha256Of(driver: StorageDriver, path: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of await driver.reader(path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  it('writes multipart uploads whose parts are all the same size but the last, across close and reopen', async () => {
    const { driver, completed } = recordingDriver();
    const written = createHash('sha256');
    let writer = await driver.writer('/parts/data', { append: false });
    await writer.append(random(12 * MiB + 123, 256 * 1024, written));
    await writer.close();
    writer = await driver.writer('/parts/data', { append: true });
    assert.equal(writer.size, 12 * MiB + 123);
    await writer.append(random(9 * MiB, 1000 * 1000, written));
    await writer.commit();
    assert.equal((await driver.stat('/parts/data')).size, 21 * MiB + 123);
    assert.equal(await sha256Of(driver, '/parts/data'), written.digest('hex'));
    assert.equal(completed.length, 2);
    assertEqualParts(completed);
    assert.deepEqual(completed[1]!.slice(0, 4), [5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB]);
  });

  it('doubles the part size when an upload fills its parts, keeping every upload within the part limit', async () => {
    const { driver, completed } = recordingDriver({ maxParts: 4 });
    const written = createHash('sha256');
    const writer = await driver.writer('/doubling/data', { append: false });
    await writer.append(random(46 * MiB, MiB, written));
    await writer.commit();
    assert.equal(await sha256Of(driver, '/doubling/data'), written.digest('hex'));
    assertEqualParts(completed);
    assert.ok(completed.every((sizes) => sizes.length <= 4));
    assert.deepEqual(
      completed.map((sizes) => sizes[0]),
      [5 * MiB, 10 * MiB, 20 * MiB],
      'part sizes of the successive uploads',
    );
  });

  it('continues a file another driver instance (another replica) wrote, and leaves no multipart upload behind', async () => {
    const first = withChecks(new S3Driver(bucket.driverOptions()));
    const second = withChecks(new S3Driver(bucket.driverOptions()));
    const written = createHash('sha256');
    let writer = await first.writer('/shared/data', { append: false });
    await writer.append(random(7 * MiB, 64 * 1024, written));
    await writer.close();
    writer = await second.writer('/shared/data', { append: true });
    await writer.append(random(3 * MiB, 64 * 1024, written));
    await writer.close();
    writer = await first.writer('/shared/data', { append: true });
    assert.equal(writer.size, 10 * MiB);
    await writer.commit();
    assert.equal(await sha256Of(second, '/shared/data'), written.digest('hex'));
    const uploads = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket }));
    assert.deepEqual(uploads.Uploads ?? [], []);
  });

  it('purgeStaleWrites aborts the multipart upload of a writer that died, after a dry run that only lists it', async () => {
    const driver = withChecks(new S3Driver(bucket.driverOptions()));
    await driver.putContent('/orphan/data', Buffer.from('acknowledged'));
    const writer = await driver.writer('/orphan/data', { append: true });
    // More than one part reaches S3, and then the process "dies": the writer is never closed.
    await writer.append(random(6 * MiB, MiB, createHash('sha256')));
    const later = new Date(Date.now() + 60_000);
    assert.deepEqual(await driver.purgeStaleWrites!(new Date(Date.now() - 60_000), { dryRun: false }), []);
    assert.deepEqual(await driver.purgeStaleWrites!(later, { dryRun: true }), ['/orphan/data']);
    assert.deepEqual(await driver.purgeStaleWrites!(later, { dryRun: false }), ['/orphan/data']);
    const uploads = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket }));
    assert.deepEqual(uploads.Uploads ?? [], []);
    assert.equal((await driver.getContent('/orphan/data')).toString(), 'acknowledged');
  });

  it('keeps keys under rootdirectory, laid out as Distribution does', async () => {
    const driver = withChecks(new S3Driver(bucket.driverOptions({ rootDirectory: '/prefixed/root/' })));
    await driver.putContent('/docker/registry/v2/blobs/sha256/ab/abcd/data', Buffer.from('x'));
    assert.ok((await bucket.keys()).includes('prefixed/root/docker/registry/v2/blobs/sha256/ab/abcd/data'));
    assert.deepEqual(await driver.list('/'), ['/docker']);
  });

  it('moves an object above multipartcopythresholdsize with a server-side copy in parts', async () => {
    const { driver, commands } = recordingDriver({ multipartCopyThresholdSize: 5 * MiB, multipartCopyChunkSize: 5 * MiB });
    const content = randomBytes(11 * MiB + 5);
    await driver.putContent('/move/source', content);
    await driver.move('/move/source', '/move/destination');
    assert.ok(commands.includes('UploadPartCopyCommand') && !commands.includes('CopyObjectCommand'));
    assert.deepEqual(await driver.getContent('/move/destination'), content);
    await assert.rejects(driver.stat('/move/source'), PathNotFoundError);
  });

  it('deletes a directory of more than 1,000 keys', async () => {
    const driver = withChecks(new S3Driver(bucket.driverOptions()));
    const paths = Array.from({ length: 1100 }, (_, i) => `/del/many/${Math.floor(i / 100)}/${i}`);
    for (let i = 0; i < paths.length; i += 50) {
      await Promise.all(paths.slice(i, i + 50).map((path) => driver.putContent(path, Buffer.from('x'))));
    }
    await driver.putContent('/del/many-kept', Buffer.from('x'));
    await driver.delete('/del/many');
    await assert.rejects(driver.stat('/del/many'), PathNotFoundError);
    assert.deepEqual(await driver.list('/del'), ['/del/many-kept']);
  });

  it('redirectURL presigns GET and HEAD requests a client can use without credentials', async () => {
    const driver = withChecks(new S3Driver(bucket.driverOptions()));
    await driver.putContent('/blob/data', Buffer.from('served by S3'));
    const get = await fetch((await driver.redirectURL!('/blob/data', 'GET'))!);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'served by S3');
    const head = await fetch((await driver.redirectURL!('/blob/data', 'HEAD'))!, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '12');
    const disabled = withChecks(new S3Driver(bucket.driverOptions({ redirectExpirySeconds: 0 })));
    assert.equal(disabled.redirectURL, undefined);
  });
});
