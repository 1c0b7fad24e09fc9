import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { buildApp } from '../../src/http/app.js';
import type { Registry } from '../../src/registry/types.js';
import { errorCode, locationPath, newApp, pushBlob } from './fixtures.js';

function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A registry whose every tag listing fails the way a broken disk would. */
function failingRegistry(): Registry {
  const failure = async () => {
    throw new Error('EIO: i/o error, read /var/lib/registry/secret');
  };
  return {
    repository: (name) => ({ name, tags: { list: failure, resolve: failure } }) as unknown as ReturnType<Registry['repository']>,
    catalog: failure,
  };
}

describe('buildApp', () => {
  it('answers GET /v2/ (and /v2) with 200 {} and the API version header', async () => {
    const { app } = newApp();
    for (const url of ['/v2/', '/v2']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), {});
      assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
    }
  });

  it('puts the API version header and http.headers on error answers too', async () => {
    const { app } = newApp({ headers: { 'X-Content-Type-Options': ['nosniff'], 'X-Multi': ['a', 'b'] } });
    for (const url of ['/v2/', '/nowhere', '/v2/Bad/tags/list', '/v2/a%zz/tags/list']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0', url);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', url);
      assert.deepEqual(response.headers['x-multi'], ['a', 'b'], url);
    }
  });

  it('answers an unknown route with a 404 error envelope', async () => {
    const { app } = newApp();
    for (const url of ['/nowhere', '/v2/library/alpine', '/v2/library/alpine/unknown/thing', '/v1/_ping']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.match(String(response.headers['content-type']), /^application\/json/);
      assert.equal(errorCode(response), 'UNSUPPORTED', url);
    }
  });

  it('answers a method a resource does not support with 405 UNSUPPORTED and Allow', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'POST', url: '/v2/library/alpine/tags/list' });
    assert.equal(response.statusCode, 405);
    assert.equal(errorCode(response), 'UNSUPPORTED');
    assert.equal(response.headers.allow, 'GET');
    const options = await app.inject({ method: 'OPTIONS', url: '/v2/library/alpine/manifests/latest' });
    assert.equal(options.statusCode, 405);
    assert.equal(options.headers.allow, 'GET, HEAD, PUT, DELETE');
  });

  it('answers a badly percent-encoded path with a 400 envelope, not a 500', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/a%zz/tags/list' });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'NAME_INVALID');
  });

  it('serves nested repository names up to the 255-character limit', async () => {
    const { app } = newApp();
    const name = Array.from({ length: 25 }, (_, i) => `component${i}`).join('/').slice(0, 255).replace(/\/$/, '');
    const digest = await pushBlob(app, name, 'nested');
    const response = await app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${digest}` });
    assert.equal(response.statusCode, 200);
    const tooLong = await app.inject({ method: 'GET', url: `/v2/${'a'.repeat(256)}/tags/list` });
    assert.equal(tooLong.statusCode, 400);
    assert.equal(errorCode(tooLong), 'NAME_INVALID');
  });

  it('serves the API under http.prefix and only there', async () => {
    const { app } = newApp({ prefix: '/registry/' });
    assert.equal((await app.inject({ method: 'GET', url: '/registry/v2/' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 404);
    const started = await app.inject({ method: 'POST', url: '/registry/v2/a/blobs/uploads/', headers: { host: 'reg.example:5000' } });
    assert.equal(started.statusCode, 202);
    assert.match(String(started.headers.location), /^http:\/\/reg\.example:5000\/registry\/v2\/a\/blobs\/uploads\/[A-Za-z0-9_-]+$/);
  });

  it('builds Location from X-Forwarded-Proto and X-Forwarded-Host when behind a proxy', async () => {
    const { app } = newApp();
    const response = await app.inject({
      method: 'POST',
      url: '/v2/a/blobs/uploads/',
      headers: { host: 'internal:5000', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'registry.example.com' },
    });
    assert.match(String(response.headers.location), /^https:\/\/registry\.example\.com\/v2\/a\/blobs\/uploads\//);
  });

  it('builds Location from http.host when configured, and relative with http.relativeurls', async () => {
    const absolute = newApp({ host: 'https://registry.example.com:8443', prefix: '/r' }).app;
    const fromHost = await absolute.inject({ method: 'POST', url: '/r/v2/a/blobs/uploads/', headers: { host: 'internal' } });
    assert.match(String(fromHost.headers.location), /^https:\/\/registry\.example\.com:8443\/r\/v2\/a\/blobs\/uploads\//);

    const relative = newApp({ relativeURLs: true, prefix: '/r', host: 'https://ignored.example' }).app;
    const response = await relative.inject({ method: 'POST', url: '/r/v2/a/blobs/uploads/' });
    assert.match(String(response.headers.location), /^\/r\/v2\/a\/blobs\/uploads\/[A-Za-z0-9_-]+$/);
  });

  it('accepts upload bodies of any Content-Type instead of parsing them', async () => {
    const { app } = newApp();
    const started = await app.inject({ method: 'POST', url: '/v2/a/blobs/uploads/' });
    const patched = await app.inject({
      method: 'PATCH',
      url: locationPath(started),
      headers: { 'content-type': 'application/json' },
      payload: '{"not": "parsed"',
    });
    assert.equal(patched.statusCode, 202, patched.body);
    assert.equal(patched.headers.range, '0-15');
  });

  it('writes one access-log line per request with the repository and digest', async () => {
    const { logger, lines } = capturingLogger();
    const { app } = newApp({ logger, accessLog: true });
    const digest = await pushBlob(app, 'library/alpine', 'hello');
    lines.length = 0;
    await app.inject({ method: 'GET', url: `/v2/library/alpine/blobs/${digest}`, remoteAddress: '10.1.2.3' });
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const line = lines[0]!;
    assert.equal(line.method, 'GET');
    assert.equal(line.path, `/v2/library/alpine/blobs/${digest}`);
    assert.equal(line.status, 200);
    assert.equal(line.bytes, 5);
    assert.equal(line.remoteAddress, '10.1.2.3');
    assert.equal(line.repository, 'library/alpine');
    assert.equal(line.digest, digest);
    assert.equal(typeof line.durationMs, 'number');
    assert.ok(line.reqId);

    lines.length = 0;
    await app.inject({ method: 'GET', url: '/v2/a%zz/tags/list' });
    assert.equal(lines.length, 1, 'a request the router rejects is logged too');
    assert.equal(lines[0]!.status, 400);
  });

  it('logs nothing per request when the access log is off', async () => {
    const { logger, lines } = capturingLogger();
    const { app } = newApp({ logger });
    await app.inject({ method: 'GET', url: '/v2/' });
    await app.inject({ method: 'GET', url: '/nowhere' });
    assert.deepEqual(lines, []);
  });

  it('answers an unexpected failure with UNKNOWN/500, logs the cause and leaks nothing', async () => {
    const { logger, lines } = capturingLogger();
    const app = buildApp({ registry: failingRegistry(), logger });
    const response = await app.inject({ method: 'GET', url: '/v2/a/tags/list' });
    assert.equal(response.statusCode, 500);
    assert.deepEqual(response.json(), { errors: [{ code: 'UNKNOWN', message: 'unknown error' }] });
    assert.doesNotMatch(response.body, /EIO|secret|at /);
    const logged = lines.find((line) => line.level === 50);
    assert.ok(logged, 'the cause was not logged');
    assert.match(JSON.stringify(logged), /EIO: i\/o error/);
  });

  it('answers an error to HEAD with its status and no body', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'HEAD', url: `/v2/a/blobs/sha256:${'0'.repeat(64)}` });
    assert.equal(response.statusCode, 404);
    assert.equal(response.body, '');
  });

  it('refuses nonsensical options at build time', () => {
    assert.throws(() => newApp({ maxManifestBytes: 0 }), /maxManifestBytes/);
    assert.throws(() => newApp({ catalogMaxEntries: -1 }), /catalogMaxEntries/);
  });
});
