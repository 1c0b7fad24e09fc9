import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import {
  DigestInvalidError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestUnknownError,
  NameUnknownError,
  UnsupportedError,
} from '../../src/oci/errors.js';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST } from '../../src/oci/mediatypes.js';
import { collectGarbage } from '../../src/registry/gc/index.js';
import { writeLink } from '../../src/registry/links.js';
import { manifestRevisionLinkPath, referrerLinkPath } from '../../src/storage/paths.js';
import { newRegistry, pushBlob, pushImageContent, type TestRegistry } from './helpers.js';

const tag = (name: string) => ({ kind: 'tag' as const, tag: name });
const byDigest = (digest: Digest) => ({ kind: 'digest' as const, digest });

describe('manifests and tags', () => {
  let t: TestRegistry;
  before(async () => {
    t = await newRegistry();
  });
  after(() => t.cleanup());

  it('stores exactly the pushed bytes and serves them by tag and by digest', async () => {
    const repo = t.registry.repository('shop/web');
    // Odd spacing on purpose: the digest is of the raw bytes, never of a re-serialisation.
    const bytes = Buffer.from(JSON.stringify(JSON.parse((await pushImageContent(repo, 'a')).toString()), null, 3));
    const { digest } = await repo.manifests.put(bytes, OCI_MANIFEST, tag('v1'));
    assert.equal(digest, digestOf(bytes));
    for (const reference of [tag('v1'), byDigest(digest)]) {
      const got = await repo.manifests.get(reference);
      assert.deepEqual(got.bytes, bytes);
      assert.equal(got.mediaType, OCI_MANIFEST);
      assert.equal(got.digest, digest);
    }
    const base = join(t.root, 'docker/registry/v2/repositories/shop/web/_manifests');
    assert.equal(await readFile(join(base, 'tags/v1/current/link'), 'utf8'), digest);
    assert.equal(await readFile(join(base, 'tags/v1/index/sha256', digest.slice(7), 'link'), 'utf8'), digest);
    assert.equal(await readFile(join(base, 'revisions/sha256', digest.slice(7), 'link'), 'utf8'), digest);
  });

  it('refuses a manifest whose layer is not in the repository', async () => {
    const source = t.registry.repository('shop/source');
    const bytes = await pushImageContent(source, 'b');
    const other = t.registry.repository('shop/other');
    await assert.rejects(other.manifests.put(bytes, OCI_MANIFEST, tag('latest')), ManifestBlobUnknownError);
    await assert.rejects(other.tags.list({}), NameUnknownError);
  });

  it('refuses a digest reference that does not match the bytes', async () => {
    const repo = t.registry.repository('shop/web');
    const bytes = await pushImageContent(repo, 'c');
    await assert.rejects(repo.manifests.put(bytes, OCI_MANIFEST, byDigest(digestOf(Buffer.from('x')))), DigestInvalidError);
  });

  it('stores a manifest pushed by a sha512 digest under that digest', async () => {
    const repo = t.registry.repository('shop/web');
    const bytes = await pushImageContent(repo, 'sha512');
    const digest = digestOf(bytes, 'sha512');
    assert.equal((await repo.manifests.put(bytes, OCI_MANIFEST, byDigest(digest))).digest, digest);
    assert.deepEqual((await repo.manifests.get(byDigest(digest))).bytes, bytes);
  });

  it('an index needs its children in the repository', async () => {
    const repo = t.registry.repository('shop/multi');
    const child = await pushImageContent(repo, 'child');
    const childDigest = digestOf(child);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: childDigest, size: child.length, platform: { os: 'linux', architecture: 'amd64' } }],
      }),
    );
    await assert.rejects(repo.manifests.put(index, OCI_INDEX, tag('multi')), ManifestBlobUnknownError);
    await repo.manifests.put(child, OCI_MANIFEST, byDigest(childDigest));
    await repo.manifests.put(index, OCI_INDEX, tag('multi'));
    assert.equal((await repo.manifests.stat(tag('multi'))).mediaType, OCI_INDEX);
  });

  it('lists tags in lexical order, paginated by n and last', async () => {
    const repo = t.registry.repository('shop/tags');
    const bytes = await pushImageContent(repo, 'tags');
    for (const name of ['b', 'a', 'c', 'B', '1.0']) await repo.manifests.put(bytes, OCI_MANIFEST, tag(name));
    assert.deepEqual(await repo.tags.list({}), { items: ['1.0', 'B', 'a', 'b', 'c'], more: false });
    assert.deepEqual(await repo.tags.list({ n: 2 }), { items: ['1.0', 'B'], more: true });
    assert.deepEqual(await repo.tags.list({ n: 2, last: 'B' }), { items: ['a', 'b'], more: true });
    assert.deepEqual(await repo.tags.list({ n: 2, last: 'b' }), { items: ['c'], more: false });
    assert.deepEqual(await repo.tags.list({ n: 0 }), { items: [], more: false });
  });

  it('deleting a tag removes only the tag; deleting by digest removes the manifest and its tags', async () => {
    const repo = t.registry.repository('shop/delete');
    const bytes = await pushImageContent(repo, 'delete');
    const { digest } = await repo.manifests.put(bytes, OCI_MANIFEST, tag('one'));
    await repo.manifests.put(bytes, OCI_MANIFEST, tag('two'));
    await repo.manifests.delete(tag('one'));
    await assert.rejects(repo.manifests.get(tag('one')), ManifestUnknownError);
    assert.equal((await repo.manifests.get(tag('two'))).digest, digest);

    await repo.manifests.delete(byDigest(digest));
    await assert.rejects(repo.manifests.get(byDigest(digest)), ManifestUnknownError);
    await assert.rejects(repo.manifests.get(tag('two')), ManifestUnknownError);
    assert.deepEqual((await repo.tags.list({})).items, []);
    await assert.rejects(repo.manifests.delete(tag('one')), ManifestUnknownError);
  });

  it('finds referrers by subject, filters them by artifactType and forgets deleted ones', async () => {
    const repo = t.registry.repository('shop/signed');
    const image = await pushImageContent(repo, 'subject');
    const subject = { mediaType: OCI_MANIFEST, digest: digestOf(image), size: image.length };
    assert.deepEqual(await repo.referrers.list(subject.digest), [], 'a subject may have no referrers yet');

    const empty = await pushBlob(repo, '{}');
    const signatureBlob = await pushBlob(repo, 'signature bytes');
    const artifact = (artifactType: string) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType,
          config: { mediaType: OCI_EMPTY, digest: empty, size: 2 },
          layers: [{ mediaType: 'application/octet-stream', digest: signatureBlob, size: 15 }],
          subject,
          annotations: { 'org.example.kind': artifactType },
        }),
      );
    // The subject need not exist when a referrer is pushed.
    const signature = await repo.manifests.put(artifact('application/vnd.example.sig'), OCI_MANIFEST, byDigest(digestOf(artifact('application/vnd.example.sig'))));
    assert.equal(signature.subject, subject.digest);
    const sbom = artifact('application/vnd.example.sbom');
    await repo.manifests.put(sbom, OCI_MANIFEST, byDigest(digestOf(sbom)));

    const all = await repo.referrers.list(subject.digest);
    assert.deepEqual(all.map((d) => d.artifactType).sort(), ['application/vnd.example.sbom', 'application/vnd.example.sig']);
    assert.deepEqual(all.find((d) => d.digest === digestOf(sbom)), {
      mediaType: OCI_MANIFEST,
      digest: digestOf(sbom),
      size: sbom.length,
      artifactType: 'application/vnd.example.sbom',
      annotations: { 'org.example.kind': 'application/vnd.example.sbom' },
    });
    const filtered = await repo.referrers.list(subject.digest, { artifactType: 'application/vnd.example.sig' });
    assert.deepEqual(filtered.map((d) => d.digest), [signature.digest]);

    await repo.manifests.delete(byDigest(signature.digest));
    assert.deepEqual((await repo.referrers.list(subject.digest)).map((d) => d.digest), [digestOf(sbom)]);
  });

  it('a revision link and referrers entry without their content (the blob lost or deleted underneath) read as absent until a retry', async () => {
    const repo = t.registry.repository('shop/crashed');
    const subject = digestOf(Buffer.from('some subject'));
    const bytes = Buffer.from(JSON.stringify({ ...JSON.parse((await pushImageContent(repo, 'crash')).toString()), subject: { mediaType: OCI_MANIFEST, digest: subject, size: 12 } }));
    const digest = digestOf(bytes);
    // Links whose content is not in the store, as a hand-edited or damaged root may have them.
    await writeLink(t.driver, manifestRevisionLinkPath('shop/crashed', digest), digest);
    await writeLink(t.driver, referrerLinkPath('shop/crashed', subject, digest), digest);

    await assert.rejects(repo.manifests.get(byDigest(digest)), ManifestUnknownError);
    assert.deepEqual(await repo.referrers.list(subject), []);
    const report = await collectGarbage(t.driver, { dryRun: true, deleteUntagged: true, gracePeriodMs: 0 });
    assert.deepEqual(report.manifestsEligible.filter((m) => m.repository === 'shop/crashed'), []);

    await repo.manifests.put(bytes, OCI_MANIFEST, tag('retried'));
    assert.deepEqual((await repo.manifests.get(tag('retried'))).bytes, bytes);
    assert.deepEqual((await repo.referrers.list(subject)).map((d) => d.digest), [digest]);
  });

  it('refuses schema1 with a clear reason', async () => {
    const repo = t.registry.repository('shop/old');
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'shop/old', tag: 'x', fsLayers: [], history: [] }));
    await assert.rejects(repo.manifests.put(schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws', tag('x')), (err: unknown) => {
      assert.ok(err instanceof ManifestInvalidError);
      assert.match(err.message, /schema ?1/i);
      return true;
    });
  });
});

