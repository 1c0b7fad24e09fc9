import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withChecks } from '../../src/storage/base.js';
import type { FileWriter } from '../../src/storage/driver.js';
import { InMemoryDriver } from '../../src/storage/drivers/memory.js';
import { InvalidOffsetError, InvalidPathError, PathNotFoundError, StorageError } from '../../src/storage/errors.js';
import { chunksOf } from './suite/helpers.js';

function ioError(): NodeJS.ErrnoException {
  return Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
}

/** An in-memory driver whose disk is failing, and which counts the calls that reach it. */
class FailingDriver extends InMemoryDriver {
  calls = 0;
  readonly failure = ioError();

  override async getContent(path: string): Promise<Buffer> {
    this.calls++;
    if (path === '/known-missing') throw new PathNotFoundError(path, this.name);
    throw this.failure;
  }

  override async reader(path: string, offset?: number, length?: number) {
    this.calls++;
    return super.reader(path, offset, length);
  }

  override async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    const writer = await super.writer(path, options);
    const failure = this.failure;
    return {
      get size() {
        return writer.size;
      },
      append: (source) => writer.append(source),
      commit: async () => {
        throw failure;
      },
      close: () => writer.close(),
      cancel: () => writer.cancel(),
    };
  }
}

describe('withChecks', () => {
  it('reports an unexpected driver failure as a StorageError naming driver and path, keeping the cause', async () => {
    const driver = new FailingDriver();
    await assert.rejects(withChecks(driver).getContent('/some/file'), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.message, 'inmemory: EIO: i/o error, read: /some/file');
      assert.equal(err.path, '/some/file');
      assert.equal(err.driver, 'inmemory');
      assert.equal(err.cause, driver.failure);
      return true;
    });
  });

  it("passes the driver's own storage errors through unchanged", async () => {
    await assert.rejects(withChecks(new FailingDriver()).getContent('/known-missing'), (err: unknown) => {
      assert.ok(err instanceof PathNotFoundError);
      assert.equal(err.cause, undefined);
      return true;
    });
  });

  it('refuses an invalid path before the driver is called', async () => {
    const driver = new FailingDriver();
    await assert.rejects(withChecks(driver).getContent('/a/../etc/passwd'), InvalidPathError);
    assert.equal(driver.calls, 0);
  });

  it('refuses fractional, unsafe or negative offsets and lengths before the driver is called', async () => {
    const driver = new FailingDriver();
    const checked = withChecks(driver);
    await checked.putContent('/file', Buffer.from('content'));
    await assert.rejects(checked.reader('/file', 1.5), InvalidOffsetError);
    await assert.rejects(checked.reader('/file', Number.NaN), InvalidOffsetError);
    await assert.rejects(checked.reader('/file', 2 ** 60), InvalidOffsetError);
    await assert.rejects(checked.reader('/file', 0, -1), /invalid length -1/);
    assert.equal(driver.calls, 0);
  });

  it("normalises a writer's failures too", async () => {
    const writer = await withChecks(new FailingDriver()).writer('/upload', { append: false });
    await writer.append(chunksOf('bytes'));
    await assert.rejects(writer.commit(), (err: unknown) => err instanceof StorageError && err.path === '/upload');
  });

  it('offers redirectURL only when the driver has one, and checks its path', async () => {
    assert.equal(withChecks(new InMemoryDriver()).redirectURL, undefined);
    const redirecting = new InMemoryDriver() as InMemoryDriver & { redirectURL(path: string): Promise<string> };
    redirecting.redirectURL = async (path) => `https://cdn.example${path}`;
    const checked = withChecks(redirecting);
    assert.equal(await checked.redirectURL?.('/blobs/data', 'GET'), 'https://cdn.example/blobs/data');
    await assert.rejects(checked.redirectURL!('blobs/data', 'GET'), InvalidPathError);
  });
});
