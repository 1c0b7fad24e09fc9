import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ERROR_CODES, HttpError, toErrorResponse } from '../../src/http/errcode.js';
import { BlobUnknownError, RangeInvalidError, type ErrorCode } from '../../src/oci/errors.js';

describe('errcode', () => {
  it('every wire code in the table is documented in docs/errors.md with its status', async () => {
    const doc = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, { status, message }] of Object.entries(ERROR_CODES)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `${code} is missing from docs/errors.md`);
      assert.ok(row.includes(`| ${status} |`), `${code}'s status ${status} is not in its docs row`);
      assert.ok(row.includes(message), `${code}'s message is not in its docs row`);
    }
  });

  it('uses the statuses Distribution answers with', () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      BLOB_UNKNOWN: 404,
      BLOB_UPLOAD_UNKNOWN: 404,
      DIGEST_INVALID: 400,
      MANIFEST_BLOB_UNKNOWN: 400,
      MANIFEST_UNKNOWN: 404,
      NAME_INVALID: 400,
      NAME_UNKNOWN: 404,
      UNAUTHORIZED: 401,
      DENIED: 403,
      UNSUPPORTED: 405,
      TOOMANYREQUESTS: 429,
      RANGE_INVALID: 416,
      UNAVAILABLE: 503,
      UNKNOWN: 500,
    };
    for (const [code, status] of Object.entries(expected)) assert.equal(ERROR_CODES[code as ErrorCode].status, status, code);
  });

  it('maps a domain error to its code, the table message, its detail and its headers', () => {
    const response = toErrorResponse(new RangeInvalidError('chunk out of order', 10).withHeader('Range', '0-9'));
    assert.equal(response.status, 416);
    assert.deepEqual(response.headers, { Range: '0-9' });
    assert.deepEqual(response.body, {
      errors: [{ code: 'RANGE_INVALID', message: 'invalid content range', detail: { reason: 'chunk out of order', size: 10 } }],
    });
    assert.equal(response.unexpected, undefined);
  });

  it('lets an HttpError override the status of its code', () => {
    const response = toErrorResponse(new HttpError(413, 'MANIFEST_INVALID', 'manifest too big'));
    assert.equal(response.status, 413);
    assert.equal(response.body.errors[0]!.code, 'MANIFEST_INVALID');
  });

  it('turns an unknown error into UNKNOWN/500 without its message or stack, keeping the cause for the log', () => {
    const cause = new Error('EACCES: /var/lib/registry/secret');
    const response = toErrorResponse(cause);
    assert.equal(response.status, 500);
    assert.deepEqual(response.body, { errors: [{ code: 'UNKNOWN', message: 'unknown error' }] });
    assert.equal(response.unexpected, cause);
    assert.doesNotMatch(JSON.stringify(response.body), /secret|EACCES/);
  });

  it('maps a badly encoded URL from the router to a 400, not a 500', () => {
    const response = toErrorResponse(Object.assign(new Error('bad url'), { code: 'FST_ERR_BAD_URL', statusCode: 400 }));
    assert.equal(response.status, 400);
    assert.equal(response.body.errors[0]!.code, 'NAME_INVALID');
  });

  it('does not share header objects between answers to the same error', () => {
    const err = new BlobUnknownError('sha256:x').withHeader('X-A', '1');
    toErrorResponse(err).headers['X-B'] = '2';
    assert.deepEqual(toErrorResponse(err).headers, { 'X-A': '1' });
  });
});
