/**
 * Berth as a pull-through cache of real upstream registries on loopback: Debian's docker-registry
 * (Distribution 2.8, with and without htpasswd) and a second Berth, pulled through with skopeo and podman.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newPodman, requireCommand, run, skopeo, type Podman } from '../helpers/clients.js';
import { layoutEntry, makeImage, readBlob, sha256 } from '../helpers/oci-layout.js';
import { putBlobStream, startUpload } from '../helpers/registry-api.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { pseudoRandomBytes } from '../helpers/tar.js';

const MiB = 1 << 20;

async function pullWithSkopeo(reference: string, out: string, layers: { digest: string }[], configDigest: string): Promise<void> {
  await skopeo(['copy', '--src-tls-verify=false', `docker://${reference}`, `oci:${out}:v1`]);
  for (const layer of layers) assert.equal(sha256(await readBlob(out, layer.digest)), layer.digest);
  assert.equal(sha256(await readBlob(out, configDigest)), configDigest);
}

/** An htpasswd file with one bcrypt account, as Distribution's `auth.htpasswd` and Berth's token service read. */
async function writeHtpasswd(file: string, user: string, password: string): Promise<string> {
  requireCommand('htpasswd', 'apache2-utils');
  await writeFile(file, (await run('htpasswd', ['-Bbn', user, password])).stdout);
  return file;
}

describe('pull-through cache of Distribution with htpasswd (registry:2 proxy config)', () => {
  let work: string;
  let upstream: RunningRegistry;
  let cache: RunningRegistry;
  const password = `pw-${randomUUID()}`;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-proxy-'));
    const htpasswdFile = await writeHtpasswd(path.join(work, 'htpasswd'), 'mirror', password);
    upstream = await startRegistry({ kind: 'distribution', config: { auth: { htpasswd: { realm: 'upstream', path: htpasswdFile } } } });
    cache = await startRegistry({ kind: 'berth', config: { proxy: { remoteurl: upstream.url, username: 'mirror', password } } });
  });
  after(async () => {
    await cache?.stop();
    await upstream?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('the first pull fetches from upstream, the second is served with the upstream stopped', async () => {
    const layout = path.join(work, 'layout');
    const image = await makeImage({ dir: layout, tag: 'app', layers: [{ size: 2 * MiB }, { bytes: 'config file\n' }] });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `mirror:${password}`, `oci:${layout}:app`, `docker://${upstream.host}/team/app:v1`]);

    await pullWithSkopeo(`${cache.host}/team/app:v1`, path.join(work, 'first'), image.layers, image.config.digest);
    assert.equal((await layoutEntry(path.join(work, 'first'), 'v1')).digest, image.manifest.digest);

    await upstream.stop();
    await pullWithSkopeo(`${cache.host}/team/app:v1`, path.join(work, 'second'), image.layers, image.config.digest);
    assert.equal((await layoutEntry(path.join(work, 'second'), 'v1')).digest, image.manifest.digest);

    const stale = await fetch(`${cache.url}/v2/team/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(stale.status, 200);
    assert.match(stale.headers.get('warning') ?? '', /^110 - "Response is Stale: upstream 127\.0\.0\.1:\d+: unreachable/);
    const missing = await fetch(`${cache.url}/v2/team/never-pulled/manifests/v1`);
    assert.equal(missing.status, 503);
    assert.match(await missing.text(), /upstream 127\.0\.0\.1:\d+: unreachable \(ECONNREFUSED\)/);
    const push = await fetch(`${cache.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(push.status, 405);

    assert.match(cache.logs(), /serving cached tag/);
    assert.equal(cache.logs().includes(password), false, 'the upstream password must never be logged');
  });
});

describe('pull-through cache of a Berth upstream secured by its own token service', () => {
  let work: string;
  let upstream: RunningRegistry;
  let cache: RunningRegistry;
  const password = `pw-${randomUUID()}`;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-proxy-token-'));
    const accounts = await writeHtpasswd(path.join(work, 'accounts'), 'mirror', password);
    upstream = await startRegistry({
      kind: 'berth',
      config: {
        auth: {
          token: {
            realm: '/auth/token',
            service: 'upstream',
            issuer: 'upstream',
            builtin: {
              signingkey: path.join(work, 'token-key.pem'),
              accounts,
              access: [{ accounts: ['mirror'], repositories: ['team/**'], actions: ['pull', 'push'] }],
            },
          },
        },
      },
    });
    cache = await startRegistry({ kind: 'berth', config: { proxy: { remoteurl: upstream.url, username: 'mirror', password } } });
  });
  after(async () => {
    await cache?.stop();
    await upstream?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('pulls through the Bearer token flow, then serves the cached image with the upstream stopped', async () => {
    const layout = path.join(work, 'layout');
    const image = await makeImage({ dir: layout, tag: 'app', layers: [{ size: MiB }] });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `mirror:${password}`, `oci:${layout}:app`, `docker://${upstream.host}/team/app:v1`]);
    const anonymous = await fetch(`${upstream.url}/v2/team/app/manifests/v1`);
    assert.equal(anonymous.status, 401, 'the upstream really demands a token');

    await pullWithSkopeo(`${cache.host}/team/app:v1`, path.join(work, 'first'), image.layers, image.config.digest);
    await upstream.stop();
    await pullWithSkopeo(`${cache.host}/team/app:v1`, path.join(work, 'second'), image.layers, image.config.digest);
    assert.equal((await layoutEntry(path.join(work, 'second'), 'v1')).digest, image.manifest.digest);
    assert.equal(cache.logs().includes(password), false, 'the upstream password must never be logged');
  });
});

