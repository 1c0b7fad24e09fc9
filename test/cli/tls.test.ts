/** `http.tls` and `http.http2` as a user configures them: real certificates from openssl, real TLS on loopback. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect } from 'node:http2';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { serverTlsOptions } from '../../src/cli/tls.js';
import { loadConfig } from '../../src/config/load.js';
import { newTestCA, type CertFiles, type TestCA } from '../helpers/pki.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));

interface Answer {
  status: number;
  alpn: string | false | null;
  protocol: string | null;
}

/** One HTTPS GET of /v2/ over HTTP/1.1, trusting `ca`, optionally with a client certificate. */
function get(port: number, ca: string, client?: CertFiles, extra: { maxVersion?: 'TLSv1.2' } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/v2/', ca, cert: client?.certPem, key: client?.keyPem, agent: false, ...extra },
      (res) => {
        res.resume();
        const socket = res.socket as import('node:tls').TLSSocket;
        res.once('end', () => resolve({ status: res.statusCode ?? 0, alpn: socket.alpnProtocol, protocol: socket.getProtocol() }));
      },
    );
    req.once('error', reject);
    req.end();
  });
}

/** An HTTP/2 GET of /v2/; resolves to the status. */
function getH2(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca });
    session.once('error', reject);
    const stream = session.request({ ':path': '/v2/' });
    stream.once('response', (headers) => {
      stream.resume();
      stream.once('end', () => {
        session.close();
        resolve(Number(headers[':status']));
      });
    });
    stream.once('error', reject);
  });
}

function configWith(tls: Record<string, unknown>, extra = ''): ReturnType<typeof loadConfig>['config'] {
  const lines = ['version: 0.1', 'storage: inmemory', 'http:', '  addr: 127.0.0.1:0', '  tls:'];
  for (const [key, value] of Object.entries(tls)) lines.push(`    ${key}: ${JSON.stringify(value)}`);
  return loadConfig({ yamlText: lines.join('\n') + '\n' + extra, env: {} }).config;
}

const silent = pino({ level: 'silent' });
const portOf = (server: RunningServer) => Number(new URL(server.address).port);

