/**
 * The token verifier against tokens minted here with jose, independently of Berth's own token service:
 * signed through an x5c chain made with openssl, and with a JWKS key.
 */
import assert from 'node:assert/strict';
import { createSecretKey, randomBytes, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, importPKCS8, SignJWT, UnsecuredJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { pull, push, type Access } from '../../src/auth/access.js';
import { UnauthorizedError, type AuthFailure } from '../../src/auth/controller.js';
import { keySetFrom, parseCertificateBundle, TokenAccessController } from '../../src/auth/token.js';
import { toErrorResponse } from '../../src/http/errcode.js';
import { newTestCA, type TestCA } from '../helpers/pki.js';

const SERVICE = 'registry.test';
const ISSUER = 'test-issuer';
const REALM = 'https://auth.test/token';
const now = () => Math.floor(Date.now() / 1000);
const derOf = (pem: string) => new X509Certificate(pem).raw.toString('base64');

function claims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    aud: SERVICE,
    sub: 'alice',
    iat: now(),
    nbf: now() - 5,
    exp: now() + 300,
    access: [{ type: 'repository', name: 'team/a', actions: ['pull'] }],
    ...overrides,
  };
}

const request = (token?: string) => ({ authorization: token === undefined ? undefined : `Bearer ${token}`, remoteAddress: '127.0.0.1', origin: 'https://registry.test' });

/** Asserts a 401 UNAUTHORIZED whose challenge is exactly `challenge`, and the kind of failure. */
async function refused(promise: Promise<unknown>, challenge: string, failure?: AuthFailure): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UnauthorizedError, String(err));
    const response = toErrorResponse(err);
    assert.equal(response.status, 401);
    assert.equal(response.body.errors[0]!.code, 'UNAUTHORIZED');
    assert.equal(response.headers['WWW-Authenticate'], challenge);
    if (failure) assert.equal(err.failure, failure);
    return true;
  });
}

const challenge = (scope: string | undefined, error?: string) =>
  `Bearer realm="${REALM}",service="${SERVICE}"${scope ? `,scope="${scope}"` : ''}${error ? `,error="${error}"` : ''}`;

