import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NameInvalidError, TagInvalidError, DigestInvalidError } from '../../src/oci/errors.js';
import { isTagSyntax, parseReference, validateRepositoryName, validateTag } from '../../src/oci/reference.js';

const SHA256 = `sha256:${'a'.repeat(64)}`;

describe('validateRepositoryName', () => {
  const valid = [
    'a',
    'library/ubuntu',
    'a/b/c/d/e',
    'my.app',
    'my_app',
    'my__app',
    'my-app',
    'my---app',
    'a1/b-2.c_3__d',
    '0',
    'x'.repeat(255),
    `${'a'.repeat(127)}/${'b'.repeat(127)}`,
  ];
  for (const name of valid) {
    it(`accepts ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name)}`, () => {
      validateRepositoryName(name);
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['Library/ubuntu', /must be lowercase \(found "L"\)/],
    ['ubuntU', /must be lowercase/],
    ['a//b', /must not contain "\/\/"/],
    ['/a', /must not start with "\/"/],
    ['a/', /must not end with "\/"/],
    ['-a', /"-a" must start with a lowercase letter or digit/],
    ['a/.b', /".b" must start with/],
    ['_a', /must start with/],
    ['a-', /"a-" must end with a lowercase letter or digit/],
    ['a___b', /separator "___" in "a___b" is not allowed/],
    ['a..b', /separator "\.\."/],
    ['a._b', /separator "\._"/],
    ['a-_b', /separator "-_"/],
    ['a b', /character " " is not allowed/],
    ['a:b', /character ":" is not allowed/],
    ['a@sha', /character "@" is not allowed/],
    ['x'.repeat(256), /must not be more than 255 characters \(it has 256\)/],
    [`${'a'.repeat(128)}/${'b'.repeat(127)}`, /must not be more than 255 characters/],
  ];
  for (const [name, reason] of invalid) {
    it(`refuses ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name)} with NAME_INVALID`, () => {
      assert.throws(
        () => validateRepositoryName(name),
        (error: unknown) => {
          assert.ok(error instanceof NameInvalidError);
          assert.equal(error.code, 'NAME_INVALID');
          assert.match((error.detail as { reason: string }).reason, reason);
          assert.deepEqual((error.detail as { name: string }).name, name);
          return true;
        },
      );
    });
  }
});

describe('validateTag', () => {
  for (const tag of ['latest', 'v1.2.3', '_x', '1', 'A-b_c.D', 'a'.repeat(128), 'sha256-abc.sig']) {
    it(`accepts ${JSON.stringify(tag.length > 40 ? `${tag.length} chars` : tag)}`, () => {
      validateTag(tag);
      assert.equal(isTagSyntax(tag), true);
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['a'.repeat(129), /at most 128 characters \(it has 129\)/],
    ['.hidden', /must start with a letter, digit or "_"/],
    ['-x', /must start with a letter, digit or "_"/],
    ['a/b', /character "\/" is not allowed/],
    ['a:b', /character ":" is not allowed/],
    ['tag+1', /character "\+" is not allowed/],
    ['é', /character "é" is not allowed/],
  ];
  for (const [tag, reason] of invalid) {
    it(`refuses ${JSON.stringify(tag.length > 40 ? `${tag.length} chars` : tag)} with TAG_INVALID`, () => {
      assert.equal(isTagSyntax(tag), false);
      assert.throws(
        () => validateTag(tag),
        (error: unknown) => {
          assert.ok(error instanceof TagInvalidError);
          assert.equal(error.code, 'TAG_INVALID');
          assert.match((error.detail as { reason: string }).reason, reason);
          return true;
        },
      );
    });
  }
});

describe('parseReference', () => {
  it('reads a tag', () => {
    assert.deepEqual(parseReference('v1.0'), { kind: 'tag', tag: 'v1.0' });
  });

  it('reads a digest', () => {
    assert.deepEqual(parseReference(SHA256), { kind: 'digest', digest: SHA256 });
  });

  it('treats anything with ":" as a digest and refuses a malformed one with DIGEST_INVALID', () => {
    for (const ref of ['sha256:xyz', 'latest:1', `md5:${'a'.repeat(32)}`, `sha256:${'A'.repeat(64)}`]) {
      assert.throws(() => parseReference(ref), DigestInvalidError, ref);
    }
  });

  it('refuses an invalid tag with TAG_INVALID', () => {
    assert.throws(() => parseReference('.bad'), TagInvalidError);
    assert.throws(() => parseReference(''), TagInvalidError);
  });
});
