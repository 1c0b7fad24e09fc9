import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Digester } from '../../src/oci/digest.js';
import { requireCommand, skopeo } from '../helpers/clients.js';
import { makeImage, makeIndex, MEDIA_TYPES, sha256 } from '../helpers/oci-layout.js';
import { getManifest } from '../helpers/registry-api.js';
import { startRegistry, type RunningRegistry, type ServerKind } from '../helpers/registry-process.js';
import { e2eServers } from '../helpers/servers.js';

/** What the writer left in the storage root, to be found again by the reader. */
interface Written {
  manifests: { repo: string; tags: string[]; digest: string; bytes: string; all: boolean }[];
  deleted: { repo: string; tag: string; digest: string };
}

async function writeContent(registry: RunningRegistry, layout: string): Promise<Written> {
  const copy = (args: string[]) => skopeo(['copy', '--dest-tls-verify=false', ...args]);
  const to = (reference: string) => `docker://${registry.host}/${reference}`;

  const single = await makeImage({ dir: layout, tag: 'single', layers: [{ size: 300_000 }, { bytes: 'etc\n' }] });
  await copy([`oci:${layout}:single`, to('compat/single:v1')]);
  await copy([`oci:${layout}:single`, to('compat/single:latest')]);

  const docker = await makeImage({ dir: layout, tag: 'docker', layers: [{ size: 150_000 }] });
  await copy(['--format', 'v2s2', `oci:${layout}:docker`, to('compat/docker:v1')]);
  const dockerManifest = await getManifest(registry.url, 'compat/docker', 'v1');
  assert.notEqual(docker.manifest.digest, dockerManifest.digest);

  const multi = await makeIndex({
    dir: layout,
    tag: 'multi',
    images: [
      { platform: { os: 'linux', architecture: 'amd64' }, layers: [{ size: 80_000 }] },
      { platform: { os: 'linux', architecture: 'arm64' }, layers: [{ size: 90_000 }] },
    ],
  });
  await copy(['--all', `oci:${layout}:multi`, to('compat/multi:v1')]);

  const gone = await makeImage({ dir: layout, tag: 'gone', layers: [{ bytes: 'gone' }] });
  await copy([`oci:${layout}:gone`, to('compat/gone:v1')]);
  await skopeo(['delete', '--tls-verify=false', to('compat/gone:v1')]);

  return {
    manifests: [
      { repo: 'compat/single', tags: ['latest', 'v1'], digest: single.manifest.digest, bytes: single.manifestBytes.toString(), all: false },
      { repo: 'compat/docker', tags: ['v1'], digest: dockerManifest.digest!, bytes: dockerManifest.bytes.toString(), all: false },
      { repo: 'compat/multi', tags: ['v1'], digest: multi.index.digest, bytes: multi.indexBytes.toString(), all: true },
    ],
    deleted: { repo: 'compat/gone', tag: 'v1', digest: gone.manifest.digest },
  };
}

