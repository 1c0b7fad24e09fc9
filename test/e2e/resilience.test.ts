/**
 * Berth-only promises of the core: a chunked upload survives a restart, bytes a failing disk lost are never
 * committed, and a blob of any size passes through with flat memory. All run the real server process on a
 * real filesystem root.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { failingFdatasync } from '../helpers/faults.js';
import { startRegistry } from '../helpers/registry-process.js';
import { putBlobStream, startUpload } from '../helpers/registry-api.js';
import { pseudoRandomBytes } from '../helpers/tar.js';
import { e2eServers } from '../helpers/servers.js';

const runs = e2eServers().includes('berth');

/** Peak and current resident memory of a process, in bytes, from /proc. */
async function memoryOf(pid: number): Promise<{ peak: number; current: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { peak: kib('VmHWM'), current: kib('VmRSS') };
}

function pathOf(location: string): string {
  const url = new URL(location, 'http://placeholder');
  return url.pathname + url.search;
}

describe('resilience of berth', { skip: !runs && 'E2E_SERVERS does not include berth' }, () => {
  test('a chunked upload continues after Berth restarts on the same root', async () => {
    // A root of our own: the helper removes the roots it makes when their server stops.
    const root = await mkdtemp(join(tmpdir(), 'berth-resume-'));
    const first = await startRegistry({ kind: 'berth', rootDirectory: root });
    const content = Buffer.from('the first chunk|and the second one');
    const cut = 'the first chunk|'.length;
    let second;
    try {
      const upload = pathOf(await startUpload(first.url, 'resume/app'));
      const patch = await fetch(first.url + upload, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${cut - 1}` },
        body: content.subarray(0, cut),
      });
      assert.equal(patch.status, 202);
      assert.equal(patch.headers.get('range'), `0-${cut - 1}`);
      await first.stop();

      second = await startRegistry({ kind: 'berth', rootDirectory: root });
      const status = await fetch(second.url + upload);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${cut - 1}`);

      const outOfOrder = await fetch(second.url + upload, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${cut + 5}-${content.length + 4}` },
        body: content.subarray(cut),
      });
      assert.equal(outOfOrder.status, 416);
      assert.equal(outOfOrder.headers.get('range'), `0-${cut - 1}`);

      const rest = await fetch(second.url + upload, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${cut}-${content.length - 1}` },
        body: content.subarray(cut),
      });
      assert.equal(rest.status, 202);
      const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
      const done = await fetch(`${second.url}${pathOf(rest.headers.get('location')!)}${upload.includes('?') ? '&' : '?'}digest=${digest}`, {
        method: 'PUT',
      });
      assert.equal(done.status, 201, await done.text());
      const blob = await fetch(`${second.url}/v2/resume/app/blobs/${digest}`);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), content);
    } finally {
      await second?.stop();
      if (!second) await first.stop();
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a chunk whose background write-back fails is dropped, so the upload cannot commit bytes the disk lost', async () => {
    // A PATCH answers 202 before its bytes reach the disk; the disk then fails their write-back.
    const registry = await startRegistry({ kind: 'berth', env: failingFdatasync('/_uploads/') });
    try {
      const chunk = Buffer.alloc(64 * 1024, 'lost on the way to the disk|');
      const upload = pathOf(await startUpload(registry.url, 'faults/app'));
      const patch = await fetch(registry.url + upload, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${chunk.length - 1}` },
        body: chunk,
      });
      assert.equal(patch.status, 202);
      const next = pathOf(patch.headers.get('location')!);

      let range = patch.headers.get('range');
      for (const deadline = Date.now() + 5000; range === `0-${chunk.length - 1}` && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        range = (await fetch(registry.url + next)).headers.get('range');
      }
      assert.notEqual(range, `0-${chunk.length - 1}`, 'the upload still claims the chunk whose write-back failed');
      // The operator hears of it: nothing else shows a failing disk at this point. The log line reaches the
      // test through a pipe, possibly after the GET that saw the chunk gone.
      const reported = /failed to write back an upload chunk.*EIO/;
      for (const deadline = Date.now() + 5000; !reported.test(registry.logs()) && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.match(registry.logs(), reported);

      // The client learns at its next step: the following chunk does not fit, and the commit does not match.
      const following = await fetch(registry.url + next, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${chunk.length}-${2 * chunk.length - 1}` },
        body: chunk,
      });
      assert.equal(following.status, 416);
      const digest = `sha256:${createHash('sha256').update(chunk).digest('hex')}`;
      const commit = await fetch(`${registry.url}${next}${next.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT' });
      assert.equal(commit.status, 400);
      assert.equal(((await commit.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DIGEST_INVALID');
      assert.equal((await fetch(`${registry.url}/v2/faults/app/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    } finally {
      await registry.stop();
    }
  });

  test('a push whose write-back fails while it streams gets an error, and no blob appears', async () => {
    // Large enough for write-back to start before the body ends (and to take the direct path for bodies).
    const size = 96 * 1024 * 1024;
    const registry = await startRegistry({ kind: 'berth', env: failingFdatasync('/_uploads/') });
    try {
      const hash = createHash('sha256');
      for await (const chunk of pseudoRandomBytes('write-back fails', size)) hash.update(chunk);
      const digest = `sha256:${hash.digest('hex')}`;
      const status = await putBlobStream(await startUpload(registry.url, 'faults/app'), registry.url, digest, size, pseudoRandomBytes('write-back fails', size));
      assert.equal(status, 500);
      assert.equal((await fetch(`${registry.url}/v2/faults/app/blobs/${digest}`, { method: 'HEAD' })).status, 404);
      assert.match(registry.logs(), /EIO/);
    } finally {
      await registry.stop();
    }
  });

  test('pushing and pulling a 2 GiB blob keeps the server within a few tens of MiB', { timeout: 300_000 }, async (t) => {
    const size = 2 * 1024 ** 3;
    const seed = 'two-gib';
    const hash = createHash('sha256');
    for await (const chunk of pseudoRandomBytes(seed, size)) hash.update(chunk);
    const digest = `sha256:${hash.digest('hex')}`;

    const registry = await startRegistry({ kind: 'berth' });
    try {
      const pid = registry.process.pid!;
      // Warm up the paths a push and a pull take, so the baseline includes the code they load.
      const warm = Buffer.from('warm');
      const warmDigest = `sha256:${createHash('sha256').update(warm).digest('hex')}`;
      assert.equal(await putBlobStream(await startUpload(registry.url, 'big/app'), registry.url, warmDigest, warm.length, (async function* () { yield warm; })()), 201);
      await (await fetch(`${registry.url}/v2/big/app/blobs/${warmDigest}`)).arrayBuffer();
      const baseline = (await memoryOf(pid)).current;

      const status = await putBlobStream(await startUpload(registry.url, 'big/app'), registry.url, digest, size, pseudoRandomBytes(seed, size));
      assert.equal(status, 201);

      const response = await fetch(`${registry.url}/v2/big/app/blobs/${digest}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-length'), String(size));
      const pulled = createHash('sha256');
      for await (const chunk of response.body!) pulled.update(chunk);
      assert.equal(`sha256:${pulled.digest('hex')}`, digest);

      const growth = (await memoryOf(pid)).peak - baseline;
      t.diagnostic(`server peak RSS grew ${(growth / 1024 ** 2).toFixed(1)} MiB over a baseline of ${(baseline / 1024 ** 2).toFixed(1)} MiB`);
      assert.ok(growth < 64 * 1024 ** 2, `server memory grew by ${(growth / 1024 ** 2).toFixed(1)} MiB over a 2 GiB push and pull`);
    } finally {
      await registry.stop();
    }
  });
});
