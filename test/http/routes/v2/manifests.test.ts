import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../../../src/oci/digest.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../../../src/oci/mediatypes.js';
import { errorCode, imageManifest, locationPath, newApp, pushImage } from '../../fixtures.js';

const ABSENT = `sha256:${'0'.repeat(64)}`;

describe('PUT/GET/HEAD/DELETE /v2/<name>/manifests/<reference>', () => {
  it('PUT by tag answers 201 with the digest Location and Docker-Content-Digest', async () => {
    const { app } = newApp();
    const { digest, response } = await pushImage(app, 'a/b', 'v1');
    assert.equal(response.statusCode, 201);
    assert.equal(locationPath(response), `/v2/a/b/manifests/${digest}`);
    assert.equal(response.headers['docker-content-digest'], digest);
    assert.equal(response.headers['oci-subject'], undefined);
  });

  it('PUT by digest stores the manifest untagged', async () => {
    const { app } = newApp();
    const { digest, response } = await pushImage(app, 'a');
    assert.equal(response.statusCode, 201);
    assert.equal(response.headers['docker-content-digest'], digest);
    const get = await app.inject({ method: 'GET', url: `/v2/a/manifests/${digest}` });
    assert.equal(get.statusCode, 200);
  });

  it('PUT by a digest the bytes do not have is a 400 DIGEST_INVALID', async () => {
    const { app } = newApp();
    const bytes = await imageManifest(app, 'a');
    const response = await app.inject({
      method: 'PUT',
      url: `/v2/a/manifests/${ABSENT}`,
      headers: { 'content-type': OCI_MANIFEST },
      payload: bytes,
    });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'DIGEST_INVALID');
  });

  it('PUT of a manifest with a subject answers OCI-Subject', async () => {
    const { app } = newApp();
    const subject = await pushImage(app, 'a', 'v1');
    const { response } = await pushImage(app, 'a', undefined, {
      seed: 'signature',
      artifactType: 'application/example.sig',
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length },
    });
    assert.equal(response.headers['oci-subject'], subject.digest);
  });

  it('GET by tag and by digest serves exactly the pushed bytes with their headers', async () => {
    const { app } = newApp();
    const { digest, bytes } = await pushImage(app, 'a', 'latest');
    for (const reference of ['latest', digest]) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/manifests/${reference}` });
      assert.equal(response.statusCode, 200, reference);
      assert.deepEqual(response.rawPayload, bytes);
      assert.equal(response.headers['content-type'], OCI_MANIFEST);
      assert.equal(response.headers['content-length'], String(bytes.length));
      assert.equal(response.headers['docker-content-digest'], digest);
      assert.equal(response.headers.etag, `"${digest}"`);
    }
  });

  it('HEAD answers the same headers and no body', async () => {
    const { app } = newApp();
    const { digest, bytes } = await pushImage(app, 'a', 'latest');
    const response = await app.inject({ method: 'HEAD', url: '/v2/a/manifests/latest' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.body, '');
    assert.equal(response.headers['content-length'], String(bytes.length));
    assert.equal(response.headers['docker-content-digest'], digest);
    assert.equal(response.headers['content-type'], OCI_MANIFEST);
  });

  it('GET with a matching If-None-Match is a 304', async () => {
    const { app } = newApp();
    const { digest } = await pushImage(app, 'a', 'latest');
    const response = await app.inject({ method: 'GET', url: '/v2/a/manifests/latest', headers: { 'if-none-match': `"${digest}"` } });
    assert.equal(response.statusCode, 304);
    assert.equal(response.body, '');
  });

  it('serves an index with its own media type', async () => {
    const { app } = newApp();
    const child = await pushImage(app, 'a', 'child');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.bytes.length }],
      }),
    );
    const put = await app.inject({ method: 'PUT', url: '/v2/a/manifests/multi', headers: { 'content-type': OCI_INDEX }, payload: index });
    assert.equal(put.statusCode, 201, put.body);
    const get = await app.inject({ method: 'GET', url: '/v2/a/manifests/multi' });
    assert.equal(get.headers['content-type'], OCI_INDEX);
    assert.equal(get.headers['docker-content-digest'], digestOf(index));
  });

  it('GET of an unknown tag or digest is a 404 MANIFEST_UNKNOWN', async () => {
    const { app } = newApp();
    await pushImage(app, 'a', 'v1');
    for (const reference of ['v2', ABSENT]) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/manifests/${reference}` });
      assert.equal(response.statusCode, 404, reference);
      assert.equal(errorCode(response), 'MANIFEST_UNKNOWN', reference);
    }
  });

  it('a malformed tag is a 400 TAG_INVALID and a malformed digest a 400 DIGEST_INVALID', async () => {
    const { app } = newApp();
    const tag = await app.inject({ method: 'GET', url: `/v2/a/manifests/.hidden` });
    assert.equal(tag.statusCode, 400);
    assert.equal(errorCode(tag), 'TAG_INVALID');
    const longTag = await app.inject({ method: 'PUT', url: `/v2/a/manifests/${'t'.repeat(129)}`, payload: '{}' });
    assert.equal(longTag.statusCode, 400);
    assert.equal(errorCode(longTag), 'TAG_INVALID');
    const digest = await app.inject({ method: 'GET', url: '/v2/a/manifests/sha256:short' });
    assert.equal(digest.statusCode, 400);
    assert.equal(errorCode(digest), 'DIGEST_INVALID');
  });

  it('PUT of a body that is not a manifest is a 400 MANIFEST_INVALID', async () => {
    const { app } = newApp();
    for (const payload of ['not json', '{"schemaVersion": 2}', '']) {
      const response = await app.inject({
        method: 'PUT',
        url: '/v2/a/manifests/v1',
        headers: { 'content-type': OCI_MANIFEST },
        payload,
      });
      assert.equal(response.statusCode, 400, payload);
      assert.equal(errorCode(response), 'MANIFEST_INVALID', payload);
    }
  });

  it('PUT of a manifest that references unknown blobs is a 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const { app } = newApp();
    const bytes = await imageManifest(app, 'a');
    const response = await app.inject({
      method: 'PUT',
      url: '/v2/elsewhere/manifests/v1',
      headers: { 'content-type': OCI_MANIFEST },
      payload: bytes,
    });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('PUT of a manifest over the size limit is a 413 MANIFEST_INVALID, by Content-Length or by stream', async () => {
    const { app } = newApp({ maxManifestBytes: 1024 });
    const bytes = await imageManifest(app, 'a');
    const padded = Buffer.from(JSON.stringify({ ...JSON.parse(bytes.toString()), annotations: { pad: 'x'.repeat(2000) } }));
    const declared = await app.inject({
      method: 'PUT',
      url: '/v2/a/manifests/big',
      headers: { 'content-type': OCI_MANIFEST },
      payload: padded,
    });
    assert.equal(declared.statusCode, 413);
    assert.equal(errorCode(declared), 'MANIFEST_INVALID');

    const { Readable } = await import('node:stream');
    const streamed = await app.inject({
      method: 'PUT',
      url: '/v2/a/manifests/big',
      headers: { 'content-type': OCI_MANIFEST, 'transfer-encoding': 'chunked' },
      payload: Readable.from([padded.subarray(0, 1000), padded.subarray(1000)]),
    });
    assert.equal(streamed.statusCode, 413);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/a/manifests/big' })).statusCode, 404);

    const fits = await app.inject({ method: 'PUT', url: '/v2/a/manifests/small', headers: { 'content-type': OCI_MANIFEST }, payload: bytes });
    assert.equal(fits.statusCode, 201);
  });

  it('DELETE by tag removes only the tag, with 202', async () => {
    const { app } = newApp();
    const { digest } = await pushImage(app, 'a', 'v1');
    const response = await app.inject({ method: 'DELETE', url: '/v2/a/manifests/v1' });
    assert.equal(response.statusCode, 202);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/a/manifests/v1' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: `/v2/a/manifests/${digest}` })).statusCode, 200);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/v2/a/tags/list' })).json(), { name: 'a', tags: [] });
  });

  it('DELETE by digest removes the manifest and its tags, with 202', async () => {
    const { app } = newApp();
    const { digest } = await pushImage(app, 'a', 'v1');
    const response = await app.inject({ method: 'DELETE', url: `/v2/a/manifests/${digest}` });
    assert.equal(response.statusCode, 202);
    for (const reference of ['v1', digest]) {
      const get = await app.inject({ method: 'GET', url: `/v2/a/manifests/${reference}` });
      assert.equal(get.statusCode, 404, reference);
    }
    const again = await app.inject({ method: 'DELETE', url: `/v2/a/manifests/${digest}` });
    assert.equal(again.statusCode, 404);
    assert.equal(errorCode(again), 'MANIFEST_UNKNOWN');
  });

  it('DELETE is 405 UNSUPPORTED when deletes are disabled', async () => {
    const { app } = newApp({ deleteEnabled: false });
    const { digest } = await pushImage(app, 'a', 'v1');
    for (const reference of ['v1', digest]) {
      const response = await app.inject({ method: 'DELETE', url: `/v2/a/manifests/${reference}` });
      assert.equal(response.statusCode, 405, reference);
      assert.equal(errorCode(response), 'UNSUPPORTED');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/v2/a/manifests/v1' })).statusCode, 200);
  });

  it('in read-only mode PUT and DELETE are 405 UNSUPPORTED while GET still works', async () => {
    const { app, driver } = newApp();
    const { bytes } = await pushImage(app, 'a', 'v1');
    const readOnly = newApp({ driver, readOnly: true }).app;
    const put = await readOnly.inject({ method: 'PUT', url: '/v2/a/manifests/v2', headers: { 'content-type': OCI_MANIFEST }, payload: bytes });
    assert.equal(put.statusCode, 405);
    assert.equal(errorCode(put), 'UNSUPPORTED');
    const del = await readOnly.inject({ method: 'DELETE', url: '/v2/a/manifests/v1' });
    assert.equal(del.statusCode, 405);
    assert.equal((await readOnly.inject({ method: 'GET', url: '/v2/a/manifests/v1' })).statusCode, 200);
  });
});
