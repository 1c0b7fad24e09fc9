import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRoute } from '../../src/http/route.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);

describe('parseRoute', () => {
  it('reads the base and catalog endpoints', () => {
    assert.deepEqual(parseRoute(''), { kind: 'base' });
    assert.deepEqual(parseRoute('_catalog'), { kind: 'catalog' });
  });

  it('keeps the slashes of a nested repository name', () => {
    assert.deepEqual(parseRoute('a/b/c/tags/list'), { kind: 'tags', name: 'a/b/c' });
    assert.deepEqual(parseRoute('a/b/manifests/latest'), { kind: 'manifest', name: 'a/b', reference: 'latest' });
    assert.deepEqual(parseRoute(`a/b/blobs/${DIGEST}`), { kind: 'blob', name: 'a/b', digest: DIGEST });
    assert.deepEqual(parseRoute(`a/b/referrers/${DIGEST}`), { kind: 'referrers', name: 'a/b', digest: DIGEST });
  });

  it('reads uploads with and without the trailing slash, and an upload id', () => {
    assert.deepEqual(parseRoute('a/blobs/uploads/'), { kind: 'uploads', name: 'a' });
    assert.deepEqual(parseRoute('a/blobs/uploads'), { kind: 'uploads', name: 'a' });
    assert.deepEqual(parseRoute('a/blobs/uploads/abc-123'), { kind: 'upload', name: 'a', id: 'abc-123' });
  });

  it('parses from the right, so resource words may appear inside the name', () => {
    assert.deepEqual(parseRoute('x/blobs/uploads/manifests/v1'), {
      kind: 'manifest',
      name: 'x/blobs/uploads',
      reference: 'v1',
    });
    assert.deepEqual(parseRoute('tags/list/tags/list'), { kind: 'tags', name: 'tags/list' });
  });

  it('names no resource for a path without a name or a resource suffix', () => {
    assert.equal(parseRoute('library/alpine'), undefined);
    assert.equal(parseRoute('manifests/latest'), undefined);
    assert.equal(parseRoute('blobs/uploads/'), undefined);
    assert.equal(parseRoute('a/manifests/'), undefined);
  });
});
