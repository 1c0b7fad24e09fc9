/**
 * Large upload bodies read from the socket by the addon (receive.ts), over real sockets: monolithic pushes,
 * chunked ones, the bytes Node parsed before the hand-over, clients that leave mid-body, and the bodies Node
 * still reads itself (small bodies, chunked transfer encoding, and every body with `http.directuploads: false`).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/http/app.js';
import { DIRECT_RECEIVE_MIN_BYTES, directReceiveAvailable } from '../../src/http/receive.js';
import { socketAddon } from '../../src/http/socket-addon.js';
import { digestOf } from '../../src/oci/digest.js';
import { createRegistry } from '../../src/registry/index.js';
import type { Registry } from '../../src/registry/types.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';

const MiB = 1024 * 1024;
const NAME = 'big/image';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(await check(), what);
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after the response. */
  closed: boolean;
}

interface Sending {
  /** Bytes per write after the head; the head goes out with the body's first bytes, as clients often do. */
  piece?: number;
  /** Stop after this many body bytes and close the connection. */
  leaveAfter?: number;
}

/** One request on a new connection, written by hand so that nothing but the test decides what is sent. */
async function rawRequest(port: number, head: string, body: Buffer, sending: Sending = {}): Promise<RawResponse | 'left'> {
  const socket = net.connect(port, '127.0.0.1');
  const piece = sending.piece ?? 64 * 1024;
  const end = sending.leaveAfter ?? body.length;
  const received: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let offset = Math.min(piece, end);
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body.subarray(0, offset)]));
  while (offset < end) {
    const next = body.subarray(offset, Math.min(offset + piece, end));
    offset += next.length;
    if (!socket.write(next)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  if (sending.leaveAfter !== undefined) {
    socket.destroy();
    return 'left';
  }
  // The response, then whether the server closes the connection soon after.
  let text = '';
  for (let i = 0; i < 400; i++) {
    text = Buffer.concat(received).toString('latin1');
    const headerEnd = text.indexOf('\r\n\r\n');
    const length = /\r\ncontent-length: (\d+)/i.exec(text);
    if (headerEnd >= 0 && length && text.length >= headerEnd + 4 + Number(length[1])) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const serverClosed = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000))]);
  socket.destroy();
  const [statusLine = '', ...lines] = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(text.indexOf('\r\n\r\n') + 4), closed: serverClosed };
}

function putHead(path: string, length: number, extra = ''): string {
  return `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n${extra}\r\n`;
}

