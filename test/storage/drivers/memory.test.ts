import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withChecks } from '../../../src/storage/base.js';
import { PathNotFoundError } from '../../../src/storage/errors.js';
import { InMemoryDriver } from '../../../src/storage/drivers/memory.js';
import { runDriverSuite } from '../driver-suite.js';

runDriverSuite('inmemory', async () => ({ driver: new InMemoryDriver(), cleanup: async () => undefined }));

describe('InMemoryDriver directories', () => {
  it('disappear with their last entry, as directories exist only while they hold files', async () => {
    const driver = withChecks(new InMemoryDriver());
    await driver.putContent('/a/b/c/file', Buffer.from('x'));
    await driver.putContent('/a/kept', Buffer.from('x'));
    await driver.move('/a/b/c/file', '/moved');
    await assert.rejects(driver.stat('/a/b'), PathNotFoundError);
    assert.deepEqual(await driver.list('/a'), ['/a/kept']);
    await driver.delete('/a/kept');
    assert.deepEqual(await driver.list('/'), ['/moved']);
  });
});
