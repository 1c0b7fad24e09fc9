/** Conformance: the directory tree (stat, list, move, delete, walk). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FileInfo } from '../../../src/storage/driver.js';
import { PathNotFoundError } from '../../../src/storage/errors.js';
import { isPathNotFound, putFiles, type SuiteContext } from './helpers.js';

export function treeTests(context: SuiteContext): void {
  it('stat describes a file: its path, size and modification time', async () => {
    const before = Date.now();
    await context.driver.putContent('/dir/file', Buffer.from('12345'));
    const info = await context.driver.stat('/dir/file');
    assert.equal(info.path, '/dir/file');
    assert.equal(info.isDir, false);
    assert.equal(info.size, 5);
    // A second of slack: some filesystems store coarse timestamps.
    assert.ok(info.modTime.getTime() >= before - 1000 && info.modTime.getTime() <= Date.now() + 1000);
  });

  it('stat describes a directory with size 0', async () => {
    await context.driver.putContent('/dir/file', Buffer.from('12345'));
    const info = await context.driver.stat('/dir');
    assert.equal(info.path, '/dir');
    assert.equal(info.isDir, true);
    assert.equal(info.size, 0);
  });

  it('stat of a missing path throws PathNotFoundError', async () => {
    await assert.rejects(context.driver.stat('/nothing/here'), isPathNotFound('/nothing/here'));
  });

  it('list returns the full paths of the direct children, sorted', async () => {
    await putFiles(context.driver, ['/l/c', '/l/a/deep/file', '/l/b', '/l/B', '/l/a.b', '/other']);
    assert.deepEqual(await context.driver.list('/l'), ['/l/B', '/l/a', '/l/a.b', '/l/b', '/l/c']);
    assert.deepEqual(await context.driver.list('/'), ['/l', '/other']);
  });

  it('list of a missing directory throws PathNotFoundError', async () => {
    await assert.rejects(context.driver.list('/missing'), isPathNotFound('/missing'));
  });

  it('move puts the file at the destination, creating its directories, and removes the source', async () => {
    await context.driver.putContent('/uploads/x/data', Buffer.from('blob'));
    await context.driver.move('/uploads/x/data', '/blobs/ab/abcd/data');
    assert.equal((await context.driver.getContent('/blobs/ab/abcd/data')).toString(), 'blob');
    await assert.rejects(context.driver.stat('/uploads/x/data'), PathNotFoundError);
  });

  it('move replaces a file at the destination', async () => {
    await context.driver.putContent('/source', Buffer.from('new'));
    await context.driver.putContent('/destination', Buffer.from('old and longer'));
    await context.driver.move('/source', '/destination');
    assert.equal((await context.driver.getContent('/destination')).toString(), 'new');
  });

  it('move of a missing source throws PathNotFoundError and leaves the destination alone', async () => {
    await context.driver.putContent('/destination', Buffer.from('kept'));
    await assert.rejects(context.driver.move('/missing', '/destination'), isPathNotFound('/missing'));
    assert.equal((await context.driver.getContent('/destination')).toString(), 'kept');
  });

  it('delete removes a file and leaves its siblings', async () => {
    await putFiles(context.driver, ['/d/one', '/d/two']);
    await context.driver.delete('/d/one');
    await assert.rejects(context.driver.getContent('/d/one'), PathNotFoundError);
    assert.deepEqual(await context.driver.list('/d'), ['/d/two']);
  });

  it('delete removes a whole tree and nothing outside it', async () => {
    await putFiles(context.driver, ['/t/a/1', '/t/a/b/2', '/t/c', '/t2/kept']);
    await context.driver.delete('/t');
    for (const path of ['/t', '/t/a', '/t/a/1', '/t/a/b/2', '/t/c']) {
      await assert.rejects(context.driver.stat(path), isPathNotFound(path));
    }
    assert.equal((await context.driver.getContent('/t2/kept')).toString(), '/t2/kept');
  });

  it('delete of a missing path throws PathNotFoundError', async () => {
    await assert.rejects(context.driver.delete('/missing'), isPathNotFound('/missing'));
  });

  it('walk visits depth-first in lexical order, each directory before its children', async () => {
    await putFiles(context.driver, ['/w/c/d', '/w/a/y/z', '/w/b', '/w/a/x', '/elsewhere']);
    const visited: string[] = [];
    await context.driver.walk('/w', (info: FileInfo) => {
      visited.push(info.isDir ? `${info.path}/` : `${info.path} (${info.size})`);
    });
    assert.deepEqual(visited, ['/w/a/', '/w/a/x (6)', '/w/a/y/', '/w/a/y/z (8)', '/w/b (4)', '/w/c/', '/w/c/d (6)']);
  });

  it("walk does not descend into a directory whose visit answers 'skip'", async () => {
    await putFiles(context.driver, ['/w/a/x', '/w/a/y/z', '/w/b', '/w/c/d']);
    const visited: string[] = [];
    await context.driver.walk('/w', async (info) => {
      visited.push(info.path);
      return info.path === '/w/a' ? 'skip' : undefined;
    });
    assert.deepEqual(visited, ['/w/a', '/w/b', '/w/c', '/w/c/d']);
  });

  it('walk of a missing directory throws PathNotFoundError', async () => {
    await assert.rejects(context.driver.walk('/missing', () => undefined), isPathNotFound('/missing'));
  });

  it('walk stops with the error its callback throws, unchanged', async () => {
    await putFiles(context.driver, ['/w/a', '/w/b']);
    const failure = new Error('stop here');
    const visited: string[] = [];
    const walking = context.driver.walk('/w', (info) => {
      visited.push(info.path);
      throw failure;
    });
    await assert.rejects(walking, (err: unknown) => err === failure);
    assert.deepEqual(visited, ['/w/a']);
  });
}