describe('upload bodies read by the addon', () => {
  let root: string;
  let registry: Registry;
  let app: FastifyInstance;
  let port: number;
  let base: string;

  async function start(options: Partial<AppOptions> = {}): Promise<{ app: FastifyInstance; port: number; base: string }> {
    const server = buildApp({ registry, ...options });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const listening = (server.server.address() as AddressInfo).port;
    return { app: server, port: listening, base: `http://127.0.0.1:${listening}` };
  }

  async function newUpload(at = base): Promise<string> {
    const response = await fetch(`${at}/v2/${NAME}/blobs/uploads/`, { method: 'POST' });
    assert.equal(response.status, 202);
    return new URL(response.headers.get('location')!, at).pathname;
  }

  async function fetchBlob(digest: string): Promise<Buffer> {
    const response = await fetch(`${base}/v2/${NAME}/blobs/${digest}`);
    assert.equal(response.status, 200, `GET ${digest}`);
    return Buffer.from(await response.arrayBuffer());
  }

  async function uploadsLeft(): Promise<string[]> {
    return readdir(join(root, 'docker/registry/v2/repositories', NAME, '_uploads')).catch(() => []);
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-receive-'));
    registry = createRegistry({ driver: new FilesystemDriver({ rootDirectory: root }), deleteEnabled: true, readOnly: false });
    ({ app, port, base } = await start());
  });

  after(async () => {
    await app.close();
    await rm(root, { recursive: true, force: true });
  });

  it('the addon is built and loaded on Linux', () => {
    assert.ok(process.platform !== 'linux' || directReceiveAvailable, 'build/Release/berth_socket.node did not load: run npm install');
  });

  it('a monolithic push of 12 MiB stores every byte and closes the connection after the 201', async () => {
    const blob = randomBytes(12 * MiB + 12345);
    const digest = digestOf(blob);
    const response = await rawRequest(port, putHead(`${await newUpload()}?digest=${digest}`, blob.length), blob, { piece: 100_000 });
    assert.ok(response !== 'left');
    assert.equal(response.status, 201, response.body);
    assert.equal(response.headers['docker-content-digest'], digest);
    assert.equal(response.headers['connection'], directReceiveAvailable ? 'close' : 'keep-alive');
    assert.equal(response.closed, directReceiveAvailable, 'whether the server closed the connection');
    assert.equal(sha256(await fetchBlob(digest)), sha256(blob));
    assert.deepEqual(await uploadsLeft(), []);
  });

  it('POST with ?digest and a body, sent in odd pieces, stores it', async () => {
    const blob = randomBytes(DIRECT_RECEIVE_MIN_BYTES + 777);
    const digest = digestOf(blob);
    const head = `POST /v2/${NAME}/blobs/uploads/?digest=${digest} HTTP/1.1\r\nHost: x\r\nContent-Length: ${blob.length}\r\n\r\n`;
    const response = await rawRequest(port, head, blob, { piece: 1_000_003 });
    assert.ok(response !== 'left' && response.status === 201, JSON.stringify(response));
    assert.equal(sha256(await fetchBlob(digest)), sha256(blob));
  });

  it('a chunked push of 5 MiB PATCHes and a last PUT, each on its own connection, ends in the right blob', async () => {
    const blob = randomBytes(17 * MiB);
    const digest = digestOf(blob);
    let location = await newUpload();
    for (let start = 0; start < 10 * MiB; start += 5 * MiB) {
      const chunk = blob.subarray(start, start + 5 * MiB);
      const head = `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Length: ${chunk.length}\r\nContent-Range: ${start}-${start + chunk.length - 1}\r\n\r\n`;
      const response = await rawRequest(port, head, chunk, { piece: 256 * 1024 });
      assert.ok(response !== 'left' && response.status === 202, JSON.stringify(response));
      assert.equal(response.headers['range'], `0-${start + chunk.length - 1}`);
      assert.equal(response.closed, directReceiveAvailable, 'whether the server closed the connection');
      location = new URL(response.headers['location']!, base).pathname;
    }
    const last = blob.subarray(10 * MiB);
    const put = await rawRequest(port, putHead(`${location}?digest=${digest}`, last.length, `Content-Range: ${10 * MiB}-${blob.length - 1}\r\n`), last);
    assert.ok(put !== 'left' && put.status === 201, JSON.stringify(put));
    assert.equal(put.closed, directReceiveAvailable);
    assert.equal(sha256(await fetchBlob(digest)), sha256(blob));
  });

  it('a body whose digest does not match is refused with DIGEST_INVALID and stores nothing', async () => {
    const blob = randomBytes(6 * MiB);
    const wrong = digestOf(Buffer.from('something else'));
    const response = await rawRequest(port, putHead(`${await newUpload()}?digest=${wrong}`, blob.length), blob);
    assert.ok(response !== 'left');
    assert.equal(response.status, 400);
    assert.equal(JSON.parse(response.body).errors[0].code, 'DIGEST_INVALID');
    const head = await fetch(`${base}/v2/${NAME}/blobs/${digestOf(blob)}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  it('a client that leaves mid-body leaves no blob, no session of a monolithic push, and no descriptor behind', async () => {
    const before = openFds();
    const blob = randomBytes(16 * MiB);
    const digest = digestOf(blob);
    const post = `POST /v2/${NAME}/blobs/uploads/?digest=${digest} HTTP/1.1\r\nHost: x\r\nContent-Length: ${blob.length}\r\n\r\n`;
    const left = await rawRequest(port, post, blob, { leaveAfter: 9 * MiB });
    assert.equal(left, 'left');
    await eventually(async () => (await uploadsLeft()).length === 0, 'the upload session of the abandoned push was not removed');
    await eventually(() => openFds() <= before, `descriptors leaked: ${before} before, ${openFds()} after`);
    const head = await fetch(`${base}/v2/${NAME}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  it('a PUT to a session whose client leaves keeps what arrived, and the upload resumes from its Range', async () => {
    const blob = randomBytes(12 * MiB);
    const digest = digestOf(blob);
    const location = await newUpload();
    await rawRequest(port, putHead(`${location}?digest=${digest}`, blob.length), blob, { leaveAfter: 7 * MiB + 5 });
    // The server may still be writing what was in flight: wait until the stored size stops moving.
    const storedSize = async () => Number((await fetch(`${base}${location}`)).headers.get('range')?.split('-')[1] ?? -1) + 1;
    let stored = -1;
    await eventually(async () => {
      const previous = stored;
      await new Promise((resolve) => setTimeout(resolve, 100));
      stored = await storedSize();
      return stored > 0 && stored === previous;
    }, 'the stored size of the abandoned PUT did not settle');
    assert.ok(stored <= 7 * MiB + 5, `${stored} bytes stored of the ${7 * MiB + 5} sent`);
    const rest = blob.subarray(stored);
    const put = await rawRequest(port, putHead(`${location}?digest=${digest}`, rest.length, `Content-Range: ${stored}-${blob.length - 1}\r\n`), rest);
    assert.ok(put !== 'left' && put.status === 201, JSON.stringify(put));
    assert.equal(sha256(await fetchBlob(digest)), sha256(blob));
  });

  it('Node still reads small bodies, chunked transfer encoding and every body with http.directuploads false, keeping the connection', async () => {
    const small = randomBytes(DIRECT_RECEIVE_MIN_BYTES - 1);
    const response = await rawRequest(port, putHead(`${await newUpload()}?digest=${digestOf(small)}`, small.length), small);
    assert.ok(response !== 'left' && response.status === 201 && !response.closed, JSON.stringify(response));

    const big = randomBytes(6 * MiB);
    const chunkedHead = `PUT ${await newUpload()}?digest=${digestOf(big)} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const framed = Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]);
    const chunked = await rawRequest(port, chunkedHead, framed);
    assert.ok(chunked !== 'left' && chunked.status === 201 && !chunked.closed, JSON.stringify(chunked));
    assert.equal(sha256(await fetchBlob(digestOf(big))), sha256(big));

    const off = await start({ directUploads: false });
    try {
      const other = randomBytes(6 * MiB);
      const response2 = await rawRequest(off.port, putHead(`${await newUpload(off.base)}?digest=${digestOf(other)}`, other.length), other);
      assert.ok(response2 !== 'left' && response2.status === 201 && !response2.closed, JSON.stringify(response2));
      assert.equal(response2.headers['connection'], 'keep-alive');
    } finally {
      await off.app.close();
    }
  });

  it('Expect: 100-continue gets its 100 before the body is read', async () => {
    const blob = randomBytes(5 * MiB);
    const digest = digestOf(blob);
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(putHead(`${await newUpload()}?digest=${digest}`, blob.length, 'Expect: 100-continue\r\n'));
    await eventually(() => Buffer.concat(received).toString('latin1').startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 'no 100 Continue');
    socket.write(blob);
    await eventually(() => /HTTP\/1\.1 201 /.test(Buffer.concat(received).toString('latin1')), 'no 201 after the body');
    socket.destroy();
    assert.equal(sha256(await fetchBlob(digest)), sha256(blob));
  });

  it('the addon refuses a receive that would write outside its buffer', { skip: socketAddon === undefined }, () => {
    assert.throws(() => socketAddon!.receive(0, Buffer.alloc(16), 8, 9, () => undefined), TypeError);
  });
});
