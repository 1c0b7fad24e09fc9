import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { digestOf } from '../../../../src/oci/digest.js';
import { OCI_EMPTY, OCI_MANIFEST } from '../../../../src/oci/mediatypes.js';
import { errorCode, imageManifest, newApp } from '../../fixtures.js';

async function tagAll(app: FastifyInstance, name: string, tags: string[]): Promise<void> {
  const bytes = await imageManifest(app, name);
  for (const tag of tags) {
    const url = `/v2/${name}/manifests/${tag}`;
    const response = await app.inject({ method: 'PUT', url, headers: { 'content-type': OCI_MANIFEST }, payload: bytes });
    assert.equal(response.statusCode, 201, response.body);
  }
}

describe('GET /v2/<name>/tags/list', () => {
  it('lists every tag in lexical order without n', async () => {
    const { app } = newApp();
    await tagAll(app, 'a/b', ['v2', 'latest', 'v1', 'V0']);
    const response = await app.inject({ method: 'GET', url: '/v2/a/b/tags/list' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.deepEqual(response.json(), { name: 'a/b', tags: ['V0', 'latest', 'v1', 'v2'] });
    assert.equal(response.headers.link, undefined);
  });

  it('paginates with n and last, with a Link to the next page until the end', async () => {
    const { app } = newApp();
    await tagAll(app, 'a', ['t1', 't2', 't3', 't4', 't5']);
    const first = await app.inject({ method: 'GET', url: '/v2/a/tags/list?n=2' });
    assert.deepEqual(first.json(), { name: 'a', tags: ['t1', 't2'] });
    assert.equal(first.headers.link, '</v2/a/tags/list?n=2&last=t2>; rel="next"');

    const second = await app.inject({ method: 'GET', url: '/v2/a/tags/list?n=2&last=t2' });
    assert.deepEqual(second.json().tags, ['t3', 't4']);
    const third = await app.inject({ method: 'GET', url: '/v2/a/tags/list?n=2&last=t4' });
    assert.deepEqual(third.json().tags, ['t5']);
    assert.equal(third.headers.link, undefined);

    const between = await app.inject({ method: 'GET', url: '/v2/a/tags/list?last=t2a' });
    assert.deepEqual(between.json().tags, ['t3', 't4', 't5']);
  });

  it('puts http.prefix in the Link header', async () => {
    const { app } = newApp({ prefix: '/registry' });
    const config = { mediaType: OCI_EMPTY, digest: digestOf(Buffer.from('{}')), size: 2 };
    const pushed = await app.inject({ method: 'POST', url: `/registry/v2/a/blobs/uploads/?digest=${config.digest}`, payload: '{}' });
    assert.equal(pushed.statusCode, 201, pushed.body);
    const bytes = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] });
    for (const tag of ['x', 'y']) {
      const url = `/registry/v2/a/manifests/${tag}`;
      const put = await app.inject({ method: 'PUT', url, headers: { 'content-type': OCI_MANIFEST }, payload: bytes });
      assert.equal(put.statusCode, 201, put.body);
    }
    const response = await app.inject({ method: 'GET', url: '/registry/v2/a/tags/list?n=1' });
    assert.equal(response.headers.link, '</registry/v2/a/tags/list?n=1&last=x>; rel="next"');
  });

  it('n=0 is an empty list, and an empty n= is no n', async () => {
    const { app } = newApp();
    await tagAll(app, 'a', ['t1']);
    const response = await app.inject({ method: 'GET', url: '/v2/a/tags/list?n=0' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { name: 'a', tags: [] });
    const unset = await app.inject({ method: 'GET', url: '/v2/a/tags/list?n=' });
    assert.deepEqual(unset.json(), { name: 'a', tags: ['t1'] });
  });

  it('n that is not a non-negative integer is a 400 PAGINATION_NUMBER_INVALID', async () => {
    const { app } = newApp();
    await tagAll(app, 'a', ['t1']);
    for (const n of ['-1', 'ten', '1.5', '1e3']) {
      const response = await app.inject({ method: 'GET', url: `/v2/a/tags/list?n=${n}` });
      assert.equal(response.statusCode, 400, n);
      assert.equal(errorCode(response), 'PAGINATION_NUMBER_INVALID', n);
    }
  });

  it('an unknown repository is a 404 NAME_UNKNOWN', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/never/pushed/tags/list' });
    assert.equal(response.statusCode, 404);
    assert.equal(errorCode(response), 'NAME_UNKNOWN');
  });

  it('an invalid repository name is a 400 NAME_INVALID', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/a//b/tags/list' });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'NAME_INVALID');
  });

  it('a deleted tag disappears from the list', async () => {
    const { app } = newApp();
    await tagAll(app, 'a', ['keep', 'drop']);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v2/a/manifests/drop' })).statusCode, 202);
    const response = await app.inject({ method: 'GET', url: '/v2/a/tags/list' });
    assert.deepEqual(response.json().tags, ['keep']);
  });
});
