/**
 * The built-in token service and the verifier together, on a real listening Berth: the flows docker,
 * containerd, podman and skopeo use, the grants the access rules give, refresh tokens, the JWKS, the
 * persisted key, and an upload that outlives its 2-second token.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import pino from 'pino';
import { stringify } from 'yaml';
import { hashPassword } from '../../../../src/auth/htpasswd.js';
import { startServer, type RunningServer } from '../../../../src/cli/serve.js';
import { loadConfig } from '../../../../src/config/load.js';

const SERVICE = 'berth.test';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

describe('built-in token service', () => {
  let dir: string;
  let server: RunningServer;
  let base: string;

  const config = (expiration = '5m') =>
    loadConfig({
      yamlText: stringify({
        version: '0.1',
        storage: { inmemory: {} },
        http: { addr: '127.0.0.1:0' },
        auth: {
          token: {
            realm: '/auth/token',
            service: SERVICE,
            issuer: 'berth-test',
            leeway: '0s',
            uploadgrace: '1m',
            builtin: {
              signingkey: path.join(dir, 'keys', 'token.pem'),
              accounts: path.join(dir, 'htpasswd'),
              expiration,
              access: [
                { accounts: ['alice'], repositories: ['team/*', 'alice/**'], actions: ['pull', 'push'], catalog: true },
                { accounts: ['bob'], repositories: ['team/*'], actions: ['pull'] },
                { accounts: ['*'], anonymous: true, repositories: ['public/**'], actions: ['pull'] },
              ],
            },
          },
        },
      }),
      env: {},
    }).config;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-token-service-'));
    writeFileSync(path.join(dir, 'htpasswd'), `alice:${await hashPassword('wonderland', 4)}\nbob:${await hashPassword('builder', 4)}\n`);
    server = await startServer(config(), pino({ level: 'silent' }));
    base = server.address;
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function token(scopes: string[], authorization?: string, url = base): Promise<TokenBody> {
    const query = new URLSearchParams({ service: SERVICE });
    for (const scope of scopes) query.append('scope', scope);
    const response = await fetch(`${url}/auth/token?${query}`, { headers: authorization ? { authorization } : {} });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as TokenBody;
  }
  const accessOf = (body: TokenBody) => decodeJwt(body.token).access;
  const bearer = (body: TokenBody) => ({ authorization: `Bearer ${body.token}` });

  it('GET /v2/ challenges with the realm on this host and the service', async () => {
    const response = await fetch(`${base}/v2/`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${base}/auth/token",service="${SERVICE}"`);
  });

  it('grants the intersection of what is asked and what the rules allow', async () => {
    const alice = await token(['repository:team/app:pull,push', 'repository:other/x:pull', 'registry:catalog:*'], basic('alice', 'wonderland'));
    assert.deepEqual(accessOf(alice), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.equal(decodeJwt(alice.token).sub, 'alice');
    assert.equal(alice.token, alice.access_token);
    assert.equal(alice.expires_in, 300);
    assert.ok(!Number.isNaN(Date.parse(alice.issued_at)));
    const bob = await token(['repository:team/app:pull,push,delete'], basic('bob', 'builder'));
    assert.deepEqual(accessOf(bob), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    const anonymous = await token(['repository:public/base/img:pull,push', 'repository:team/app:pull']);
    assert.deepEqual(accessOf(anonymous), [{ type: 'repository', name: 'public/base/img', actions: ['pull'] }]);
  });

  it('a login (no scope) gets a token that opens /v2/; a wrong password is 401 UNAUTHORIZED', async () => {
    const login = await token([], basic('alice', 'wonderland'));
    assert.equal((await fetch(`${base}/v2/`, { headers: bearer(login) })).status, 200);
    const wrong = await fetch(`${base}/auth/token?service=${SERVICE}`, { headers: { authorization: basic('alice', 'nope') } });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
  });

  it('tokens open what they grant and answer insufficient_scope for the rest', async () => {
    const bob = await token(['repository:team/app:pull'], basic('bob', 'builder'));
    assert.equal((await fetch(`${base}/v2/team/app/tags/list`, { headers: bearer(bob) })).status, 404, 'authorized: the repository is just empty');
    const push = await fetch(`${base}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: bearer(bob) });
    assert.equal(push.status, 401);
    assert.equal(
      push.headers.get('www-authenticate'),
      `Bearer realm="${base}/auth/token",service="${SERVICE}",scope="repository:team/app:pull,push",error="insufficient_scope"`,
    );
  });

  it('refuses scopes naming a repository with .. or a host:port', async () => {
    for (const scope of ['repository:team/../x:pull', 'repository:evil.example:5000/team/app:pull']) {
      const response = await fetch(`${base}/auth/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`);
      assert.equal(response.status, 400, scope);
      assert.equal(((await response.json()) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_INVALID');
    }
  });

  it('OAuth2 POST: password grant with access_type=offline gives a refresh token that redeems, and is no access token', async () => {
    const form = new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'wonderland', service: SERVICE, scope: 'repository:team/app:pull', client_id: 'test', access_type: 'offline' });
    const response = await fetch(`${base}/auth/token`, { method: 'POST', body: form });
    assert.equal(response.status, 200);
    const body = (await response.json()) as TokenBody;
    assert.ok(body.refresh_token);
    assert.deepEqual(accessOf(body), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);

    const refresh = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token, service: SERVICE, scope: 'repository:alice/tools:push', client_id: 'test' });
    const refreshed = (await (await fetch(`${base}/auth/token`, { method: 'POST', body: refresh })).json()) as TokenBody;
    assert.deepEqual(accessOf(refreshed), [{ type: 'repository', name: 'alice/tools', actions: ['push'] }]);
    assert.equal(refreshed.refresh_token, body.refresh_token);

    assert.equal((await fetch(`${base}/v2/`, { headers: { authorization: `Bearer ${body.refresh_token}` } })).status, 401);
    const bad = new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'x', service: SERVICE });
    assert.equal((await fetch(`${base}/auth/token`, { method: 'POST', body: bad })).status, 401);
    const forged = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.token, service: SERVICE });
    assert.equal((await fetch(`${base}/auth/token`, { method: 'POST', body: forged })).status, 401, 'an access token is no refresh token');
  });

  it('publishes its key as a JWKS that verifies its tokens, and keeps the key across restarts', async () => {
    const jwks = (await (await fetch(`${base}/auth/jwks.json`)).json()) as JSONWebKeySet;
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.alg, 'ES256');
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part');
    const issued = await token(['repository:team/app:pull'], basic('alice', 'wonderland'));
    const { payload } = await jwtVerify(issued.token, createLocalJWKSet(jwks), { issuer: 'berth-test', audience: SERVICE });
    assert.equal(payload.sub, 'alice');

    const second = await startServer(config(), pino({ level: 'silent' }));
    try {
      const again = (await (await fetch(`${second.address}/auth/jwks.json`)).json()) as JSONWebKeySet;
      assert.equal(again.keys[0]!.kid, jwks.keys[0]!.kid);
      assert.equal((await fetch(`${second.address}/v2/team/app/tags/list`, { headers: bearer(issued) })).status, 404);
    } finally {
      await second.close();
    }
  });

  it('an upload started under a 2-second token finishes after the token expired, for its subject only', async () => {
    const shortLived = await startServer(config('2s'), pino({ level: 'silent' }));
    const url = shortLived.address;
    try {
      const alice = await token(['repository:team/slow:pull,push'], basic('alice', 'wonderland'), url);
      assert.equal(alice.expires_in, 2);
      const chunks = [Buffer.alloc(1000, 'a'), Buffer.alloc(1000, 'b'), Buffer.alloc(500, 'c')];
      const digest = `sha256:${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}`;
      const started = await fetch(`${url}/v2/team/slow/blobs/uploads/`, { method: 'POST', headers: bearer(alice) });
      assert.equal(started.status, 202);
      let location = new URL(started.headers.get('location')!, url);
      assert.ok(location.searchParams.has('_berth_upload'));
      let offset = 0;
      for (const chunk of chunks) {
        const response = await fetch(location, {
          method: 'PATCH',
          headers: { ...bearer(alice), 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
          body: chunk,
        });
        assert.equal(response.status, 202, await response.text());
        offset += chunk.length;
        location = new URL(response.headers.get('location')!, url);
        await sleep(1500);
      }
      // The token has been expired for a while now: elsewhere it is refused...
      const fresh = await fetch(`${url}/v2/team/slow/blobs/uploads/`, { method: 'POST', headers: bearer(alice) });
      assert.equal(fresh.status, 401);
      assert.match(fresh.headers.get('www-authenticate')!, /error="invalid_token"/);
      const unbound = new URL(location);
      unbound.searchParams.delete('_berth_upload');
      assert.equal((await fetch(unbound, { method: 'GET', headers: bearer(alice) })).status, 401);
      // ...and another subject's expired token does not fit the ticket.
      const bob = await token(['repository:team/slow:pull'], basic('bob', 'builder'), url);
      await sleep(2100);
      assert.equal((await fetch(location, { method: 'GET', headers: bearer(bob) })).status, 401);

      location.searchParams.set('digest', digest);
      const done = await fetch(location, { method: 'PUT', headers: bearer(alice) });
      assert.equal(done.status, 201, await done.text());
      const check = await token(['repository:team/slow:pull'], basic('alice', 'wonderland'), url);
      const blob = await fetch(`${url}/v2/team/slow/blobs/${digest}`, { headers: bearer(check) });
      assert.equal(blob.status, 200);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), Buffer.concat(chunks));
    } finally {
      await shortLived.close();
    }
  });
});
