import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { run } from './clients.js';
import { layoutEntry, makeArtifact, makeImage, makeIndex, MEDIA_TYPES, readBlob, sha256 } from './oci-layout.js';

describe('test image layouts', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-layout-test-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('makeImage writes gzip tar layers that GNU tar reads, with diff_ids of the uncompressed tars', async () => {
    const image = await makeImage({ dir, tag: 'v1', layers: [{ bytes: 'hello\n', fileName: 'hello.txt' }, { size: 3000 }] });
    const config = JSON.parse(image.configBytes.toString()) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, image.diffIds);
    for (const [i, layer] of image.layers.entries()) {
      const blob = await readBlob(dir, layer.digest);
      assert.equal(sha256(blob), layer.digest);
      assert.equal(blob.length, layer.size);
      assert.equal(sha256(gunzipSync(blob)), image.diffIds[i]);
    }
    const first = path.join(dir, 'blobs', 'sha256', image.layers[0]!.digest.slice('sha256:'.length));
    assert.equal((await run('tar', ['-xzOf', first, 'hello.txt'])).stdout, 'hello\n');
    const listing = await run('tar', ['-tvzf', path.join(dir, 'blobs', 'sha256', image.layers[1]!.digest.slice(7))]);
    assert.match(listing.stdout, /^-rw-r--r-- root\/root\s+3000 /);
  });

  test('images made with the same seed are identical and different seeds differ', async () => {
    const a = await makeImage({ dir, tag: 'a', seed: 's', layers: [{ size: 10_000 }] });
    const b = await makeImage({ dir, tag: 'b', seed: 's', layers: [{ size: 10_000 }] });
    const c = await makeImage({ dir, tag: 'c', seed: 't', layers: [{ size: 10_000 }] });
    assert.equal(a.manifest.digest, b.manifest.digest);
    assert.notEqual(a.layers[0]!.digest, c.layers[0]!.digest);
  });

  test('index.json tags each image once, replacing a retagged one', async () => {
    await makeImage({ dir, tag: 'same', layers: [{ bytes: 'one' }] });
    const second = await makeImage({ dir, tag: 'same', layers: [{ bytes: 'two' }] });
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as {
      manifests: { annotations: Record<string, string> }[];
    };
    const tagged = index.manifests.filter((entry) => entry.annotations['org.opencontainers.image.ref.name'] === 'same');
    assert.equal(tagged.length, 1);
    assert.equal((await layoutEntry(dir, 'same')).digest, second.manifest.digest);
  });

  test('makeIndex lists one manifest per platform', async () => {
    const built = await makeIndex({
      dir,
      tag: 'multi',
      images: [
        { platform: { os: 'linux', architecture: 'amd64' }, layers: [{ size: 100 }] },
        { platform: { os: 'linux', architecture: 'arm64' }, layers: [{ size: 100 }] },
      ],
    });
    const index = JSON.parse((await readBlob(dir, built.index.digest)).toString()) as {
      mediaType: string;
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    assert.equal(index.mediaType, MEDIA_TYPES.ociIndex);
    assert.deepEqual(index.manifests.map((entry) => entry.platform.architecture), ['amd64', 'arm64']);
    assert.notEqual(index.manifests[0]!.digest, index.manifests[1]!.digest);
  });

  test('makeArtifact refers to its subject over the empty config', async () => {
    const subject = await makeImage({ dir, tag: 'subject', layers: [{ bytes: 'x' }] });
    const artifact = await makeArtifact({ subject: subject.manifest, artifactType: 'application/x.test', payload: 'p' });
    const manifest = JSON.parse(artifact.manifestBytes.toString()) as {
      artifactType: string;
      config: { mediaType: string; digest: string };
      subject: { digest: string; size: number };
    };
    assert.equal(manifest.artifactType, 'application/x.test');
    assert.equal(manifest.config.mediaType, MEDIA_TYPES.ociEmpty);
    assert.equal(manifest.config.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    assert.deepEqual(manifest.subject, { mediaType: MEDIA_TYPES.ociManifest, digest: subject.manifest.digest, size: subject.manifest.size });
    assert.equal(artifact.manifest.digest, sha256(artifact.manifestBytes));
  });
});