async function readBack(registry: RunningRegistry, written: Written, work: string): Promise<void> {
  const catalog = (await (await fetch(`${registry.url}/v2/_catalog`)).json()) as { repositories: string[] };
  for (const { repo } of written.manifests) assert.ok(catalog.repositories.includes(repo), `${repo} in the catalog`);

  for (const { repo, tags, digest, bytes, all } of written.manifests) {
    const listed = (await (await fetch(`${registry.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual([...listed.tags].sort(), tags);
    for (const tag of tags) {
      const served = await getManifest(registry.url, repo, tag);
      assert.equal(served.bytes.toString(), bytes);
      assert.equal(served.digest, digest);
    }
    // skopeo verifies every blob against its digest on the way out; the dir: transport keeps the manifest
    // exactly as served (an OCI layout would convert the Docker one).
    const out = path.join(work, `out-${repo.replace('/', '-')}`);
    await skopeo([
      'copy', '--src-tls-verify=false', ...(all ? ['--all'] : []),
      `docker://${registry.host}/${repo}@${digest}`, `dir:${out}`,
    ]);
    assert.equal(sha256(await readFile(path.join(out, 'manifest.json'))), digest);
  }

  const { repo, tag, digest } = written.deleted;
  assert.equal((await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD' })).status, 404);
  const byDigest = await fetch(`${registry.url}/v2/${repo}/manifests/${digest}`, {
    method: 'HEAD',
    headers: { accept: MEDIA_TYPES.ociManifest },
  });
  assert.equal(byDigest.status, 404);

  // The reader also writes into the writer's layout: a new tag in an existing repository.
  await skopeo([
    'copy', '--src-tls-verify=false', '--dest-tls-verify=false',
    `docker://${registry.host}/compat/single:v1`, `docker://${registry.host}/compat/single:v2`,
  ]);
  assert.equal((await getManifest(registry.url, 'compat/single', 'v2')).digest, written.manifests[0]!.digest);
}

const needsBerth = e2eServers().includes('berth') ? false : 'needs Berth: set E2E_SERVERS to include berth';

describe('on-disk layout compatibility between Berth and Distribution', { skip: needsBerth }, () => {
  const directions: [ServerKind, ServerKind][] = [
    ['distribution', 'berth'],
    ['berth', 'distribution'],
  ];
  for (const [writer, reader] of directions) {
    test(`what ${writer} stored, ${reader} serves back with identical digests`, async () => {
      requireCommand('skopeo', 'skopeo');
      requireCommand('docker-registry', 'docker-registry');
      const work = await mkdtemp(path.join(os.tmpdir(), `berth-e2e-compat-${writer}-`));
      const rootDirectory = path.join(work, 'root');
      const running: RunningRegistry[] = [];
      try {
        const first = await startRegistry({ kind: writer, rootDirectory });
        running.push(first);
        const written = await writeContent(first, path.join(work, 'layout'));
        await first.stop();

        const second = await startRegistry({ kind: reader, rootDirectory });
        running.push(second);
        await readBack(second, written, work);
      } finally {
        for (const registry of running) await registry.stop();
        await rm(work, { recursive: true, force: true });
      }
    });
  }

  // Only this way round: an upload's URL carries the state each registry signs with its own secret.
  test('an upload Distribution started, Berth continues from its saved hash state and completes', async () => {
    requireCommand('docker-registry', 'docker-registry');
    const work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-hashstate-'));
    const rootDirectory = path.join(work, 'root');
    const running: RunningRegistry[] = [];
    const parts = [randomBytes(300_001), randomBytes(200_003)];
    const whole = Buffer.concat(parts);
    try {
      const first = await startRegistry({ kind: 'distribution', rootDirectory });
      running.push(first);
      const post = await fetch(`${first.url}/v2/compat/chunked/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const patch = await fetch(new URL(post.headers.get('location')!, first.url), { method: 'PATCH', body: parts[0] });
      assert.equal(patch.status, 202);
      const location = new URL(patch.headers.get('location')!, first.url);
      const id = patch.headers.get('docker-upload-uuid')!;
      await first.stop();

      const states = path.join(rootDirectory, 'docker/registry/v2/repositories/compat/chunked/_uploads', id, 'hashstates/sha256');
      const expected = (bytes: Buffer) => {
        const digester = new Digester();
        digester.update(bytes);
        return digester.save()!;
      };
      // Berth writes the same state for the same bytes: Go's marshalled SHA-256.
      assert.deepEqual(await readFile(path.join(states, String(parts[0].length))), expected(parts[0]));

      const second = await startRegistry({ kind: 'berth', rootDirectory });
      running.push(second);
      const next = new URL(location.pathname + location.search, second.url);
      const continued = await fetch(next, { method: 'PATCH', body: parts[1], headers: { 'content-range': `${parts[0].length}-${whole.length - 1}` } });
      assert.equal(continued.status, 202, await continued.text());
      // A state over all the bytes means the hash went on from the saved one rather than starting over. Berth
      // saves its own beside Distribution's, followed by the boot id it is valid for (uploads.ts).
      const continuedState = await readFile(path.join(states, '../../berthhashstate.sha256'));
      assert.deepEqual(continuedState.subarray(0, expected(whole).length), expected(whole));
      const digest = sha256(whole);
      const done = new URL(continued.headers.get('location')!, second.url);
      done.searchParams.set('digest', digest);
      const put = await fetch(done, { method: 'PUT' });
      assert.equal(put.status, 201, await put.text());
      const blob = await fetch(`${second.url}/v2/compat/chunked/blobs/${digest}`);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(whole));
    } finally {
      for (const registry of running) await registry.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