describe('write policy', () => {
  it('read-only mode refuses every write and still serves reads', async () => {
    const t = await newRegistry();
    try {
      const writable = t.registry.repository('ro/app');
      const bytes = await pushImageContent(writable, 'ro');
      await writable.manifests.put(bytes, OCI_MANIFEST, tag('v1'));
      const readOnly = (await import('../../src/registry/index.js')).createRegistry({ driver: t.driver, deleteEnabled: true, readOnly: true });
      const repo = readOnly.repository('ro/app');
      assert.deepEqual((await repo.manifests.get(tag('v1'))).bytes, bytes);
      await assert.rejects(repo.blobs.create(), UnsupportedError);
      await assert.rejects(repo.manifests.put(bytes, OCI_MANIFEST, tag('v2')), UnsupportedError);
      await assert.rejects(repo.manifests.delete(tag('v1')), UnsupportedError);
    } finally {
      await t.cleanup();
    }
  });

  it('with deletes disabled, deleting answers UNSUPPORTED and keeps the content', async () => {
    const t = await newRegistry({ deleteEnabled: false });
    try {
      const repo = t.registry.repository('nodelete/app');
      const bytes = await pushImageContent(repo, 'nd');
      const { digest } = await repo.manifests.put(bytes, OCI_MANIFEST, tag('v1'));
      await assert.rejects(repo.manifests.delete(byDigest(digest)), UnsupportedError);
      await assert.rejects(repo.blobs.delete(digest), UnsupportedError);
      assert.equal((await repo.manifests.get(tag('v1'))).digest, digest);
    } finally {
      await t.cleanup();
    }
  });
});
