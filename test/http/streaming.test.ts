/**
 * The API over a real socket: bodies arrive in pieces, as from a client, and must reach storage as they
 * arrive rather than after the request ends.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { createRegistry } from '../../src/registry/index.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { pseudoRandomBytes } from '../helpers/tar.js';

const MiB = 1024 * 1024;

describe('blob uploads over a listening server', () => {
  let root: string;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-http-'));
    const registry = createRegistry({ driver: new FilesystemDriver({ rootDirectory: root }), deleteEnabled: true, readOnly: false });
    app = buildApp({ registry });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await app.close();
    await rm(root, { recursive: true, force: true });
  });

  async function startUpload(name: string): Promise<string> {
    const response = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(response.status, 202);
    return new URL(response.headers.get('location')!, base).href;
  }

  it('PATCH streams a chunked body into storage while it is still arriving', async () => {
    const location = await startUpload('streamed');
    const hash = createHash('sha256');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const source = pseudoRandomBytes('streaming', 8 * MiB);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // After the first 4 MiB the client stalls until the test has seen them stored.
        if (sent === 4 * MiB) await held;
        const { value, done } = await source.next();
        if (done) return controller.close();
        hash.update(value);
        sent += value.length;
        controller.enqueue(value);
      },
    });
    const patching = fetch(location, {
      method: 'PATCH',
      body,
      headers: { 'content-type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit);

    // Upload status reads the size of what is stored; it grows while the PATCH is still open.
    let stored = 0;
    for (let attempt = 0; attempt < 200 && stored < 4 * MiB; attempt++) {
      const status = await fetch(location);
      assert.equal(status.status, 204);
      stored = Number(status.headers.get('range')!.split('-')[1]) + 1;
      if (stored < 4 * MiB) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(stored, 4 * MiB, 'the first half of the body never reached storage before the request ended');
    release();

    const patched = await patching;
    assert.equal(patched.status, 202, await patched.text());
    assert.equal(patched.headers.get('range'), `0-${8 * MiB - 1}`);

    const digest = `sha256:${hash.digest('hex')}`;
    const put = await fetch(`${location}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digest);

    const get = await fetch(`${base}/v2/streamed/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-length'), String(8 * MiB));
    const served = createHash('sha256');
    for await (const chunk of get.body as unknown as AsyncIterable<Uint8Array>) served.update(chunk);
    assert.equal(`sha256:${served.digest('hex')}`, digest);
  });

  it('PATCH with Content-Range chunks, one out of order, over real HTTP', async () => {
    const location = await startUpload('chunked');
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const send = (chunk: Buffer, range: string) =>
      fetch(location, { method: 'PATCH', body: chunk, headers: { 'content-range': range, 'content-type': 'application/octet-stream' } });

    assert.equal((await send(data.subarray(0, 10), '0-9')).status, 202);
    const outOfOrder = await send(data.subarray(20), '20-25');
    assert.equal(outOfOrder.status, 416);
    assert.equal(outOfOrder.headers.get('range'), '0-9');
    assert.equal((await send(data.subarray(10), '10-25')).status, 202);

    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    assert.equal((await fetch(`${location}?digest=${digest}`, { method: 'PUT' })).status, 201);
    const get = await fetch(`${base}/v2/chunked/blobs/${digest}`, { headers: { range: 'bytes=20-' } });
    assert.equal(get.status, 206);
    assert.equal(await get.text(), 'uvwxyz');
  });

  it('a client that hangs up mid-PATCH leaves an upload that can be resumed from its Range', async () => {
    const location = await startUpload('aborted');
    const data = Buffer.alloc(2 * MiB, 7);
    const controller = new AbortController();
    let first = true;
    const body = new ReadableStream<Uint8Array>({
      async pull(stream) {
        if (!first) return new Promise(() => undefined); // never sends the second half
        first = false;
        stream.enqueue(data.subarray(0, MiB));
      },
    });
    const patching = fetch(location, { method: 'PATCH', body, signal: controller.signal, duplex: 'half' } as RequestInit);
    const storedSize = async (): Promise<number> => {
      const status = await fetch(location);
      assert.equal(status.status, 204);
      return Number(status.headers.get('range')!.split('-')[1]) + 1;
    };
    for (let attempt = 0; attempt < 200 && (await storedSize()) < MiB; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    controller.abort();
    await assert.rejects(patching);

    // Once the server has noticed, the session accepts the rest from where it stands.
    let resumed: Response | undefined;
    for (let attempt = 0; attempt < 200; attempt++) {
      const size = await storedSize();
      resumed = await fetch(location, {
        method: 'PATCH',
        body: data.subarray(size),
        headers: { 'content-range': `${size}-${data.length - 1}` },
      });
      if (resumed.status !== 416) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(resumed?.status, 202);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    assert.equal((await fetch(`${location}?digest=${digest}`, { method: 'PUT' })).status, 201);
  });
});
