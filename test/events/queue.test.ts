import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DiskQueue } from '../../src/events/queue.js';

describe('DiskQueue', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-queue-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('hands records out in order, each until it is acknowledged', async () => {
    const queue = await DiskQueue.open(path.join(dir, 'order'));
    await Promise.all(['a', 'b', 'c'].map((r) => queue.append(r)));
    assert.equal(queue.pending, 3);
    assert.equal(await queue.next(), 'a');
    assert.equal(await queue.next(), 'a', 'not acknowledged yet');
    await queue.ack();
    assert.equal(await queue.next(), 'b');
    await queue.ack();
    assert.equal(queue.pending, 1);
    await queue.close();
  });

  it('a waiting consumer wakes up for a record appended later', async () => {
    const queue = await DiskQueue.open(path.join(dir, 'wait'));
    const waiting = queue.next();
    await queue.append('late');
    assert.equal(await waiting, 'late');
    await queue.close();
  });

  it('keeps unacknowledged records across a reopen, and drops a torn last line', async () => {
    const where = path.join(dir, 'reopen');
    const first = await DiskQueue.open(where);
    for (const record of ['one', 'two', 'three']) await first.append(record);
    await first.next();
    await first.ack();
    await first.close();
    // A crash in the middle of a write leaves a partial line that was never acknowledged.
    const [segment] = (await readdir(where)).filter((name) => name.endsWith('.log'));
    await appendFile(path.join(where, segment!), '{"half":');

    const second = await DiskQueue.open(where);
    assert.equal(second.pending, 2);
    assert.equal(await second.next(), 'two');
    await second.ack();
    await second.append('four');
    assert.equal(await second.next(), 'three');
    await second.ack();
    assert.equal(await second.next(), 'four');
    await second.close();
  });

  it('close releases a waiting consumer with undefined', async () => {
    const queue = await DiskQueue.open(path.join(dir, 'close'));
    const waiting = queue.next();
    await queue.close();
    assert.equal(await waiting, undefined);
  });
});
