/** The auth hook over the API, with the htpasswd and silly controllers (token auth: test/auth/token*.test.ts). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HtpasswdAccessController } from '../../src/auth/basic.js';
import { hashPassword, HtpasswdFile } from '../../src/auth/htpasswd.js';
import { SillyAccessController } from '../../src/auth/silly.js';
import { FailureThrottle } from '../../src/auth/throttle.js';
import { wantedAccess } from '../../src/http/auth.js';
import { parseRoute } from '../../src/http/route.js';
import { errorCode, newApp } from './fixtures.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('wanted access per request', () => {
  const wanted = (method: string, path: string, query: Record<string, string> = {}) =>
    wantedAccess(method, parseRoute(path)!, (key) => query[key]).map(({ type, name, action }) => `${type}:${name}:${action}`);

  it('follows Distribution: GET/HEAD pull, POST/PUT/PATCH pull+push, DELETE delete, catalog, base', () => {
    assert.deepEqual(wanted('GET', 'a/b/manifests/latest'), ['repository:a/b:pull']);
    assert.deepEqual(wanted('HEAD', 'a/blobs/sha256:00'), ['repository:a:pull']);
    assert.deepEqual(wanted('GET', 'a/tags/list'), ['repository:a:pull']);
    assert.deepEqual(wanted('PUT', 'a/manifests/v1'), ['repository:a:pull', 'repository:a:push']);
    assert.deepEqual(wanted('PATCH', 'a/blobs/uploads/abc'), ['repository:a:pull', 'repository:a:push']);
    assert.deepEqual(wanted('DELETE', 'a/manifests/sha256:00'), ['repository:a:delete']);
    assert.deepEqual(wanted('GET', '_catalog'), ['registry:catalog:*']);
    assert.deepEqual(wanted('GET', ''), []);
  });

  it('a cross-repository mount also needs pull on the source; an unusable source needs nothing more', () => {
    const mount = 'sha256:' + 'a'.repeat(64);
    assert.deepEqual(wanted('POST', 'b/blobs/uploads', { mount, from: 'a' }), ['repository:b:pull', 'repository:b:push', 'repository:a:pull']);
    assert.deepEqual(wanted('POST', 'b/blobs/uploads', { mount, from: '../a' }), ['repository:b:pull', 'repository:b:push']);
    assert.deepEqual(wanted('POST', 'b/blobs/uploads', { from: 'a' }), ['repository:b:pull', 'repository:b:push']);
  });
});

describe('auth.htpasswd over the API', () => {
  let dir: string;
  let file: HtpasswdFile;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-http-auth-'));
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${await hashPassword('wonderland', 4)}\n`);
    file = new HtpasswdFile(path.join(dir, 'htpasswd'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const app = (throttle = new FailureThrottle()) =>
    newApp({ auth: { controller: new HtpasswdAccessController('Registry Realm', file, throttle) } }).app;

  it('GET /v2/ without credentials is 401 UNAUTHORIZED with a Basic challenge', async () => {
    const response = await app().inject({ method: 'GET', url: '/v2/' });
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Basic realm="Registry Realm"');
    assert.equal(errorCode(response), 'UNAUTHORIZED');
    assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('valid credentials pass on every route; a wrong password is 401 before any body is read', async () => {
    const registry = app();
    const headers = { authorization: basic('alice', 'wonderland') };
    assert.equal((await registry.inject({ method: 'GET', url: '/v2/', headers })).statusCode, 200);
    const push = await registry.inject({
      method: 'POST',
      url: `/v2/team/app/blobs/uploads/?digest=sha256:${'0'.repeat(64)}`,
      headers: { authorization: basic('alice', 'nope') },
      payload: 'data',
    });
    assert.equal(push.statusCode, 401);
    assert.equal(errorCode(push), 'UNAUTHORIZED');
    const list = await registry.inject({ method: 'GET', url: '/v2/_catalog', headers });
    assert.equal(list.statusCode, 200);
  });

  it('repeated failures from one address get 429 TOOMANYREQUESTS with Retry-After, even with the right password', async () => {
    const registry = app(new FailureThrottle({ freeAttempts: 3 }));
    for (let i = 0; i < 3; i++) {
      assert.equal((await registry.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('alice', `guess${i}`) } })).statusCode, 401);
    }
    assert.equal((await registry.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('alice', 'guess3') } })).statusCode, 401);
    const blocked = await registry.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('alice', 'wonderland') } });
    assert.equal(blocked.statusCode, 429);
    assert.equal(errorCode(blocked), 'TOOMANYREQUESTS');
    assert.match(String(blocked.headers['retry-after']), /^\d+$/);
    const elsewhere = await registry.inject({ method: 'GET', url: '/v2/', remoteAddress: '192.0.2.7', headers: { authorization: basic('alice', 'wonderland') } });
    assert.equal(elsewhere.statusCode, 200);
  });

  it('the access log names the user and never the password', async () => {
    const lines: string[] = [];
    const { default: pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const registry = newApp({ logger, accessLog: true, auth: { controller: new HtpasswdAccessController('r', file, new FailureThrottle()) } }).app;
    await registry.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('alice', 'wonderland') } });
    await registry.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('alice', 'not-this-one') } });
    assert.ok(lines.some((line) => JSON.parse(line).user === 'alice'));
    assert.ok(!lines.some((line) => line.includes('wonderland') || line.includes('not-this-one') || line.includes(basic('alice', 'wonderland').slice(6))));
  });
});

describe('auth.silly over the API', () => {
  const app = () => newApp({ auth: { controller: new SillyAccessController('https://auth.example/token', 'registry.example') } }).app;

  it('challenges a request without Authorization with the realm, service and exact scope', async () => {
    const response = await app().inject({ method: 'PUT', url: '/v2/team/app/manifests/v1', payload: '{}' });
    assert.equal(response.statusCode, 401);
    assert.equal(
      response.headers['www-authenticate'],
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push"',
    );
    assert.equal(errorCode(response), 'UNAUTHORIZED');
  });

  it('lets any request with an Authorization header through', async () => {
    const response = await app().inject({ method: 'GET', url: '/v2/_catalog', headers: { authorization: 'Bearer anything' } });
    assert.equal(response.statusCode, 200);
  });
});
