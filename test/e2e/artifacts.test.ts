import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireCommand, skopeo } from '../helpers/clients.js';
import { makeArtifact, makeImage, MEDIA_TYPES, sha256, type BuiltArtifact, type BuiltImage } from '../helpers/oci-layout.js';
import { getManifest, getReferrers, pushBlob, putManifest } from '../helpers/registry-api.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { e2eServers } from '../helpers/servers.js';

const SBOM = 'application/vnd.example.sbom.v1+json';
const SIGNATURE = 'application/vnd.example.signature.v1';
const REPO = 'apps/signed';

for (const kind of e2eServers()) {
  // Distribution 2.8.2 stores manifests with a subject but predates the referrers API.
  const referrersSkip = kind === 'berth' ? false : `${kind} has no referrers API`;

  describe(`artifacts with a subject against ${kind}`, () => {
    let registry: RunningRegistry;
    let work: string;
    let image: BuiltImage;
    let sbom: BuiltArtifact;
    let signature: BuiltArtifact;
    let signatureResponse: Response;

    before(async () => {
      requireCommand('skopeo', 'skopeo');
      work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-artifacts-'));
      registry = await startRegistry({ kind });
      const layout = path.join(work, 'layout');
      image = await makeImage({ dir: layout, tag: 'app', layers: [{ size: 50_000 }] });
      await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:app`, `docker://${registry.host}/${REPO}:v1`]);

      // One artifact goes in the way skopeo copies it (tagged), the other untagged by digest, as oras pushes.
      sbom = await makeArtifact({
        layout: { dir: layout, tag: 'sbom' },
        subject: image.manifest,
        artifactType: SBOM,
        payload: JSON.stringify({ packages: ['hello'] }),
        payloadMediaType: 'application/json',
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      });
      await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:sbom`, `docker://${registry.host}/${REPO}:sbom`]);

      signature = await makeArtifact({ subject: image.manifest, artifactType: SIGNATURE, payload: 'signed-bytes' });
      for (const blob of signature.blobs) await pushBlob(registry.url, REPO, blob.bytes, blob.descriptor.digest);
      signatureResponse = await putManifest(
        registry.url, REPO, signature.manifest.digest, signature.manifestBytes, MEDIA_TYPES.ociManifest,
      );
    });
    after(async () => {
      await registry?.stop();
      await rm(work, { recursive: true, force: true });
    });

    test('artifact manifests come back byte for byte, tagged or pushed by digest', async () => {
      assert.equal(
        await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/${REPO}:sbom`]),
        sbom.manifestBytes.toString(),
      );
      const served = await getManifest(registry.url, REPO, signature.manifest.digest);
      assert.deepEqual(served.bytes, signature.manifestBytes);
      assert.equal(served.digest, signature.manifest.digest);
      assert.equal(signatureResponse.headers.get('docker-content-digest'), signature.manifest.digest);
    });

    test('PUT of a manifest with a subject answers with OCI-Subject', { skip: referrersSkip }, () => {
      assert.equal(signatureResponse.headers.get('oci-subject'), image.manifest.digest);
    });

    test('GET /v2/<name>/referrers/<digest> lists both artifacts with their artifactType and annotations', { skip: referrersSkip }, async () => {
      const { index, contentType } = await getReferrers(registry.url, REPO, image.manifest.digest);
      assert.match(contentType ?? '', /^application\/vnd\.oci\.image\.index\.v1\+json/);
      assert.equal(index.schemaVersion, 2);
      assert.equal(index.mediaType, MEDIA_TYPES.ociIndex);
      const byDigest = new Map(index.manifests.map((descriptor) => [descriptor.digest, descriptor]));
      assert.equal(index.manifests.length, 2);
      assert.deepEqual(byDigest.get(sbom.manifest.digest), sbom.manifest);
      assert.deepEqual(byDigest.get(signature.manifest.digest), signature.manifest);
    });

    test('referrers filtered by artifactType list only that type and say the filter was applied', { skip: referrersSkip }, async () => {
      const { index, filtersApplied } = await getReferrers(registry.url, REPO, image.manifest.digest, SIGNATURE);
      assert.deepEqual(index.manifests.map((descriptor) => descriptor.digest), [signature.manifest.digest]);
      assert.equal(filtersApplied, 'artifactType');
    });

    test('referrers of a digest nothing refers to is an empty index', { skip: referrersSkip }, async () => {
      const { index } = await getReferrers(registry.url, REPO, sha256('nothing points here'));
      assert.deepEqual(index.manifests, []);
    });
  });
}