describe('pull-through cache of several upstreams: Distribution and Berth', () => {
  let work: string;
  let distribution: RunningRegistry;
  let berth: RunningRegistry;
  let cache: RunningRegistry;
  let podman: Podman;

  before(async () => {
    work = path.join(os.tmpdir(), `berth-e2e-proxy-many-${randomUUID()}`);
    await mkdir(work);
    podman = await newPodman();
    [distribution, berth] = await Promise.all([startRegistry({ kind: 'distribution' }), startRegistry({ kind: 'berth' })]);
    cache = await startRegistry({
      kind: 'berth',
      config: {
        proxy: {
          upstreams: [
            { name: 'dist', remoteurl: distribution.url },
            { name: 'berth', prefix: 'mirrors/berth', remoteurl: berth.url },
          ],
        },
      },
    });
  });
  after(async () => {
    await cache?.stop();
    await Promise.all([distribution?.stop(), berth?.stop()]);
    await podman?.dispose();
    await rm(work, { recursive: true, force: true });
  });

  test('20 concurrent pulls of a large uncached blob cause one upstream GET and all get identical verified bytes', async () => {
    const size = 48 * MiB + 123;
    const hash = createHash('sha256');
    for await (const chunk of pseudoRandomBytes('proxy-big', size)) hash.update(chunk);
    const digest = `sha256:${hash.digest('hex')}`;
    const status = await putBlobStream(await startUpload(distribution.url, 'data/big'), distribution.url, digest, size, pseudoRandomBytes('proxy-big', size));
    assert.equal(status, 201);

    const pull = async (): Promise<string> => {
      const response = await fetch(`${cache.url}/v2/dist/data/big/blobs/${digest}`);
      assert.equal(response.status, 200);
      const received = createHash('sha256');
      let count = 0;
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        received.update(chunk);
        count += chunk.length;
      }
      assert.equal(count, size);
      return `sha256:${received.digest('hex')}`;
    };
    const digests = await Promise.all(Array.from({ length: 20 }, pull));
    assert.deepEqual(new Set(digests), new Set([digest]));

    const gets = distribution.logs().split('\n').filter((line) => line.includes(`"GET /v2/data/big/blobs/${digest} HTTP`));
    assert.equal(gets.length, 1, `upstream GETs of the blob:\n${gets.join('\n')}`);
  });

  test('podman pulls through both upstreams by prefix, beside an ordinary repository', async () => {
    const layout = path.join(work, 'layout');
    const fromDist = await makeImage({ dir: layout, tag: 'one', layers: [{ size: 500_000 }], seed: 'one' });
    const fromBerth = await makeImage({ dir: layout, tag: 'two', layers: [{ size: 300_000 }], seed: 'two' });
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:one`, `docker://${distribution.host}/tools/one:v1`]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:two`, `docker://${berth.host}/tools/two:v1`]);
    // An ordinary repository in the same Berth takes pushes as usual.
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:two`, `docker://${cache.host}/local/two:v1`]);

    const id = (image: { config: { digest: string } }) => image.config.digest.slice('sha256:'.length);
    assert.equal((await podman.run(['pull', '-q', '--tls-verify=false', `${cache.host}/dist/tools/one:v1`])).trim(), id(fromDist));
    assert.equal((await podman.run(['pull', '-q', '--tls-verify=false', `${cache.host}/mirrors/berth/tools/two:v1`])).trim(), id(fromBerth));
    assert.equal((await podman.run(['pull', '-q', '--tls-verify=false', `${cache.host}/local/two:v1`])).trim(), id(fromBerth));

    // containerd's mirror form: the upstream's own name, and the registry it is meant for in ?ns=.
    const mirrored = await fetch(`${cache.url}/v2/tools/two/manifests/v1?ns=${berth.host}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(mirrored.status, 200);
    assert.equal(mirrored.headers.get('docker-content-digest'), fromBerth.manifest.digest);
  });
});
