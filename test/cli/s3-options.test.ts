/** `storage.s3` as a registry:2 user writes it, through the config loader, to the S3 driver's options. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { s3DriverOptions } from '../../src/cli/s3-options.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { testBucket, type TestBucket } from '../helpers/s3.js';
import { stringify } from 'yaml';

const BERTH = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));

function optionsOf(s3Yaml: string, extra = '') {
  const { config } = loadConfig({ yamlText: `version: 0.1\nstorage:\n  s3:\n${s3Yaml}${extra}`, env: {} });
  return s3DriverOptions(config.storage);
}

function problems(s3Yaml: string): readonly string[] {
  try {
    loadConfig({ yamlText: `version: 0.1\nstorage:\n  s3:\n${s3Yaml}`, env: {} });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

describe('storage.s3 options', () => {
  it("takes Distribution's defaults for the keys a registry:2 config leaves out", () => {
    const options = optionsOf('    region: eu-west-1\n    bucket: images\n');
    assert.equal(options.chunkSize, 10 * 1024 * 1024);
    assert.equal(options.multipartCopyChunkSize, 32 * 1024 * 1024);
    assert.equal(options.multipartCopyThresholdSize, 32 * 1024 * 1024);
    assert.equal(options.multipartCopyMaxConcurrency, 100);
    assert.equal(options.secure, true);
    assert.equal(options.storageClass, 'STANDARD');
    assert.equal(options.objectAcl, 'private');
    assert.equal(options.rootDirectory, '');
    assert.equal(options.checksums, 'when_required');
    assert.equal(options.redirectExpirySeconds, 1200);
    assert.equal(options.accessKey, undefined);
  });

  it('reads an S3-compatible store: endpoint, path style, keys, storage class NONE, no redirects', () => {
    const options = optionsOf(
      '    regionendpoint: http://ceph:7480\n    forcepathstyle: true\n    bucket: images\n    accesskey: ak\n    secretkey: sk\n' +
        '    storageclass: NONE\n    encrypt: "true"\n    keyid: key-1\n    chunksize: 5242880\n    checksums: when_supported\n',
      '  redirect:\n    disable: true\n',
    );
    assert.equal(options.endpoint, 'http://ceph:7480');
    assert.equal(options.region, 'us-east-1');
    assert.equal(options.forcePathStyle, true);
    assert.equal(options.accessKey, 'ak');
    assert.equal(options.secretKey, 'sk');
    assert.equal(options.storageClass, undefined);
    assert.equal(options.encrypt, true);
    assert.equal(options.keyId, 'key-1');
    assert.equal(options.chunkSize, 5 * 1024 * 1024);
    assert.equal(options.checksums, 'when_supported');
    assert.equal(options.redirectExpirySeconds, 0);
  });

  it('refuses what the driver cannot honour, naming the key', () => {
    assert.deepEqual(problems('    region: r\n    bucket: b\n    v4auth: false\n'), [
      'storage.s3.v4auth: false is not supported: Berth signs requests with Signature Version 4 only',
    ]);
    assert.match(problems('    region: r\n    bucket: b\n    chunksize: 1048576\n').join(), /^storage\.s3\.chunksize: must be at least 5242880/);
    assert.match(problems('    region: r\n    bucket: b\n    checksums: always\n').join(), /^storage\.s3\.checksums: /);
    assert.match(problems('    region: r\n').join(), /^storage\.s3\.bucket: required/);
    assert.throws(() => optionsOf('    bucket: b\n'), /storage\.s3\.region: required unless storage\.s3\.regionendpoint is set/);
    assert.throws(() => optionsOf('    region: r\n    bucket: b\n    accesskey: ak\n'), /accesskey and secretkey go together/);
  });
});

describe('berth serve on S3', () => {
  let bucket: TestBucket;
  let dir: string;
  before(async () => {
    bucket = await testBucket();
    dir = await mkdtemp(join(tmpdir(), 'berth-cli-s3-'));
  });
  after(async () => {
    await bucket.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('stops at start-up, saying why, when the bucket does not exist or the keys are wrong', async () => {
    for (const [s3, why] of [
      [bucket.config({ bucket: `${bucket.bucket}-missing` }), /storage s3 is not usable: S3 NoSuchBucket \(HTTP 404\)/],
      [bucket.config({ secretkey: 'wrong' }), /storage s3 is not usable: S3 SignatureDoesNotMatch \(HTTP 403\)/],
    ] as const) {
      const path = join(dir, 'config.yml');
      await writeFile(path, stringify({ version: 0.1, http: { addr: '127.0.0.1:0' }, storage: { s3 } }));
      const result = spawnSync(process.execPath, [BERTH, 'serve', path], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, why);
    }
  });
});
