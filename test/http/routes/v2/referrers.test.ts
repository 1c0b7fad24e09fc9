import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { OCI_INDEX, OCI_MANIFEST } from '../../../../src/oci/mediatypes.js';
import { errorCode, newApp, pushImage, type PushedManifest } from '../../fixtures.js';

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: { digest: string; artifactType?: string; mediaType: string; size: number }[];
}

async function withReferrers(app: FastifyInstance): Promise<{ subject: PushedManifest; sbom: PushedManifest; sig: PushedManifest }> {
  const subject = await pushImage(app, 'a', 'v1');
  const descriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length };
  const sbom = await pushImage(app, 'a', undefined, { seed: 'sbom', artifactType: 'application/example.sbom', subject: descriptor });
  const sig = await pushImage(app, 'a', undefined, { seed: 'sig', artifactType: 'application/example.sig', subject: descriptor });
  return { subject, sbom, sig };
}

describe('GET /v2/<name>/referrers/<digest>', () => {
  it('lists the manifests whose subject is the digest, as an OCI index', async () => {
    const { app } = newApp();
    const { subject, sbom, sig } = await withReferrers(app);
    const response = await app.inject({ method: 'GET', url: `/v2/a/referrers/${subject.digest}` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], OCI_INDEX);
    assert.equal(response.headers['oci-filters-applied'], undefined);
    const index = response.json() as Index;
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    assert.deepEqual(index.manifests.map((m) => m.digest).sort(), [sbom.digest, sig.digest].sort());
    const found = index.manifests.find((m) => m.digest === sbom.digest);
    assert.deepEqual(found, { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.bytes.length, artifactType: 'application/example.sbom' });
  });

  it('filters by artifactType and says so in OCI-Filters-Applied', async () => {
    const { app } = newApp();
    const { subject, sig } = await withReferrers(app);
    const response = await app.inject({ method: 'GET', url: `/v2/a/referrers/${subject.digest}?artifactType=application/example.sig` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual((response.json() as Index).manifests.map((m) => m.digest), [sig.digest]);
  });

  it('is an empty index for a subject nothing refers to', async () => {
    const { app } = newApp();
    const { sbom } = await withReferrers(app);
    const response = await app.inject({ method: 'GET', url: `/v2/a/referrers/${sbom.digest}` });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  });

  it('forgets a referrer once its manifest is deleted', async () => {
    const { app } = newApp();
    const { subject, sbom, sig } = await withReferrers(app);
    assert.equal((await app.inject({ method: 'DELETE', url: `/v2/a/manifests/${sig.digest}` })).statusCode, 202);
    const response = await app.inject({ method: 'GET', url: `/v2/a/referrers/${subject.digest}` });
    assert.deepEqual((response.json() as Index).manifests.map((m) => m.digest), [sbom.digest]);
  });

  it('a malformed digest is a 400 DIGEST_INVALID', async () => {
    const { app } = newApp();
    const response = await app.inject({ method: 'GET', url: '/v2/a/referrers/latest' });
    assert.equal(response.statusCode, 400);
    assert.equal(errorCode(response), 'DIGEST_INVALID');
  });
});
