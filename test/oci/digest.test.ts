import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  Digester,
  digestAlgorithm,
  digestHex,
  digestOf,
  isDigest,
  parseDigest,
  type Digest,
} from '../../src/oci/digest.js';
import { DigestInvalidError } from '../../src/oci/errors.js';

const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EMPTY_SHA512 =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

describe('parseDigest', () => {
  it('accepts sha256 and sha512 digests', () => {
    assert.equal(parseDigest(EMPTY_SHA256), EMPTY_SHA256);
    assert.equal(parseDigest(EMPTY_SHA512), EMPTY_SHA512);
  });

  const invalid: Array<[string, RegExp]> = [
    ['', /malformed digest/],
    ['sha256', /malformed digest/],
    [`sha256:${'a'.repeat(63)}`, /64 lowercase hex/],
    [`sha256:${'a'.repeat(65)}`, /64 lowercase hex/],
    [`sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    [`sha256:${'g'.repeat(64)}`, /64 lowercase hex/],
    [`sha512:${'a'.repeat(64)}`, /128 lowercase hex/],
    [`SHA256:${'a'.repeat(64)}`, /malformed digest/],
    [`md5:${'a'.repeat(32)}`, /unsupported digest algorithm: md5/],
    [`sha256+b64u:${'a'.repeat(43)}`, /unsupported digest algorithm/],
    [`${EMPTY_SHA256}\n`, /malformed digest/],
    [` ${EMPTY_SHA256}`, /malformed digest/],
    [`sha256:${'a'.repeat(32)}:${'a'.repeat(31)}`, /malformed digest/],
  ];
  for (const [value, reason] of invalid) {
    it(`refuses ${JSON.stringify(value.length > 30 ? `${value.slice(0, 20)}…` : value)} with DIGEST_INVALID`, () => {
      assert.throws(
        () => parseDigest(value),
        (error: unknown) => {
          assert.ok(error instanceof DigestInvalidError);
          assert.equal(error.code, 'DIGEST_INVALID');
          assert.match(error.message, reason);
          return true;
        },
      );
      assert.equal(isDigest(value), false);
    });
  }
});

describe('digest helpers', () => {
  it('split a digest into algorithm and hex', () => {
    const digest = parseDigest(EMPTY_SHA512);
    assert.equal(digestAlgorithm(digest), 'sha512');
    assert.equal(digestHex(digest), EMPTY_SHA512.slice('sha512:'.length));
  });

  it('digestOf hashes bytes with sha256 by default and sha512 on request', () => {
    assert.equal(digestOf(new Uint8Array()), EMPTY_SHA256);
    assert.equal(digestOf(new Uint8Array(), 'sha512'), EMPTY_SHA512);
    assert.equal(
      digestOf(new TextEncoder().encode('{}')),
      'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
  });
});

describe('Digester', () => {
  it('gives the same digest over chunks as over the whole, and counts the bytes', () => {
    const whole = new TextEncoder().encode('hello, registry');
    const digester = new Digester();
    digester.update(whole.subarray(0, 5));
    digester.update(whole.subarray(5));
    assert.equal(digester.size, whole.length);
    assert.equal(digester.digest(), digestOf(whole));
  });

  it('saves its SHA-256 state in Go\'s format and continues from it, at any cut', () => {
    const bytes = randomBytes(1000);
    for (const cut of [0, 1, 63, 64, 65, 128, 999]) {
      const first = new Digester();
      first.update(bytes.subarray(0, cut));
      const saved = first.save();
      assert.ok(saved, 'no saved state: is build/Release/berth_hash.node built?');
      assert.equal(saved.length, 108);
      assert.equal(saved.subarray(0, 4).toString('latin1'), 'sha\x03');
      assert.equal(saved.readBigUInt64BE(100), BigInt(cut));
      const resumed = Digester.restore(saved, cut);
      assert.ok(resumed, `cut ${cut}`);
      resumed.update(bytes.subarray(cut));
      assert.equal(resumed.size, bytes.length);
      assert.equal(resumed.digest(), digestOf(bytes), `cut ${cut}`);
    }
  });

  it('restores only a SHA-256 state of the expected length', () => {
    const digester = new Digester();
    digester.update(Buffer.from('twelve bytes'));
    const saved = digester.save()!;
    assert.equal(Digester.restore(saved, 11), undefined);
    assert.equal(Digester.restore(saved.subarray(1), 12), undefined);
    assert.equal(Digester.restore(Buffer.concat([Buffer.from('sha\x02'), saved.subarray(4)]), 12), undefined);
    assert.equal(new Digester('sha512').save(), undefined);
  });

  it('can report a digest mid-stream and keep hashing', () => {
    const digester = new Digester('sha512');
    const first: Digest = digester.digest();
    assert.equal(first, EMPTY_SHA512);
    digester.update(new TextEncoder().encode('more'));
    assert.equal(digester.digest(), digestOf(new TextEncoder().encode('more'), 'sha512'));
  });
});