describe('token verification', () => {
  let ca: TestCA;
  let foreign: TestCA;
  let x5c: string[];
  let leafKey: CryptoKey;
  let foreignX5c: string[];
  let foreignKey: CryptoKey;
  let jwksKey: CryptoKey;
  let otherKey: CryptoKey;
  let controller: TokenAccessController;

  before(async () => {
    ca = newTestCA('token-root');
    const intermediate = ca.intermediate('token-intermediate');
    const leaf = intermediate.issue('token-signer');
    x5c = [derOf(leaf.certPem), derOf(intermediate.certPem)];
    leafKey = await importPKCS8(leaf.keyPem, 'RS256');
    foreign = newTestCA('foreign-root');
    const foreignLeaf = foreign.issue('foreign-signer');
    foreignX5c = [derOf(foreignLeaf.certPem)];
    foreignKey = await importPKCS8(foreignLeaf.keyPem, 'RS256');

    const pair = await generateKeyPair('ES256');
    jwksKey = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
    controller = new TokenAccessController({
      realm: REALM,
      service: SERVICE,
      issuer: ISSUER,
      rootCertificates: parseCertificateBundle(ca.certPem, 'bundle'),
      keySets: [keySetFrom({ keys: [jwk] })],
    });
  });
  after(() => {
    ca.dispose();
    foreign.dispose();
  });

  const viaChain = (payload: JWTPayload = claims(), chain = x5c, key = leafKey) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5c: chain }).sign(key);
  const viaKid = (payload: JWTPayload = claims(), key = jwksKey, kid = 'key-1') =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);
  const authorize = (token: string | undefined, wanted: Access[] = [pull('team/a')], grace?: number) =>
    controller.authorize(request(token), wanted, grace === undefined ? {} : { expiredGraceMs: grace });

  it('accepts a token whose x5c chain (leaf, intermediate) ends at the root bundle', async () => {
    const grant = await authorize(await viaChain());
    assert.equal(grant.subject, 'alice');
  });

  it('accepts a token whose kid is in the JWKS', async () => {
    assert.equal((await authorize(await viaKid())).subject, 'alice');
  });

  it('without a token: 401 with the exact scope the request needs, and no error', async () => {
    await refused(authorize(undefined, [pull('team/b'), push('team/b')]), challenge('repository:team/b:pull,push'), 'missing');
    await refused(authorize(undefined, []), challenge(undefined), 'missing');
  });

  it('refuses an expired token (past the leeway), a not-yet-valid one, wrong audience, wrong issuer', async () => {
    const invalid = challenge('repository:team/a:pull', 'invalid_token');
    await refused(authorize(await viaKid(claims({ exp: now() - 120 }))), invalid, 'expired');
    await refused(authorize(await viaKid(claims({ nbf: now() + 300 }))), invalid, 'invalid');
    await refused(authorize(await viaKid(claims({ aud: 'other-registry' }))), invalid, 'invalid');
    await refused(authorize(await viaChain(claims({ iss: 'someone-else' }))), invalid, 'invalid');
    await refused(authorize(await viaKid(claims({ exp: undefined }))), invalid, 'invalid');
  });

  it('tolerates clock skew within the leeway', async () => {
    assert.equal((await authorize(await viaKid(claims({ exp: now() - 20, nbf: now() + 20 })))).subject, 'alice');
  });

  it('refuses a wrong signature, an unknown kid, and a chain from another CA', async () => {
    const invalid = challenge('repository:team/a:pull', 'invalid_token');
    await refused(authorize(await viaKid(claims(), otherKey)), invalid);
    await refused(authorize(await viaKid(claims(), jwksKey, 'key-2')), invalid);
    await refused(authorize(await viaChain(claims(), foreignX5c, foreignKey)), invalid);
    // A trusted chain presented with a key that is not its leaf's.
    await refused(authorize(await viaChain(claims(), x5c, foreignKey)), invalid);
    const good = await viaKid();
    const [h] = good.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims(), access: [{ type: 'repository', name: 'team/a', actions: ['pull', 'push'] }] })).toString('base64url');
    await refused(authorize(`${h}.${forged}.${good.split('.')[2]}`, [push('team/a')]), challenge('repository:team/a:push', 'invalid_token'));
  });

  it('refuses alg none, HMAC, and algorithms outside signingalgorithms', async () => {
    const invalid = challenge('repository:team/a:pull', 'invalid_token');
    await refused(authorize(new UnsecuredJWT(claims()).encode()), invalid);
    const secret = createSecretKey(randomBytes(32));
    await refused(authorize(await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).sign(secret)), invalid);
    const rsOnly = new TokenAccessController({ realm: REALM, service: SERVICE, issuer: ISSUER, keySets: [keySetFrom({ keys: [] })], algorithms: ['RS256'] });
    await refused(rsOnly.authorize(request(await viaKid()), [pull('team/a')]), invalid);
  });

  it('a token for repository A does not open B, and a pull-only token cannot push: insufficient_scope', async () => {
    const token = await viaKid();
    await refused(authorize(token, [pull('team/b')]), challenge('repository:team/b:pull', 'insufficient_scope'), 'insufficient');
    await refused(authorize(token, [pull('team/a'), push('team/a')]), challenge('repository:team/a:pull,push', 'insufficient_scope'), 'insufficient');
  });

  it('refuses tokens whose access claim names a repository with .. or a host:port', async () => {
    for (const name of ['team/../a', 'registry.example:5000/team/a', 'Team/A']) {
      const token = await viaKid(claims({ access: [{ type: 'repository', name, actions: ['pull'] }, { type: 'repository', name: 'team/a', actions: ['pull'] }] }));
      await refused(authorize(token), challenge('repository:team/a:pull', 'invalid_token'), 'invalid');
    }
  });

  it('a `*` action and registry:catalog:* are honoured', async () => {
    const token = await viaKid(claims({ access: [{ type: 'repository', name: 'team/a', actions: ['*'] }, { type: 'registry', name: 'catalog', actions: ['*'] }] }));
    await authorize(token, [pull('team/a'), push('team/a'), { type: 'registry', name: 'catalog', action: '*' }]);
  });

  it('with a grace period, a token expired within it passes and one expired before it does not', async () => {
    const recent = await viaKid(claims({ iat: now() - 400, nbf: now() - 400, exp: now() - 120 }));
    assert.equal((await authorize(recent, [pull('team/a')], 600_000)).subject, 'alice');
    await refused(authorize(recent, [pull('team/a')], 10_000), challenge('repository:team/a:pull', 'invalid_token'), 'expired');
    const forged = await viaKid(claims({ exp: now() - 120 }), otherKey);
    await refused(authorize(forged, [pull('team/a')], 600_000), challenge('repository:team/a:pull', 'invalid_token'));
  });

  it('builds the realm from the request with autoredirect or a path realm', async () => {
    const auto = new TokenAccessController({ realm: 'https://ignored.example/auth/token', autoRedirect: true, service: SERVICE, issuer: ISSUER, keySets: [keySetFrom({ keys: [] })] });
    await refused(auto.authorize(request(), []), `Bearer realm="https://registry.test/auth/token",service="${SERVICE}"`);
    const path = new TokenAccessController({ realm: '/auth/token', service: SERVICE, issuer: ISSUER, keySets: [keySetFrom({ keys: [] })] });
    await refused(path.authorize(request(), []), `Bearer realm="https://registry.test/auth/token",service="${SERVICE}"`);
  });
});
