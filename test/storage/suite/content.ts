/** Conformance: whole-file reads and writes, path validation, atomic replacement. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import type { StorageDriver } from '../../../src/storage/driver.js';
import { InvalidPathError, PathNotFoundError } from '../../../src/storage/errors.js';
import { isPathNotFound, type SuiteContext } from './helpers.js';

const INVALID_PATHS = ['', 'relative/path', '/a/../b', '/a/./b', '/..', '/a//b', '/a/', '/a b', '/a/b\n', '/ä'];

export function contentTests(context: SuiteContext): void {
  it('putContent then getContent returns an empty file', async () => {
    await context.driver.putContent('/empty', new Uint8Array(0));
    assert.deepEqual(await context.driver.getContent('/empty'), Buffer.alloc(0));
  });

  it('putContent then getContent returns every byte value unchanged', async () => {
    const content = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    await context.driver.putContent('/docker/registry/v2/binary', content);
    assert.deepEqual(await context.driver.getContent('/docker/registry/v2/binary'), content);
  });

  it('putContent then getContent returns a 1 MiB file', async () => {
    const content = randomBytes(1024 * 1024);
    await context.driver.putContent('/a/b/c/big', content);
    assert.deepEqual(await context.driver.getContent('/a/b/c/big'), content);
  });

  it('putContent replaces an existing file, shorter content included', async () => {
    await context.driver.putContent('/file', Buffer.from('the first, longer content'));
    await context.driver.putContent('/file', Buffer.from('second'));
    assert.equal((await context.driver.getContent('/file')).toString(), 'second');
  });

  it('putContent with publishAfter shows the content only once that settles, and nothing if it rejects', async () => {
    const { driver } = context;
    let publish!: () => void;
    const published = driver.putContent('/later/tags/v1/link', Buffer.from('new'), {
      publishAfter: new Promise<void>((resolve) => (publish = resolve)),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(driver.getContent('/later/tags/v1/link'), isPathNotFound('/later/tags/v1/link'));
    publish();
    await published;
    assert.equal((await driver.getContent('/later/tags/v1/link')).toString(), 'new');

    const refusal = new Error('the content it names was not stored');
    await assert.rejects(
      driver.putContent('/later/tags/v2/link', Buffer.from('never'), { publishAfter: Promise.reject(refusal) }),
      (err) => err === refusal,
    );
    await assert.rejects(driver.getContent('/later/tags/v2/link'), isPathNotFound('/later/tags/v2/link'));
    // No directory is left behind that would list a tag without its link.
    assert.deepEqual(await driver.list('/later/tags'), ['/later/tags/v1']);
  });

  it('putContent lands even when its directory is deleted while it waits for publishAfter', async () => {
    // A manifest PUT writes its revision link while it claims the manifest; garbage collection may remove
    // the old revision's directory in that window, before the claim lets the PUT publish.
    const { driver } = context;
    await driver.putContent('/repo/revisions/d/link', Buffer.from('old'));
    let publish!: () => void;
    const published = driver.putContent('/repo/revisions/d/link', Buffer.from('new'), {
      publishAfter: new Promise<void>((resolve) => (publish = resolve)),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await driver.delete('/repo/revisions/d');
    publish();
    await published;
    assert.equal((await driver.getContent('/repo/revisions/d/link')).toString(), 'new');
    assert.deepEqual(await driver.list('/repo/revisions/d'), ['/repo/revisions/d/link']);
  });

  it('putContent in place creates a file and replaces its content, shorter content included', async () => {
    const options = { durable: false, inPlace: true };
    await context.driver.putContent('/blobs/ab/lease', Buffer.from('the first, longer lease'), options);
    await context.driver.putContent('/blobs/ab/lease', Buffer.from('second'), options);
    assert.equal((await context.driver.getContent('/blobs/ab/lease')).toString(), 'second');
  });

  it('getContent of a missing file throws PathNotFoundError naming the driver and the path', async () => {
    await assert.rejects(context.driver.getContent('/missing/file'), (err: unknown) => {
      assert.ok(err instanceof PathNotFoundError);
      assert.equal(err.path, '/missing/file');
      assert.equal(err.driver, context.driver.name);
      assert.match(err.message, new RegExp(`${context.driver.name}.*/missing/file`));
      return true;
    });
  });

  it('getContent below a file or of a directory throws PathNotFoundError', async () => {
    await context.driver.putContent('/dir/file', Buffer.from('x'));
    await assert.rejects(context.driver.getContent('/dir/file/below'), isPathNotFound('/dir/file/below'));
    await assert.rejects(context.driver.getContent('/dir'), isPathNotFound('/dir'));
  });

  it('every method refuses a relative, dotted, doubled-slash, trailing-slash or odd-character path', async () => {
    await context.driver.putContent('/valid', Buffer.from('x'));
    for (const path of INVALID_PATHS) {
      for (const [method, call] of methodsTaking(context.driver, path)) {
        await assert.rejects(call(), InvalidPathError, `${method}(${JSON.stringify(path)})`);
      }
    }
    assert.deepEqual(await context.driver.list('/'), ['/valid']);
  });

  it('concurrent putContent of one path leaves one whole content, and readers never see a mix', async () => {
    // Over 512 KiB, so that a non-atomic write takes several system calls and can be seen half done.
    const size = 2 * 1024 * 1024;
    const contents = Array.from({ length: 8 }, (_, i) => Buffer.alloc(size, i + 1));
    await context.driver.putContent('/contended', Buffer.alloc(size, 0));
    const seen: Buffer[] = [];
    let writing = true;
    const reader = async (): Promise<void> => {
      while (writing) seen.push(await context.driver.getContent('/contended'));
    };
    const readers = [reader(), reader(), reader()];
    await Promise.all(contents.map((content) => context.driver.putContent('/contended', content)));
    writing = false;
    await Promise.all(readers);
    const isWhole = (buffer: Buffer): boolean => buffer.length === size && buffer.every((byte) => byte === buffer[0]);
    const final = await context.driver.getContent('/contended');
    assert.ok(isWhole(final) && final[0] !== 0, 'the final content is one of those written');
    assert.ok(seen.length > 0);
    assert.ok(seen.every(isWhole), 'a reader saw a mix of contents');
  });
}

/** Every driver method called with `path` (as each argument, for move). */
function methodsTaking(driver: StorageDriver, path: string): [string, () => Promise<unknown>][] {
  return [
    ['getContent', () => driver.getContent(path)],
    ['putContent', () => driver.putContent(path, Buffer.from('x'))],
    ['reader', () => driver.reader(path)],
    ['writer', () => driver.writer(path, { append: false })],
    ['stat', () => driver.stat(path)],
    ['list', () => driver.list(path)],
    ['move from', () => driver.move(path, '/elsewhere')],
    ['move to', () => driver.move('/valid', path)],
    ['delete', () => driver.delete(path)],
    ['walk', () => driver.walk(path, () => undefined)],
  ];
}
