/**
 * Blob bodies sent with sendfile(2) over real sockets: the bytes, ranges, keep-alive connections, clients
 * that leave mid-transfer, and the streaming path that TLS and `http.sendfile: false` still take.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Client, Pool } from 'undici';
import { buildApp, type AppOptions } from '../../src/http/app.js';
import { SendfileBody, sendfileAvailable } from '../../src/http/sendfile.js';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { createRegistry } from '../../src/registry/index.js';
import type { Registry } from '../../src/registry/types.js';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { newTestCA, type TestCA } from '../helpers/pki.js';

const MiB = 1024 * 1024;
const NAME = 'big/image';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function storeBlob(registry: Registry, bytes: Buffer): Promise<Digest> {
  const digest = digestOf(bytes);
  const session = await registry.repository(NAME).blobs.create();
  await session.append(Readable.from([bytes]));
  await session.commit(digest);
  return digest;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(check(), what);
}

interface Server {
  app: FastifyInstance;
  base: string;
  /** Per response, in order: whether its body was sent with sendfile, and the status onResponse saw. */
  bodies: boolean[];
  responses: number[];
}

async function startServer(registry: Registry, options: Partial<AppOptions> = {}): Promise<Server> {
  const app = buildApp({ registry, ...options });
  const bodies: boolean[] = [];
  const responses: number[] = [];
  app.addHook('onSend', async (_request, _reply, payload) => {
    bodies.push(payload instanceof SendfileBody);
    return payload;
  });
  app.addHook('onResponse', async (_request, reply) => {
    responses.push(reply.statusCode);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const scheme = options.tls ? 'https' : 'http';
  return { app, base: `${scheme}://127.0.0.1:${(app.server.address() as AddressInfo).port}`, bodies, responses };
}

describe('blob GETs with sendfile', () => {
  let root: string;
  let registry: Registry;
  let big: Buffer;
  let bigDigest: Digest;
  let small: Buffer;
  let smallDigest: Digest;
  let server: Server;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-sendfile-'));
    registry = createRegistry({ driver: new FilesystemDriver({ rootDirectory: root }), deleteEnabled: true, readOnly: false });
    big = randomBytes(64 * MiB);
    bigDigest = await storeBlob(registry, big);
    small = randomBytes(MiB);
    smallDigest = await storeBlob(registry, small);
    server = await startServer(registry);
  });

  after(async () => {
    await server.app.close();
    await rm(root, { recursive: true, force: true });
  });

  it('the addon is built and loaded on Linux', () => {
    assert.ok(process.platform !== 'linux' || sendfileAvailable, 'build/Release/berth_socket.node did not load: run npm install');
  });

  it('GET of a 64 MiB blob returns every byte, with the usual headers, through sendfile', async () => {
    server.bodies.length = 0;
    const response = await fetch(`${server.base}/v2/${NAME}/blobs/${bigDigest}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), String(big.length));
    assert.equal(response.headers.get('docker-content-digest'), bigDigest);
    assert.equal(response.headers.get('etag'), `"${bigDigest}"`);
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(big));
    assert.deepEqual(server.bodies, [sendfileAvailable]);
    await eventually(() => server.responses.at(-1) === 200, 'onResponse (the access log) did not run');
  });

  it('GET with Range returns exactly the bytes asked for, with 206 and Content-Range', async () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0],
      ['bytes=1000-2000000', 1000, 2000000],
      [`bytes=${big.length - 10}-`, big.length - 10, big.length - 1],
      ['bytes=-4096', big.length - 4096, big.length - 1],
      [`bytes=${32 * MiB}-${big.length + 1000}`, 32 * MiB, big.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const response = await fetch(`${server.base}/v2/${NAME}/blobs/${bigDigest}`, { headers: { range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/${big.length}`, range);
      assert.equal(response.headers.get('content-length'), String(end - start + 1), range);
      const body = new Uint8Array(await response.arrayBuffer());
      assert.equal(sha256(body), sha256(big.subarray(start, end + 1)), range);
    }
  });

  it('many concurrent GETs on keep-alive connections all get their bytes, and the connections stay usable', async () => {
    const pool = new Pool(server.base, { connections: 16, pipelining: 1 });
    let connects = 0;
    pool.on('connect', () => connects++);
    try {
      const get = async (i: number) => {
        const range = i % 3 === 0 ? { range: `bytes=${i}-${i + 65535}` } : undefined;
        const response = await pool.request({ path: `/v2/${NAME}/blobs/${smallDigest}`, method: 'GET', headers: range });
        const body = Buffer.from(await response.body.arrayBuffer());
        const expected = range ? small.subarray(i, i + 65536) : small;
        assert.equal(response.statusCode, range ? 206 : 200);
        assert.equal(sha256(body), sha256(expected), `request ${i}`);
      };
      await Promise.all(Array.from({ length: 96 }, (_, i) => get(i)));
      await Promise.all(Array.from({ length: 32 }, (_, i) => get(i + 1000)));
      assert.ok(connects <= 16, `${connects} connections for 16 keep-alive slots: some were closed`);
    } finally {
      await pool.close();
    }
  });

  it('a request that follows a sendfile response on the same connection is answered', async () => {
    const client = new Client(server.base);
    let connects = 0;
    client.on('connect', () => connects++);
    try {
      for (const digest of [smallDigest, bigDigest, smallDigest]) {
        const response = await client.request({ path: `/v2/${NAME}/blobs/${digest}`, method: 'GET' });
        assert.equal(response.statusCode, 200);
        const body = Buffer.from(await response.body.arrayBuffer());
        assert.equal(sha256(body), sha256(digest === bigDigest ? big : small));
      }
      const head = await client.request({ path: `/v2/${NAME}/blobs/${bigDigest}`, method: 'HEAD' });
      await head.body.dump();
      assert.equal(head.headers['content-length'], String(big.length));
      assert.equal(connects, 1);
    } finally {
      await client.close();
    }
  });

  it('pipelined requests get their responses whole and in order', async () => {
    const socket = net.connect((server.app.server.address() as AddressInfo).port, '127.0.0.1');
    const paths = [bigDigest, smallDigest, bigDigest].map((digest) => `/v2/${NAME}/blobs/${digest}`);
    socket.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const chunks: Buffer[] = [];
    const expected = [big, small, big];
    const total = expected.reduce((sum, bytes) => sum + bytes.length, 0);
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (chunks.reduce((sum, c) => sum + c.length, 0) >= total) resolve();
      });
      socket.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    let rest = Buffer.concat(chunks);
    for (const [i, bytes] of expected.entries()) {
      const headerEnd = rest.indexOf('\r\n\r\n');
      const head = rest.subarray(0, headerEnd).toString('latin1');
      assert.match(head, /^HTTP\/1\.1 200 /, `response ${i}`);
      assert.match(head, new RegExp(`content-length: ${bytes.length}\r`, 'i'), `response ${i}`);
      const body = rest.subarray(headerEnd + 4, headerEnd + 4 + bytes.length);
      assert.equal(sha256(body), sha256(bytes), `body ${i}`);
      rest = rest.subarray(headerEnd + 4 + bytes.length);
    }
    assert.equal(rest.length, 0, 'bytes after the last response');
  });

  it('a client that leaves mid-transfer leaves no descriptor open and the server serving', async () => {
    const before = openFds();
    for (let i = 0; i < 4; i++) {
      const socket = net.connect((server.app.server.address() as AddressInfo).port, '127.0.0.1');
      socket.write(`GET /v2/${NAME}/blobs/${bigDigest} HTTP/1.1\r\nHost: x\r\n\r\n`);
      let received = 0;
      await new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          // Leave once the transfer is under way: the first one with a reset, the others with a plain close.
          if (received >= 4 * MiB) {
            if (i === 0) socket.resetAndDestroy();
            else socket.destroy();
            resolve();
          }
        });
      });
    }
    await eventually(() => openFds() <= before, `descriptors open: ${before} before, ${openFds()} after`);
    const response = await fetch(`${server.base}/v2/${NAME}/blobs/${smallDigest}`);
    assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(small));
  });

  it('a client that stops reading and then leaves does not hold the transfer', async () => {
    const before = openFds();
    const socket = net.connect((server.app.server.address() as AddressInfo).port, '127.0.0.1');
    socket.write(`GET /v2/${NAME}/blobs/${bigDigest} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    // The socket buffers fill, and the transfer waits for room; then the client goes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    await eventually(() => openFds() <= before, `descriptors open: ${before} before, ${openFds()} after`);
  });

  it('a server that closes its connections cuts a transfer to a client that stopped reading', async () => {
    const closing = await startServer(registry);
    const before = openFds();
    const socket = net.connect((closing.app.server.address() as AddressInfo).port, '127.0.0.1');
    try {
      socket.write(`GET /v2/${NAME}/blobs/${bigDigest} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause();
      await new Promise((resolve) => setTimeout(resolve, 200));
      closing.app.server.closeAllConnections();
      // The transfer, stuck on a full socket, holds its own copies of both descriptors until it is cancelled.
      // Only the client's own socket remains.
      await eventually(() => openFds() <= before + 1, `descriptors open: ${before} + the client's before, ${openFds()} after`);
    } finally {
      socket.destroy();
      await closing.app.close();
    }
  });

  it('http.sendfile: false streams the body instead', async () => {
    const streaming = await startServer(registry, { sendfile: false });
    try {
      const response = await fetch(`${streaming.base}/v2/${NAME}/blobs/${smallDigest}`);
      assert.equal(sha256(new Uint8Array(await response.arrayBuffer())), sha256(small));
      assert.deepEqual(streaming.bodies, [false]);
    } finally {
      await streaming.app.close();
    }
  });

  describe('over TLS', () => {
    let ca: TestCA;
    let tls: Server;

    before(async () => {
      ca = newTestCA();
      const cert = ca.issue('server', { server: true });
      tls = await startServer(registry, { tls: { cert: cert.certPem, key: cert.keyPem } });
    });

    after(async () => {
      await tls.app.close();
      ca.dispose();
    });

    it('blobs are streamed, byte for byte', async () => {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const url = new URL(`${tls.base}/v2/${NAME}/blobs/${bigDigest}`);
        httpsRequest(url, { ca: ca.certPem, headers: { range: `bytes=7-${20 * MiB}` } }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve(Buffer.concat(chunks)));
          response.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
      assert.equal(sha256(body), sha256(big.subarray(7, 20 * MiB + 1)));
      assert.deepEqual(tls.bodies, [false]);
    });
  });
});
