/** Conformance: ranged readers and streaming writers (append, commit, close, cancel, failing sources). */
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { it } from 'node:test';
import { InvalidOffsetError, PathNotFoundError } from '../../../src/storage/errors.js';
import { chunksOf, isPathNotFound, readAll, type SuiteContext } from './helpers.js';

const ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyz');

export function streamTests(context: SuiteContext): void {
  it('reader streams the whole file, from an offset, or a length-limited range', async () => {
    await context.driver.putContent('/r', ALPHABET);
    assert.equal((await readAll(await context.driver.reader('/r'))).toString(), 'abcdefghijklmnopqrstuvwxyz');
    assert.equal((await readAll(await context.driver.reader('/r', 20))).toString(), 'uvwxyz');
    assert.equal((await readAll(await context.driver.reader('/r', 2, 3))).toString(), 'cde');
    assert.equal((await readAll(await context.driver.reader('/r', 24, 100))).toString(), 'yz');
    assert.equal((await readAll(await context.driver.reader('/r', 5, 0))).toString(), '');
  });

  it('reader at exactly the end of the file yields nothing', async () => {
    await context.driver.putContent('/r', ALPHABET);
    assert.equal((await readAll(await context.driver.reader('/r', ALPHABET.length))).length, 0);
  });

  it('reader past the end of the file or at a negative offset throws InvalidOffsetError', async () => {
    await context.driver.putContent('/r', ALPHABET);
    await assert.rejects(context.driver.reader('/r', ALPHABET.length + 1), (err: unknown) => {
      assert.ok(err instanceof InvalidOffsetError);
      assert.equal(err.offset, ALPHABET.length + 1);
      return true;
    });
    await assert.rejects(context.driver.reader('/r', -1), InvalidOffsetError);
  });

  it('reader of a missing file throws PathNotFoundError before returning a stream', async () => {
    await assert.rejects(context.driver.reader('/missing'), isPathNotFound('/missing'));
  });

  it('writer streams chunks into a new file that commit makes readable', async () => {
    const writer = await context.driver.writer('/uploads/1/data', { append: false });
    assert.equal(writer.size, 0);
    assert.equal(await writer.append(chunksOf('hello', ' ', 'world')), 11);
    assert.equal(writer.size, 11);
    await writer.commit();
    assert.equal((await context.driver.getContent('/uploads/1/data')).toString(), 'hello world');
    assert.equal((await context.driver.stat('/uploads/1/data')).size, 11);
  });

  it('a writer reopened with append continues after the bytes of a closed writer', async () => {
    const first = await context.driver.writer('/w', { append: false });
    await first.append(chunksOf('hello '));
    await first.close();
    const second = await context.driver.writer('/w', { append: true });
    assert.equal(second.size, 6);
    assert.equal(await second.append(chunksOf('wor', 'ld')), 5);
    assert.equal(second.size, 11);
    await second.commit();
    assert.equal((await context.driver.getContent('/w')).toString(), 'hello world');
  });

  it('a writer opened without append truncates the existing file', async () => {
    await context.driver.putContent('/w', Buffer.from('old content'));
    const writer = await context.driver.writer('/w', { append: false });
    assert.equal(writer.size, 0);
    await writer.append(chunksOf('new'));
    await writer.commit();
    assert.equal((await context.driver.getContent('/w')).toString(), 'new');
  });

  it('cancel removes the file and is safe to call twice', async () => {
    const writer = await context.driver.writer('/cancelled', { append: false });
    await writer.append(chunksOf('doomed'));
    await writer.cancel();
    await writer.cancel();
    await assert.rejects(context.driver.stat('/cancelled'), PathNotFoundError);
  });

  it('a writer refuses to append after commit', async () => {
    const writer = await context.driver.writer('/done', { append: false });
    await writer.commit();
    await assert.rejects(writer.append(chunksOf('late')));
    assert.equal((await context.driver.stat('/done')).size, 0);
  });

  it('append rejects with the source error and keeps the bytes written before it', async () => {
    const failure = new Error('client went away');
    async function* failingSource(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('abc');
      yield Buffer.from('def');
      throw failure;
    }
    const writer = await context.driver.writer('/partial', { append: false });
    await assert.rejects(writer.append(failingSource()), (err: unknown) => err === failure);
    assert.equal(writer.size, 6);
    await writer.close();
    assert.equal((await context.driver.getContent('/partial')).toString(), 'abcdef');

    const resumed = await context.driver.writer('/partial', { append: true });
    await resumed.append(chunksOf('ghi'));
    await resumed.commit();
    assert.equal((await context.driver.getContent('/partial')).toString(), 'abcdefghi');
  });

  it('a source failing after several MiB keeps every byte it delivered, in order', async () => {
    const failure = new Error('connection reset');
    const delivered = createHash('sha256');
    let deliveredBytes = 0;
    // Odd-sized chunks (the last one partial) so that failure lands mid-batch with earlier batches in flight.
    async function* failingLate(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 150; i++) {
        const chunk = randomFillSync(Buffer.alloc(70_001));
        delivered.update(chunk);
        deliveredBytes += chunk.length;
        yield chunk;
      }
      throw failure;
    }
    const writer = await context.driver.writer('/late-failure', { append: false });
    await assert.rejects(writer.append(failingLate()), (err: unknown) => err === failure);
    assert.equal(writer.size, deliveredBytes);
    await writer.close();
    const stored = await context.driver.getContent('/late-failure');
    assert.equal(stored.length, deliveredBytes);
    assert.equal(createHash('sha256').update(stored).digest('hex'), delivered.digest('hex'));
  });

  it('a 64 MiB streamed write has the right size and sha256, even when the source reuses its buffer', async () => {
    const chunkSize = 64 * 1024;
    const chunkCount = 1024;
    const written = createHash('sha256');
    // One buffer refilled for every chunk, as a network stream may do: a driver must consume or copy it.
    async function* generated(): AsyncGenerator<Uint8Array> {
      const buffer = Buffer.alloc(chunkSize);
      for (let i = 0; i < chunkCount; i++) {
        randomFillSync(buffer);
        written.update(buffer);
        yield buffer;
      }
    }
    const writer = await context.driver.writer('/large', { append: false });
    assert.equal(await writer.append(generated()), chunkSize * chunkCount);
    await writer.commit();

    assert.equal((await context.driver.stat('/large')).size, chunkSize * chunkCount);
    const read = createHash('sha256');
    for await (const chunk of await context.driver.reader('/large')) read.update(chunk as Buffer);
    assert.equal(read.digest('hex'), written.digest('hex'));
  });
}
