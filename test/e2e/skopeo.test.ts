import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireCommand, skopeo } from '../helpers/clients.js';
import { layoutEntry, makeImage, makeIndex, MEDIA_TYPES, readBlob, sha256 } from '../helpers/oci-layout.js';
import { getManifest, headBlobStatus } from '../helpers/registry-api.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { e2eServers } from '../helpers/servers.js';

const MiB = 1 << 20;

for (const kind of e2eServers()) {
  describe(`skopeo against ${kind}`, () => {
    let registry: RunningRegistry;
    let work: string;
    let layout: string;
    const push = (args: string[]) => skopeo(['copy', '--dest-tls-verify=false', ...args]);
    const raw = async (reference: string) =>
      skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/${reference}`]);

    before(async () => {
      requireCommand('skopeo', 'skopeo');
      work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-skopeo-'));
      layout = path.join(work, 'layout');
      registry = await startRegistry({ kind });
    });
    after(async () => {
      await registry?.stop();
      await rm(work, { recursive: true, force: true });
    });

    test('an OCI image copied in keeps its manifest bytes and copies back out with the same digests', async () => {
      const image = await makeImage({ dir: layout, tag: 'single', layers: [{ size: 300_000 }, { bytes: 'hello\n' }] });
      await push([`oci:${layout}:single`, `docker://${registry.host}/library/single:v1`]);

      assert.equal(await raw('library/single:v1'), image.manifestBytes.toString());
      const served = await getManifest(registry.url, 'library/single', 'v1');
      assert.equal(served.digest, image.manifest.digest);
      assert.equal(served.mediaType, MEDIA_TYPES.ociManifest);

      const out = path.join(work, 'single-out');
      await skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/library/single:v1`, `oci:${out}:v1`]);
      assert.equal((await layoutEntry(out, 'v1')).digest, image.manifest.digest);
      for (const layer of image.layers) {
        assert.equal(sha256(await readBlob(out, layer.digest)), layer.digest);
      }
      assert.deepEqual(await readBlob(out, image.config.digest), image.configBytes);
    });

    test('--format v2s2 stores a Docker schema 2 manifest over the same layers', async () => {
      const image = await makeImage({ dir: layout, tag: 'docker', layers: [{ size: 200_000 }] });
      await push(['--format', 'v2s2', `oci:${layout}:docker`, `docker://${registry.host}/dockerfmt:v1`]);

      const manifestText = await raw('dockerfmt:v1');
      const manifest = JSON.parse(manifestText) as {
        mediaType: string;
        config: { mediaType: string };
        layers: { mediaType: string; digest: string }[];
      };
      assert.equal(manifest.mediaType, MEDIA_TYPES.dockerManifest);
      assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
      assert.deepEqual(
        manifest.layers.map((layer) => [layer.mediaType, layer.digest]),
        image.layers.map((layer) => ['application/vnd.docker.image.rootfs.diff.tar.gzip', layer.digest]),
      );
      const served = await getManifest(registry.url, 'dockerfmt', 'v1');
      assert.equal(served.mediaType, MEDIA_TYPES.dockerManifest);
      assert.equal(served.digest, sha256(manifestText));
    });

    test('--all copies a two-platform index and every platform manifest unchanged', async () => {
      const built = await makeIndex({
        dir: layout,
        tag: 'multi',
        images: [
          { platform: { os: 'linux', architecture: 'amd64' }, layers: [{ size: 100_000 }] },
          { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [{ size: 120_000 }] },
        ],
      });
      await push(['--all', `oci:${layout}:multi`, `docker://${registry.host}/multi:v1`]);

      assert.equal(await raw('multi:v1'), built.indexBytes.toString());
      assert.equal((await getManifest(registry.url, 'multi', 'v1')).mediaType, MEDIA_TYPES.ociIndex);
      for (const image of built.images) {
        assert.equal(await raw(`multi@${image.manifest.digest}`), image.manifestBytes.toString());
        assert.equal(await headBlobStatus(registry.url, 'multi', image.layers[0]!.digest), 200);
      }
    });

    test('a layer over 100 MiB goes in and comes back out intact', async () => {
      const image = await makeImage({ dir: layout, tag: 'big', layers: [{ size: 101 * MiB }] });
      const layer = image.layers[0]!;
      assert.ok(layer.size > 100 * MiB);
      await push([`oci:${layout}:big`, `docker://${registry.host}/big:v1`]);

      const head = await fetch(`${registry.url}/v2/big/blobs/${layer.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(layer.size));
      const out = path.join(work, 'big-out');
      // skopeo checks every blob it reads against its digest, so a clean copy proves the bytes.
      await skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/big:v1`, `oci:${out}:v1`]);
      assert.equal((await layoutEntry(out, 'v1')).digest, image.manifest.digest);
      await rm(out, { recursive: true, force: true });
    });

    test('list-tags lists every tag pushed to a repository', async () => {
      await makeImage({ dir: layout, tag: 'tags', layers: [{ bytes: 'tags' }] });
      for (const tag of ['v1', 'v2', 'latest']) {
        await push([`oci:${layout}:tags`, `docker://${registry.host}/team/tags:${tag}`]);
      }
      const listed = JSON.parse(
        await skopeo(['list-tags', '--tls-verify=false', `docker://${registry.host}/team/tags`]),
      ) as { Repository: string; Tags: string[] };
      assert.equal(listed.Repository, `${registry.host}/team/tags`);
      assert.deepEqual([...listed.Tags].sort(), ['latest', 'v1', 'v2']);
    });

    test('delete removes the manifest so neither its tag nor its digest resolves', async () => {
      const image = await makeImage({ dir: layout, tag: 'doomed', layers: [{ bytes: 'doomed' }] });
      await push([`oci:${layout}:doomed`, `docker://${registry.host}/doomed:v1`]);
      await skopeo(['delete', '--tls-verify=false', `docker://${registry.host}/doomed:v1`]);

      const byTag = await fetch(`${registry.url}/v2/doomed/manifests/v1`, { method: 'HEAD' });
      assert.equal(byTag.status, 404);
      const byDigest = await fetch(`${registry.url}/v2/doomed/manifests/${image.manifest.digest}`, {
        headers: { accept: MEDIA_TYPES.ociManifest },
      });
      assert.equal(byDigest.status, 404);
      const body = (await byDigest.json()) as { errors: { code: string }[] };
      assert.equal(body.errors[0]?.code, 'MANIFEST_UNKNOWN');
    });

    test('a docker-to-docker copy between repositories mounts the blobs and keeps the manifest', async () => {
      const image = await makeImage({ dir: layout, tag: 'mount', layers: [{ size: 500_000 }] });
      await push([`oci:${layout}:mount`, `docker://${registry.host}/source/app:v1`]);
      await skopeo([
        'copy', '--src-tls-verify=false', '--dest-tls-verify=false',
        `docker://${registry.host}/source/app:v1`, `docker://${registry.host}/target/app:v1`,
      ]);

      assert.equal(await raw('target/app:v1'), image.manifestBytes.toString());
      assert.equal(await headBlobStatus(registry.url, 'target/app', image.layers[0]!.digest), 200);
      // The server's request log is the only outside view of whether skopeo mounted instead of re-uploading.
      const hex = image.layers[0]!.digest.slice('sha256:'.length);
      assert.match(registry.logs(), new RegExp(`mount=sha256(:|%3A)${hex}`, 'i'));
    });
  });
}
