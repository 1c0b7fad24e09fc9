import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseContentRange, resolveRange, uploadRange } from '../../src/http/range.js';

describe('resolveRange', () => {
  it('resolves closed, open and suffix ranges against the size', () => {
    assert.deepEqual(resolveRange('bytes=2-5', 10), { start: 2, end: 5 });
    assert.deepEqual(resolveRange('bytes=2-', 10), { start: 2, end: 9 });
    assert.deepEqual(resolveRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(resolveRange('bytes=-30', 10), { start: 0, end: 9 });
    assert.deepEqual(resolveRange('bytes=5-100', 10), { start: 5, end: 9 });
  });

  it('reports a range wholly past the end as unsatisfiable', () => {
    assert.equal(resolveRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(resolveRange('bytes=-0', 10), 'unsatisfiable');
  });

  it('ignores ranges it cannot serve as one part, so the whole blob is sent', () => {
    assert.equal(resolveRange(undefined, 10), undefined);
    assert.equal(resolveRange('bytes=0-1,4-5', 10), undefined);
    assert.equal(resolveRange('items=0-1', 10), undefined);
    assert.equal(resolveRange('bytes=5-2', 10), undefined);
  });
});

describe('parseContentRange', () => {
  it('reads the bare form of the distribution spec and the RFC forms', () => {
    assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
    assert.deepEqual(parseContentRange('bytes=100-199'), { start: 100, end: 199 });
    assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
    assert.deepEqual(parseContentRange('bytes 100-199/500'), { start: 100, end: 199 });
  });

  it('rejects backwards and unreadable ranges', () => {
    assert.equal(parseContentRange('9-3'), undefined);
    assert.equal(parseContentRange('abc'), undefined);
    assert.equal(parseContentRange('-5'), undefined);
  });
});

describe('uploadRange', () => {
  it('names the last byte received, and 0-0 for an empty upload', () => {
    assert.equal(uploadRange(0), '0-0');
    assert.equal(uploadRange(10), '0-9');
  });
});
