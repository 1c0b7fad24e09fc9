import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../../../src/oci/digest.js';
import { InMemoryDriver } from '../../../../src/storage/drivers/memory.js';
import { errorCode, newApp, pushBlob } from '../../fixtures.js';

const CONTENT = 'the quick brown fox jumps over the lazy dog';
const ABSENT = `sha256:${'0'.repeat(64)}`;

/** A driver that, like S3 or a CDN, can hand out its own URLs for content. */
class RedirectingDriver extends InMemoryDriver {
  async redirectURL(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return `https://cdn.example${path}?method=${method}`;
  }
}

describe('GET/HEAD/DELETE /v2/<name>/blobs/<digest>', () => {
  it('GET serves the blob with its digest, length, type, ETag and cache headers', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a/b', CONTENT);
    const response = await app.inject({ method: 'GET', url: `/v2/a/b/blobs/${digest}` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.body, CONTENT);
    assert.equal(response.headers['content-length'], String(CONTENT.length));
    assert.equal(response.headers['content-type'], 'application/octet-stream');
    assert.equal(response.headers['docker-content-digest'], digest);
    assert.equal(response.headers['accept-ranges'], 'bytes');
    assert.equal(response.headers.etag, `"${digest}"`);
    assert.equal(response.headers['cache-control'], 'max-age=31536000');
  });

  it('HEAD answers the same headers and no body', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a', CONTENT);
    const response = await app.inject({ method: 'HEAD', url: `/v2/a/blobs/${digest}` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.body, '');
    assert.equal(response.headers['content-length'], String(CONTENT.length));
    assert.equal(response.headers['docker-content-digest'], digest);
  });

  it('GET with a matching If-None-Match is a 304 without a body', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a', CONTENT);
    for (const tag of [`"${digest}"`, digest, `"other", "${digest}"`]) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}`, headers: { 'if-none-match': tag } });
      assert.equal(response.statusCode, 304, tag);
      assert.equal(response.body, '');
    }
    const miss = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}`, headers: { 'if-none-match': '"other"' } });
    assert.equal(miss.statusCode, 200);
  });

  it('GET with Range serves 206 and Content-Range for closed, open and suffix ranges', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a', CONTENT);
    const cases: [string, string, string][] = [
      ['bytes=4-8', 'quick', `bytes 4-8/${CONTENT.length}`],
      ['bytes=40-', 'dog', `bytes 40-42/${CONTENT.length}`],
      ['bytes=-4', 'lazy dog'.slice(-4), `bytes 39-42/${CONTENT.length}`],
      ['bytes=40-1000', 'dog', `bytes 40-42/${CONTENT.length}`],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}`, headers: { range } });
      assert.equal(response.statusCode, 206, range);
      assert.equal(response.body, body, range);
      assert.equal(response.headers['content-range'], contentRange, range);
      assert.equal(response.headers['content-length'], String(body.length), range);
    }
  });

  it('GET with an unsatisfiable Range is a 416 with Content-Range: bytes */<size>', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a', CONTENT);
    const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}`, headers: { range: 'bytes=100-' } });
    assert.equal(response.statusCode, 416);
    assert.equal(response.headers['content-range'], `bytes */${CONTENT.length}`);
    assert.equal(errorCode(response), 'RANGE_INVALID');
  });

  it('GET with a Range it cannot serve as one part sends the whole blob', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a', CONTENT);
    const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}`, headers: { range: 'bytes=0-1,5-6' } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.body, CONTENT);
  });

  it('GET of an unknown blob is a 404 BLOB_UNKNOWN', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${ABSENT}` });
    assert.equal(response.statusCode, 404);
    assert.equal(errorCode(response), 'BLOB_UNKNOWN');
  });

  it('GET of a blob pushed to another repository is a 404 here', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'one', CONTENT);
    const response = await app.inject({ method: 'GET', url: `/v2/two/blobs/${digest}` });
    assert.equal(response.statusCode, 404);
    assert.equal(errorCode(response), 'BLOB_UNKNOWN');
  });

  it('GET blob with a malformed digest is a 400, not a 500', async () => {
    const { app } = newApp();
    for (const digest of ['sha256:xyz', 'latest', 'md5:' + 'a'.repeat(32), `sha256:${'A'.repeat(64)}`]) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` });
      assert.equal(response.statusCode, 400, digest);
      assert.equal(errorCode(response), 'DIGEST_INVALID', digest);
    }
  });

  it('GET blob with an invalid repository name is a 400 NAME_INVALID', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: `/v2/Upper/Case/blobs/${ABSENT}` });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'NAME_INVALID');
  });

  it('GET redirects with 307 to the storage URL when redirects are on and the driver offers one', async () => {
    const driver = new RedirectingDriver();
    const { app } = newApp({ driver, redirect: true });
    const digest = await pushBlob(app, 'a', CONTENT);
    const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` });
    assert.equal(response.statusCode, 307);
    assert.match(String(response.headers.location), /^https:\/\/cdn\.example\/.*\/data\?method=GET$/);

    const unknown = await app.inject({ method: 'GET', url: `/v2/a/blobs/${ABSENT}` });
    assert.equal(unknown.statusCode, 404, 'an unknown blob must not redirect');

    const served = newApp({ driver, redirect: false }).app;
    assert.equal((await served.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` })).statusCode, 200);
  });

  it('DELETE unlinks the blob from the repository with 202', async () => {
    const { app } = newApp();
    const digest = await pushBlob(app, 'a', CONTENT);
    const response = await app.inject({ method: 'DELETE', url: `/v2/a/blobs/${digest}` });
    assert.equal(response.statusCode, 202);
    assert.equal((await app.inject({ method: 'HEAD', url: `/v2/a/blobs/${digest}` })).statusCode, 404);
    const again = await app.inject({ method: 'DELETE', url: `/v2/a/blobs/${digest}` });
    assert.equal(again.statusCode, 404);
    assert.equal(errorCode(again), 'BLOB_UNKNOWN');
  });

  it('DELETE is 405 UNSUPPORTED when deletes are disabled, and the blob stays', async () => {
    const { app } = newApp({ deleteEnabled: false });
    const digest = await pushBlob(app, 'a', CONTENT);
    const response = await app.inject({ method: 'DELETE', url: `/v2/a/blobs/${digest}` });
    assert.equal(response.statusCode, 405);
    assert.equal(errorCode(response), 'UNSUPPORTED');
    assert.equal((await app.inject({ method: 'HEAD', url: `/v2/a/blobs/${digest}` })).statusCode, 200);
  });

  it('serves a blob by a sha512 digest too', async () => {
    const { app } = newApp();
    const bytes = Buffer.from(CONTENT);
    const digest = digestOf(bytes, 'sha512');
    const pushed = await app.inject({ method: 'POST', url: `/v2/a/blobs/uploads/?digest=${digest}`, payload: bytes });
    assert.equal(pushed.statusCode, 201, pushed.body);
    const response = await app.inject({ method: 'GET', url: `/v2/a/blobs/${digest}` });
    assert.equal(response.body, CONTENT);
  });
});
