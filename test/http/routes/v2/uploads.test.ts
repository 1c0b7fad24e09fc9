import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { digestOf } from '../../../../src/oci/digest.js';
import { errorCode, locationPath, newApp, pushBlob } from '../../fixtures.js';

const BLOB = Buffer.from('0123456789abcdefghij');
const DIGEST = digestOf(BLOB);

async function start(app: FastifyInstance, name = 'a'): Promise<string> {
  const response = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` });
  assert.equal(response.statusCode, 202, response.body);
  return locationPath(response);
}

function patch(app: FastifyInstance, url: string, chunk: Buffer, contentRange?: string) {
  return app.inject({
    method: 'PATCH',
    url,
    headers: { 'content-type': 'application/octet-stream', ...(contentRange !== undefined && { 'content-range': contentRange }) },
    payload: chunk,
  });
}

async function blobBody(app: FastifyInstance, name: string, digest: string): Promise<string> {
  const response = await app.inject({ method: 'GET', url: `/v2/${name}/blobs/${digest}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.body;
}

describe('POST /v2/<name>/blobs/uploads/', () => {
  it('starts a session: 202 with Location, Docker-Upload-UUID and Range 0-0', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'POST', url: '/v2/a/blobs/uploads/' });
    assert.equal(response.statusCode, 202);
    const id = response.headers['docker-upload-uuid'];
    assert.match(String(id), /^[A-Za-z0-9_-]+$/);
    assert.match(String(response.headers.location), new RegExp(`/v2/a/blobs/uploads/${id}$`));
    assert.equal(response.headers.range, '0-0');
    assert.equal(response.headers['content-length'], '0');
  });

  it('takes a whole blob with ?digest= and answers 201 with its Location', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'POST', url: `/v2/a/blobs/uploads/?digest=${DIGEST}`, payload: BLOB });
    assert.equal(response.statusCode, 201);
    assert.equal(response.headers['docker-content-digest'], DIGEST);
    assert.equal(locationPath(response), `/v2/a/blobs/${DIGEST}`);
    assert.equal(await blobBody(app, 'a', DIGEST), BLOB.toString());
  });

  it('refuses a monolithic upload whose content does not match ?digest= and keeps nothing', async () => {
    const { app } = newApp();
    const wrong = digestOf(Buffer.from('something else'));
    const response = await app.inject({ method: 'POST', url: `/v2/a/blobs/uploads/?digest=${wrong}`, payload: BLOB });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'DIGEST_INVALID');
    assert.equal((await app.inject({ method: 'HEAD', url: `/v2/a/blobs/${wrong}` })).statusCode, 404);
  });

  it('refuses a malformed ?digest= with 400 DIGEST_INVALID', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'POST', url: '/v2/a/blobs/uploads/?digest=sha256:nothex', payload: BLOB });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'DIGEST_INVALID');
  });

  it('mounts a blob from another repository with 201 and no upload', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'source', BLOB);
    const response = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${digest}&from=source` });
    assert.equal(response.statusCode, 201);
    assert.equal(locationPath(response), `/v2/target/blobs/${digest}`);
    assert.equal(response.headers['docker-content-digest'], digest);
    assert.equal(await blobBody(app, 'target', digest), BLOB.toString());
  });

  it('mounts without from= when the blob is anywhere in the registry', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'source', BLOB);
    const response = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/?mount=${digest}` });
    assert.equal(response.statusCode, 201);
    assert.equal(await blobBody(app, 'target', digest), BLOB.toString());
  });

  it('falls back to an ordinary 202 session when it cannot mount', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'source', BLOB);
    const cases = [
      `?mount=${digest}&from=elsewhere`, // not in that repository
      `?mount=${digest}&from=Not..Valid`, // invalid from
      `?mount=sha256:bad&from=source`, // invalid digest
      `?mount=${digestOf(Buffer.from('absent'))}`, // nowhere
    ];
    for (const query of cases) {
      const response = await app.inject({ method: 'POST', url: `/v2/target/blobs/uploads/${query}` });
      assert.equal(response.statusCode, 202, query);
      assert.ok(response.headers['docker-upload-uuid'], query);
    }
    assert.equal((await app.inject({ method: 'HEAD', url: `/v2/target/blobs/${digest}` })).statusCode, 404);
  });

  it('is 405 UNSUPPORTED in read-only mode, for sessions and mounts alike', async () => {
    const { app, driver } = newApp();
    const digest = await pushBlob(app, 'source', BLOB);
    const readOnly = newApp({ driver, readOnly: true }).app;
    for (const query of ['', `?digest=${DIGEST}`, `?mount=${digest}&from=source`]) {
      const response = await readOnly.inject({ method: 'POST', url: `/v2/target/blobs/uploads/${query}`, payload: BLOB });
      assert.equal(response.statusCode, 405, query);
      assert.equal(errorCode(response), 'UNSUPPORTED', query);
    }
  });

  it('refuses an invalid repository name with 400 NAME_INVALID', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'POST', url: '/v2/-bad-/blobs/uploads/' });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'NAME_INVALID');
  });
});