describe('http.tls', () => {
  let ca: TestCA;
  let server: CertFiles;
  let client: CertFiles;
  let foreign: TestCA;
  let foreignClient: CertFiles;
  before(() => {
    ca = newTestCA();
    server = ca.issue('server', { server: true });
    client = ca.issue('client', { client: true });
    foreign = newTestCA('foreign-ca');
    foreignClient = foreign.issue('intruder', { client: true });
  });
  after(() => {
    ca.dispose();
    foreign.dispose();
  });

  it('serves HTTPS, offering HTTP/2 with HTTP/1.1 as the fallback, at TLS 1.2 or newer', async () => {
    const running = await startServer(configWith({ certificate: server.cert, key: server.key }), silent);
    try {
      assert.match(running.address, /^https:/);
      const http1 = await get(portOf(running), ca.certPem);
      assert.equal(http1.status, 200);
      assert.equal(await getH2(portOf(running), ca.certPem), 200);
      const tls12 = await get(portOf(running), ca.certPem, undefined, { maxVersion: 'TLSv1.2' });
      assert.equal(tls12.protocol, 'TLSv1.2');
    } finally {
      await running.close();
    }
  });

  it('takes a blob upload over HTTP/2, streaming the PATCH body', async () => {
    const running = await startServer(configWith({ certificate: server.cert, key: server.key }), silent);
    const session = h2connect(running.address, { ca: ca.certPem });
    const call = (headers: Record<string, string>, body?: Buffer) =>
      new Promise<{ status: number; location?: string }>((resolve, reject) => {
        const stream = session.request(headers);
        stream.once('response', (h) => {
          stream.resume();
          stream.once('end', () => resolve({ status: Number(h[':status']), location: h.location as string | undefined }));
        });
        stream.once('error', reject);
        stream.end(body);
      });
    try {
      const blob = Buffer.alloc(200_000, 'x');
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const started = await call({ ':method': 'POST', ':path': '/v2/h2/app/blobs/uploads/' });
      assert.equal(started.status, 202);
      const path = new URL(started.location!).pathname;
      const patched = await call({ ':method': 'PATCH', ':path': path, 'content-type': 'application/octet-stream' }, blob);
      assert.equal(patched.status, 202);
      const done = await call({ ':method': 'PUT', ':path': `${path}?digest=${digest}` });
      assert.equal(done.status, 201);
      assert.equal((await call({ ':method': 'HEAD', ':path': `/v2/h2/app/blobs/${digest}` })).status, 200);
    } finally {
      session.close();
      await running.close();
    }
  });

  it('http.http2.disabled serves HTTP/1.1 only', async () => {
    const config = configWith({ certificate: server.cert, key: server.key }, '  http2:\n    disabled: true\n');
    const running = await startServer(config, silent);
    try {
      assert.equal((await get(portOf(running), ca.certPem)).status, 200);
      await assert.rejects(getH2(portOf(running), ca.certPem));
    } finally {
      await running.close();
    }
  });

  it('minimumtls tls1.3 refuses a TLS 1.2 client', async () => {
    const running = await startServer(configWith({ certificate: server.cert, key: server.key, minimumtls: 'tls1.3' }), silent);
    try {
      assert.equal((await get(portOf(running), ca.certPem)).protocol, 'TLSv1.3');
      await assert.rejects(get(portOf(running), ca.certPem, undefined, { maxVersion: 'TLSv1.2' }));
    } finally {
      await running.close();
    }
  });

  it('clientcas: a certificate from the CA is accepted; none, or one from another CA, is refused', async () => {
    const config = configWith({ certificate: server.cert, key: server.key, clientcas: [ca.cert] });
    const running = await startServer(config, silent);
    try {
      assert.equal((await get(portOf(running), ca.certPem, client)).status, 200);
      await assert.rejects(get(portOf(running), ca.certPem));
      await assert.rejects(get(portOf(running), ca.certPem, foreignClient));
    } finally {
      await running.close();
    }
  });

  it('refuses a missing certificate, a key of another certificate, and an unknown cipher suite, naming the key', () => {
    assert.throws(
      () => serverTlsOptions(configWith({ certificate: path.join(ca.dir, 'nope.crt'), key: server.key }).http.tls),
      /http\.tls\.certificate: cannot read .*nope\.crt: ENOENT/,
    );
    assert.throws(
      () => serverTlsOptions(configWith({ certificate: server.cert, key: client.key }).http.tls),
      /http\.tls\.key .*client\.key does not match the certificate/,
    );
    assert.throws(
      () => serverTlsOptions(configWith({ certificate: server.cert, key: server.key, ciphersuites: ['TLS_FAKE'] }).http.tls),
      /http\.tls\.ciphersuites: unknown cipher suite "TLS_FAKE"/,
    );
    assert.throws(() => serverTlsOptions(configWith({ certificate: server.cert }).http.tls), /http\.tls\.key is not/);
  });

  it('ciphersuites restricts TLS 1.2 to the named suites', async () => {
    const config = configWith({ certificate: server.cert, key: server.key, ciphersuites: ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'] });
    const running = await startServer(config, silent);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: portOf(running), path: '/v2/', ca: ca.certPem, maxVersion: 'TLSv1.2', agent: false },
          (res) => {
            res.resume();
            resolve((res.socket as import('node:tls').TLSSocket).getCipher().name);
          },
        );
        req.once('error', reject);
        req.end();
      });
      assert.equal(answer, 'ECDHE-RSA-AES256-GCM-SHA384');
    } finally {
      await running.close();
    }
  });

  it('berth serve with an unreadable certificate exits 1 with the reason', () => {
    const file = path.join(ca.dir, 'bad.yml');
    writeFileSync(file, `version: 0.1\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: /nonexistent/cert.pem\n    key: ${server.key}\n`);
    const result = spawnSync(process.execPath, [BERTH, 'serve', file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /http\.tls\.certificate: cannot read \/nonexistent\/cert\.pem: ENOENT/);
  });
});
