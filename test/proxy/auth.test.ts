import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenge, UpstreamAuth, type TokenFetcher } from '../../src/proxy/auth.js';
import { UpstreamError } from '../../src/proxy/errors.js';

const CHALLENGE = 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/alpine:pull"';

/** A token service that issues numbered tokens valid for `seconds`, recording each request. */
function tokenService(seconds?: number, status = 200) {
  const requests: { url: URL; headers: Record<string, string> }[] = [];
  const fetcher: TokenFetcher = async (url, headers) => {
    requests.push({ url, headers });
    const body = seconds === undefined ? { token: `t${requests.length}` } : { access_token: `t${requests.length}`, expires_in: seconds };
    return { status, body: JSON.stringify(body) };
  };
  return { requests, fetcher };
}

describe('parseChallenge', () => {
  it('reads the scheme and quoted, unquoted and escaped parameters', () => {
    assert.deepEqual(parseChallenge(CHALLENGE), {
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:library/alpine:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm=plain, charset="UTF-8"'), { scheme: 'basic', params: { realm: 'plain', charset: 'UTF-8' } });
    assert.deepEqual(parseChallenge('Bearer realm="a\\"b",error="invalid_token"')?.params, { realm: 'a"b', error: 'invalid_token' });
    assert.equal(parseChallenge(''), undefined);
  });
});

describe('UpstreamAuth', () => {
  it('asks the realm for a pull token of the scope with the credentials as Basic auth, and caches it per scope', async () => {
    const service = tokenService(300);
    const auth = new UpstreamAuth('hub', { username: 'u', password: 'p' }, service.fetcher);
    assert.equal(await auth.authorization('repository:library/alpine:pull'), undefined);
    assert.equal(await auth.challenged(CHALLENGE, 'repository:library/alpine:pull'), true);
    assert.equal(await auth.authorization('repository:library/alpine:pull'), 'Bearer t1');
    assert.equal(await auth.authorization('repository:library/alpine:pull'), 'Bearer t1');
    const [first] = service.requests;
    assert.equal(first!.url.origin + first!.url.pathname, 'https://auth.example/token');
    assert.equal(first!.url.searchParams.get('service'), 'registry.example');
    assert.equal(first!.url.searchParams.get('scope'), 'repository:library/alpine:pull');
    assert.equal(first!.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    // Another repository: its own token, fetched up front now that the realm is known.
    assert.equal(await auth.authorization('repository:library/busybox:pull'), 'Bearer t2');
    assert.equal(service.requests.length, 2);
  });

  it('asks anonymously without credentials, and renews a token shortly before it expires', async () => {
    const service = tokenService(60);
    let now = 1_000_000;
    const auth = new UpstreamAuth('hub', {}, service.fetcher, () => now);
    await auth.challenged(CHALLENGE, 's');
    assert.equal(service.requests[0]!.headers.authorization, undefined);
    assert.equal(await auth.authorization('s'), 'Bearer t1');
    now += 45_000;
    assert.equal(await auth.authorization('s'), 'Bearer t1');
    now += 10_000;
    assert.equal(await auth.authorization('s'), 'Bearer t2');
  });

  it('shares one token request among concurrent pulls of a scope', async () => {
    const service = tokenService(300);
    const auth = new UpstreamAuth('hub', {}, service.fetcher);
    await auth.challenged(CHALLENGE, 'first');
    const headers = await Promise.all(Array.from({ length: 5 }, () => auth.authorization('second')));
    assert.deepEqual(new Set(headers), new Set(['Bearer t2']));
    assert.equal(service.requests.length, 2);
  });

  it('uses Basic auth when the upstream challenges for it, and gives up when there are no credentials', async () => {
    const withCredentials = new UpstreamAuth('hub', { username: 'u', password: 'p' }, tokenService().fetcher);
    assert.equal(await withCredentials.challenged('Basic realm="r"', 's'), true);
    assert.equal(await withCredentials.authorization('s'), `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.equal(await withCredentials.challenged('Basic realm="r"', 's'), false, 'refused credentials are not retried forever');
    const anonymous = new UpstreamAuth('hub', {}, tokenService().fetcher);
    assert.equal(await anonymous.challenged('Basic realm="r"', 's'), false);
  });

  it('reports a refusing token service as DENIED without revealing the credentials', async () => {
    const auth = new UpstreamAuth('hub', { username: 'u', password: 'secret' }, tokenService(60, 401).fetcher);
    await assert.rejects(auth.challenged(CHALLENGE, 's'), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.code, 'DENIED');
      assert.equal(err.transient, false);
      assert.equal(err.message, 'upstream hub: its token service refused the configured credentials (401)');
      return true;
    });
  });
});