describe('PATCH/GET/PUT/DELETE /v2/<name>/blobs/uploads/<id>', () => {
  it('PATCH appends chunks in order and answers 202 with Range, Location and Docker-Upload-UUID', async () => {
    const { app } = newApp();
    const url = await start(app);
    const first = await patch(app, url, BLOB.subarray(0, 8), '0-7');
    assert.equal(first.statusCode, 202, first.body);
    assert.equal(first.headers.range, '0-7');
    assert.equal(locationPath(first), url);
    assert.equal(url.endsWith(String(first.headers['docker-upload-uuid'])), true);
    const second = await patch(app, url, BLOB.subarray(8), 'bytes=8-19');
    assert.equal(second.statusCode, 202, second.body);
    assert.equal(second.headers.range, '0-19');
    const done = await app.inject({ method: 'PUT', url: `${url}?digest=${DIGEST}` });
    assert.equal(done.statusCode, 201, done.body);
    assert.equal(await blobBody(app, 'a', DIGEST), BLOB.toString());
  });

  it('PATCH without Content-Range appends the whole body (streamed upload)', async () => {
    const { app } = newApp();
    const url = await start(app);
    assert.equal((await patch(app, url, BLOB.subarray(0, 5))).statusCode, 202);
    const second = await patch(app, url, BLOB.subarray(5));
    assert.equal(second.headers.range, '0-19');
  });

  it('PATCH rejects an out-of-order range with 416, Range and Location, and keeps the upload usable', async () => {
    const { app } = newApp();
    const url = await start(app);
    await patch(app, url, BLOB.subarray(0, 8), '0-7');
    for (const range of ['12-19', '0-7', '4-11']) {
      const response = await patch(app, url, BLOB.subarray(12, 20), range);
      assert.equal(response.statusCode, 416, range);
      assert.equal(errorCode(response), 'RANGE_INVALID');
      assert.equal(response.headers.range, '0-7', range);
      assert.equal(locationPath(response), url);
    }
    const resumed = await patch(app, url, BLOB.subarray(8), '8-19');
    assert.equal(resumed.statusCode, 202);
    assert.equal((await app.inject({ method: 'PUT', url: `${url}?digest=${DIGEST}` })).statusCode, 201);
  });

  it('PATCH rejects a first chunk that does not start at 0 with 416 and Range 0-0', async () => {
    const { app } = newApp();
    const url = await start(app);
    const response = await patch(app, url, BLOB.subarray(5), '5-19');
    assert.equal(response.statusCode, 416);
    assert.equal(response.headers.range, '0-0');
  });

  it('PATCH rejects an unreadable Content-Range with 416', async () => {
    const { app } = newApp();
    const url = await start(app);
    const response = await patch(app, url, BLOB, 'bytes=oops');
    assert.equal(response.statusCode, 416);
    assert.equal(errorCode(response), 'RANGE_INVALID');
  });

  it('PATCH rejects a Content-Range that disagrees with Content-Length with 400 SIZE_INVALID', async () => {
    const { app } = newApp();
    const url = await start(app);
    const response = await patch(app, url, BLOB.subarray(0, 10), '0-3');
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'SIZE_INVALID');
  });

  it('GET reports progress with 204, Range, Location and Docker-Upload-UUID', async () => {
    const { app } = newApp();
    const url = await start(app);
    const empty = await app.inject({ method: 'GET', url });
    assert.equal(empty.statusCode, 204);
    assert.equal(empty.headers.range, '0-0');
    await patch(app, url, BLOB.subarray(0, 8));
    const response = await app.inject({ method: 'GET', url });
    assert.equal(response.statusCode, 204);
    assert.equal(response.body, '');
    assert.equal(response.headers.range, '0-7');
    assert.equal(locationPath(response), url);
    assert.ok(url.endsWith(String(response.headers['docker-upload-uuid'])));
  });

  it('PUT with the final chunk in its body finishes the upload with 201', async () => {
    const { app } = newApp();
    const url = await start(app);
    await patch(app, url, BLOB.subarray(0, 8), '0-7');
    const response = await app.inject({
      method: 'PUT',
      url: `${url}?digest=${DIGEST}`,
      headers: { 'content-type': 'application/octet-stream', 'content-range': '8-19' },
      payload: BLOB.subarray(8),
    });
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(locationPath(response), `/v2/a/blobs/${DIGEST}`);
    assert.equal(response.headers['docker-content-digest'], DIGEST);
    assert.equal(await blobBody(app, 'a', DIGEST), BLOB.toString());
  });

  it('PUT with an out-of-order final chunk is a 416 with Range, and the upload can still be finished', async () => {
    const { app } = newApp();
    const url = await start(app);
    await patch(app, url, BLOB.subarray(0, 8), '0-7');
    const put = (chunk: Buffer, range: string) =>
      app.inject({
        method: 'PUT',
        url: `${url}?digest=${DIGEST}`,
        headers: { 'content-type': 'application/octet-stream', 'content-range': range },
        payload: chunk,
      });
    const outOfOrder = await put(BLOB.subarray(12), '12-19');
    assert.equal(outOfOrder.statusCode, 416, outOfOrder.body);
    assert.equal(outOfOrder.headers.range, '0-7');
    assert.equal(locationPath(outOfOrder), url);
    assert.equal((await put(BLOB.subarray(8), '8-19')).statusCode, 201);
    assert.equal(await blobBody(app, 'a', DIGEST), BLOB.toString());
  });

  it('PUT with the whole blob and no PATCH (POST + PUT, as docker pushes) works', async () => {
    const { app } = newApp();
    const url = await start(app);
    const response = await app.inject({ method: 'PUT', url: `${url}?digest=${DIGEST}`, payload: BLOB });
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(await blobBody(app, 'a', DIGEST), BLOB.toString());
  });

  it('PUT without ?digest= or with a malformed one is a 400 DIGEST_INVALID', async () => {
    const { app } = newApp();
    const url = await start(app);
    for (const query of ['', '?digest=', '?digest=sha256:123']) {
      const response = await app.inject({ method: 'PUT', url: `${url}${query}` });
      assert.equal(response.statusCode, 400, query);
      assert.equal(errorCode(response), 'DIGEST_INVALID', query);
    }
  });

  it('PUT with a digest the content does not have is a 400 DIGEST_INVALID', async () => {
    const { app } = newApp();
    const url = await start(app);
    await patch(app, url, BLOB);
    const wrong = digestOf(Buffer.from('other'));
    const response = await app.inject({ method: 'PUT', url: `${url}?digest=${wrong}` });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'DIGEST_INVALID');
  });

  it('a finished upload id is stale: 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const { app } = newApp();
    const url = await start(app);
    await app.inject({ method: 'PUT', url: `${url}?digest=${DIGEST}`, payload: BLOB });
    for (const method of ['GET', 'PATCH', 'PUT', 'DELETE'] as const) {
      const response = await app.inject({ method, url: `${url}?digest=${DIGEST}`, payload: method === 'PATCH' ? BLOB : undefined });
      assert.equal(response.statusCode, 404, method);
      assert.equal(errorCode(response), 'BLOB_UPLOAD_UNKNOWN', method);
    }
  });

  it('DELETE cancels an upload with 204; the id is then stale', async () => {
    const { app } = newApp();
    const url = await start(app);
    await patch(app, url, BLOB);
    const response = await app.inject({ method: 'DELETE', url });
    assert.equal(response.statusCode, 204);
    const after = await app.inject({ method: 'GET', url });
    assert.equal(after.statusCode, 404);
    assert.equal(errorCode(after), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await app.inject({ method: 'DELETE', url })).statusCode, 404);
  });

  it('an id that was never issued, or is not an id at all, is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const { app } = newApp();
    for (const id of ['0b5d9e1c-unknown', 'a.b', 'a=b', '%20']) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/uploads/${id}` });
      assert.equal(response.statusCode, 404, id);
      assert.equal(errorCode(response), 'BLOB_UPLOAD_UNKNOWN', id);
    }
  });

  it('a path that climbs out of the uploads names no endpoint: 404', async () => {
    const { app } = newApp();
    for (const id of ['..', '%2E%2E', 'x%2F..%2F..%2Fy']) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/uploads/${id}` });
      assert.equal(response.statusCode, 404, id);
      assert.equal(errorCode(response), 'UNSUPPORTED', id);
    }
  });

  it('an upload id belongs to its repository', async () => {
    const { app } = newApp();
    const url = await start(app, 'one');
    const response = await app.inject({ method: 'GET', url: url.replace('/v2/one/', '/v2/two/') });
    assert.equal(response.statusCode, 404);
    assert.equal(errorCode(response), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('PATCH is 405 UNSUPPORTED once the registry is read-only', async () => {
    const { app, driver } = newApp();
    const url = await start(app);
    const readOnly = newApp({ driver, readOnly: true }).app;
    const response = await patch(readOnly, url, BLOB);
    assert.equal(response.statusCode, 405);
    assert.equal(errorCode(response), 'UNSUPPORTED');
  });
});
