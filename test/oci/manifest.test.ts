import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { DigestInvalidError, ManifestInvalidError } from '../../src/oci/errors.js';
import { mediaTypeOfStored, parseManifest, referrerArtifactType } from '../../src/oci/manifest.js';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  EMPTY_DESCRIPTOR,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  SCHEMA1_MANIFEST,
  SCHEMA1_SIGNED_MANIFEST,
} from '../../src/oci/mediatypes.js';

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const digestOfText = (text: string) => digestOf(new TextEncoder().encode(text));

const CONFIG = { mediaType: OCI_CONFIG, digest: digestOfText('config'), size: 6 };
const LAYER = { mediaType: OCI_LAYER_GZIP, digest: digestOfText('layer'), size: 5 };
const CHILD = {
  mediaType: OCI_MANIFEST,
  digest: digestOfText('child'),
  size: 100,
  platform: { architecture: 'arm64', os: 'linux', variant: 'v8', 'os.features': ['x'] },
};

function ociManifest(extra: Record<string, unknown> = {}) {
  return { schemaVersion: 2, mediaType: OCI_MANIFEST, config: CONFIG, layers: [LAYER], ...extra };
}
function ociIndex(extra: Record<string, unknown> = {}) {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [CHILD], ...extra };
}
function dockerManifest(extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { ...CONFIG, mediaType: DOCKER_CONFIG },
    layers: [{ ...LAYER, mediaType: DOCKER_LAYER }],
    ...extra,
  };
}
function dockerList(extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_LIST,
    manifests: [{ ...CHILD, mediaType: DOCKER_MANIFEST }],
    ...extra,
  };
}
function without(object: Record<string, unknown>, key: string) {
  const copy = { ...object };
  delete copy[key];
  return copy;
}

function assertInvalid(body: unknown, contentType: string | undefined, reason: RegExp, bytes?: Uint8Array) {
  assert.throws(
    () => parseManifest(bytes ?? encode(body), contentType),
    (error: unknown) => {
      assert.ok(error instanceof ManifestInvalidError, `expected MANIFEST_INVALID, got ${String(error)}`);
      assert.equal(error.code, 'MANIFEST_INVALID');
      assert.match((error.detail as { reason: string }).reason, reason);
      return true;
    },
  );
}

describe('parseManifest accepts each manifest kind', () => {
  it('an OCI image manifest', () => {
    const m = parseManifest(encode(ociManifest({ annotations: { a: 'b' } })), OCI_MANIFEST);
    assert.equal(m.mediaType, OCI_MANIFEST);
    assert.equal(m.kind, 'image');
    assert.deepEqual(m.config, CONFIG);
    assert.deepEqual(m.layers, [LAYER]);
    assert.deepEqual(m.manifests, []);
    assert.deepEqual(m.annotations, { a: 'b' });
  });

  it('an OCI index, keeping each child platform', () => {
    const m = parseManifest(encode(ociIndex()), OCI_INDEX);
    assert.equal(m.mediaType, OCI_INDEX);
    assert.equal(m.kind, 'index');
    assert.equal(m.config, undefined);
    assert.deepEqual(m.layers, []);
    assert.deepEqual(m.manifests, [CHILD]);
  });

  it('a Docker schema2 manifest, also with no layers', () => {
    const m = parseManifest(encode(dockerManifest()), DOCKER_MANIFEST);
    assert.equal(m.mediaType, DOCKER_MANIFEST);
    assert.equal(m.kind, 'image');
    assert.equal(m.layers[0]?.mediaType, DOCKER_LAYER);
    assert.deepEqual(parseManifest(encode(dockerManifest({ layers: [] })), DOCKER_MANIFEST).layers, []);
  });

  it('a Docker manifest list', () => {
    const m = parseManifest(encode(dockerList()), DOCKER_MANIFEST_LIST);
    assert.equal(m.mediaType, DOCKER_MANIFEST_LIST);
    assert.equal(m.kind, 'index');
    assert.equal(m.manifests[0]?.platform?.architecture, 'arm64');
  });

  it('ignores Content-Type parameters and case', () => {
    const m = parseManifest(encode(ociManifest()), 'Application/VND.oci.image.manifest.v1+json; charset=utf-8');
    assert.equal(m.mediaType, OCI_MANIFEST);
  });

  it('takes the type from an OCI Content-Type when the body has no mediaType', () => {
    assert.equal(parseManifest(encode(without(ociManifest(), 'mediaType')), OCI_MANIFEST).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(encode(without(ociIndex(), 'mediaType')), OCI_INDEX).mediaType, OCI_INDEX);
  });

  for (const contentType of [undefined, '', 'application/json', 'application/octet-stream']) {
    it(`lets the body decide under Content-Type ${JSON.stringify(contentType)}`, () => {
      assert.equal(parseManifest(encode(without(ociManifest(), 'mediaType')), contentType).mediaType, OCI_MANIFEST);
      assert.equal(parseManifest(encode(without(ociIndex(), 'mediaType')), contentType).mediaType, OCI_INDEX);
      assert.equal(parseManifest(encode(dockerManifest()), contentType).mediaType, DOCKER_MANIFEST);
      assert.equal(parseManifest(encode(dockerList()), contentType).kind, 'index');
    });
  }
});

describe('parseManifest refuses', () => {
  const schema1 = /schema1 manifests are not supported; push a Docker schema2 or OCI manifest.*skopeo copy --format v2s2/;

  it('schema1 by schemaVersion, body mediaType or Content-Type, with a reason that says what to push', () => {
    const signed = { schemaVersion: 1, name: 'a', tag: 'b', fsLayers: [], history: [], signatures: [] };
    assertInvalid(signed, undefined, schema1);
    assertInvalid(signed, 'application/json', schema1);
    assertInvalid(signed, SCHEMA1_SIGNED_MANIFEST, schema1);
    assertInvalid(ociManifest(), SCHEMA1_MANIFEST, schema1);
    assertInvalid({ ...signed, schemaVersion: 2, mediaType: SCHEMA1_MANIFEST }, undefined, schema1);
  });

  it('bytes that are not a JSON object', () => {
    assertInvalid(null, undefined, /not valid JSON/, new TextEncoder().encode('{"schemaVersion": 2'));
    assertInvalid(null, undefined, /not valid UTF-8/, new Uint8Array([0x7b, 0xff, 0x7d]));
    assertInvalid([ociManifest()], undefined, /must be a JSON object/);
    assertInvalid(null, undefined, /must be a JSON object/);
    assertInvalid('manifest', undefined, /must be a JSON object/);
  });

  it('a schemaVersion other than 2', () => {
    assertInvalid(without(ociManifest(), 'schemaVersion'), OCI_MANIFEST, /schemaVersion must be 2, got undefined/);
    assertInvalid(ociManifest({ schemaVersion: 3 }), OCI_MANIFEST, /schemaVersion must be 2, got 3/);
    assertInvalid(ociManifest({ schemaVersion: '2' }), OCI_MANIFEST, /schemaVersion must be 2, got "2"/);
  });

  it('a body mediaType that differs from a manifest Content-Type', () => {
    assertInvalid(dockerManifest(), OCI_MANIFEST, /mediaType .*manifest\.v2\+json in the manifest does not match Content-Type application\/vnd\.oci\.image\.manifest/);
    assertInvalid(ociManifest(), OCI_INDEX, /does not match Content-Type/);
    assertInvalid(ociIndex(), DOCKER_MANIFEST_LIST, /does not match Content-Type/);
  });

  it('a Docker manifest whose body does not declare its mediaType', () => {
    assertInvalid(without(dockerManifest(), 'mediaType'), DOCKER_MANIFEST, /must declare "mediaType"/);
    assertInvalid(without(dockerList(), 'mediaType'), DOCKER_MANIFEST_LIST, /must declare "mediaType"/);
  });

  it('an unknown or malformed media type', () => {
    assertInvalid(ociManifest({ mediaType: 'application/vnd.oci.image.config.v1+json' }), undefined, /unsupported manifest media type/);
    assertInvalid(ociManifest({ mediaType: 42 }), undefined, /mediaType must be a string, got 42/);
    assertInvalid(ociManifest(), 'not a media type', /malformed Content-Type/);
  });

  it('a document that mixes manifest and index fields', () => {
    assertInvalid(ociManifest({ manifests: [CHILD] }), OCI_MANIFEST, /expected a manifest but found an index/);
    assertInvalid(ociIndex({ layers: [LAYER] }), OCI_INDEX, /expected an index but found a manifest/);
    assertInvalid(dockerList({ config: CONFIG }), undefined, /expected an index but found a manifest/);
    assertInvalid(without(ociManifest({ manifests: [CHILD] }), 'mediaType'), undefined, /ambiguous manifest/);
    assertInvalid({ schemaVersion: 2 }, undefined, /not a manifest/);
  });

  it('an image manifest without config or layers, an index without manifests', () => {
    assertInvalid(without(ociManifest(), 'config'), OCI_MANIFEST, /config is required/);
    assertInvalid(without(dockerManifest(), 'config'), DOCKER_MANIFEST, /config is required/);
    assertInvalid(without(ociManifest(), 'layers'), OCI_MANIFEST, /layers must be an array of descriptors, got undefined/);
    assertInvalid(ociManifest({ layers: LAYER }), OCI_MANIFEST, /layers must be an array of descriptors, got an object/);
    assertInvalid(without(ociIndex(), 'manifests'), OCI_INDEX, /manifests must be an array of descriptors/);
  });

  const badDescriptors: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a descriptor that is not an object', { layers: ['sha256:abc'] }, /layers\[0\] must be an object/],
    ['a missing mediaType', { layers: [without(LAYER, 'mediaType')] }, /layers\[0\]\.mediaType must be a string/],
    ['a mediaType that is not type/subtype', { config: { ...CONFIG, mediaType: 'tar' } }, /config\.mediaType must be a media type/],
    ['a digest that is not a string', { layers: [{ ...LAYER, digest: 5 }] }, /layers\[0\]\.digest must be a string/],
    ['a missing size', { layers: [LAYER, without(LAYER, 'size')] }, /layers\[1\]\.size must be a non-negative integer, got undefined/],
    ['a negative size', { layers: [{ ...LAYER, size: -1 }] }, /layers\[0\]\.size must be a non-negative integer, got -1/],
    ['a fractional size', { layers: [{ ...LAYER, size: 1.5 }] }, /size must be a non-negative integer/],
    ['a string size', { layers: [{ ...LAYER, size: '5' }] }, /size must be a non-negative integer, got "5"/],
    ['an unsafe integer size', { layers: [{ ...LAYER, size: 2 ** 53 }] }, /size must be a non-negative integer/],
    ['urls that are not an array', { layers: [{ ...LAYER, urls: 'http://x' }] }, /layers\[0\]\.urls must be an array of strings/],
    ['a url that is not a string', { layers: [{ ...LAYER, urls: ['http://x', 1] }] }, /layers\[0\]\.urls\[1\] must be a string/],
    ['annotations that are not a map', { layers: [{ ...LAYER, annotations: ['a'] }] }, /layers\[0\]\.annotations must be an object/],
    ['an annotation that is not a string', { config: { ...CONFIG, annotations: { n: 1 } } }, /config\.annotations\["n"\] must be a string/],
    ['a top-level annotation that is not a string', { annotations: { n: true } }, /^annotations\["n"\] must be a string/],
    ['data that is not base64', { config: { ...CONFIG, data: 'not base64!' } }, /config\.data must be base64/],
    ['an artifactType that is not a media type', { artifactType: 'sbom' }, /artifactType must be a media type/],
    ['a subject that is not a descriptor', { subject: { digest: LAYER.digest } }, /subject\.mediaType must be a string/],
  ];
  for (const [what, extra, reason] of badDescriptors) {
    it(`${what} with MANIFEST_INVALID naming the field`, () => {
      assertInvalid(ociManifest(extra), OCI_MANIFEST, reason);
    });
  }

  it('a child platform without os or architecture', () => {
    const child = { ...CHILD, platform: { architecture: 'amd64' } };
    assertInvalid(ociIndex({ manifests: [child] }), OCI_INDEX, /manifests\[0\]\.platform\.os must be a string/);
  });

  it('a malformed descriptor digest with DIGEST_INVALID naming the field', () => {
    for (const [extra, field] of [
      [{ layers: [LAYER, { ...LAYER, digest: 'sha256:1234' }] }, 'layers[1].digest'],
      [{ config: { ...CONFIG, digest: `md5:${'a'.repeat(32)}` } }, 'config.digest'],
      [{ subject: { ...LAYER, mediaType: OCI_MANIFEST, digest: '' } }, 'subject.digest'],
    ] as const) {
      assert.throws(
        () => parseManifest(encode(ociManifest(extra)), OCI_MANIFEST),
        (error: unknown) => {
          assert.ok(error instanceof DigestInvalidError);
          assert.equal(error.code, 'DIGEST_INVALID');
          assert.ok(error.message.startsWith(`${field}: `), error.message);
          return true;
        },
      );
    }
  });
});

describe('artifacts and referrers', () => {
  const subject = { mediaType: OCI_MANIFEST, digest: digestOfText('subject'), size: 1234 };

  it('accepts an artifact manifest with artifactType, the empty config, no layers and a subject', () => {
    const m = parseManifest(
      encode(ociManifest({ artifactType: 'application/vnd.example.sbom.v1', config: EMPTY_DESCRIPTOR, layers: [], subject })),
      OCI_MANIFEST,
    );
    assert.equal(m.artifactType, 'application/vnd.example.sbom.v1');
    assert.equal(m.config?.mediaType, OCI_EMPTY);
    assert.equal(m.config?.data, 'e30=');
    assert.deepEqual(m.layers, []);
    assert.deepEqual(m.subject, subject);
    assert.equal(referrerArtifactType(m), 'application/vnd.example.sbom.v1');
  });

  it('the empty descriptor describes the bytes "{}"', () => {
    assert.equal(EMPTY_DESCRIPTOR.digest, digestOfText('{}'));
    assert.equal(EMPTY_DESCRIPTOR.size, 2);
    assert.equal(Buffer.from(EMPTY_DESCRIPTOR.data, 'base64').toString(), '{}');
  });

  it('reports an image manifest without artifactType by its config media type', () => {
    const m = parseManifest(encode(ociManifest({ subject, config: { ...CONFIG, mediaType: 'application/vnd.example.sig' } })));
    assert.equal(m.artifactType, undefined);
    assert.equal(referrerArtifactType(m), 'application/vnd.example.sig');
  });

  it('treats an empty artifactType as absent', () => {
    const m = parseManifest(encode(ociManifest({ artifactType: '' })), OCI_MANIFEST);
    assert.equal(m.artifactType, undefined);
    assert.equal(referrerArtifactType(m), OCI_CONFIG);
  });

  it('reports an index by its own artifactType only', () => {
    assert.equal(referrerArtifactType(parseManifest(encode(ociIndex({ subject })), OCI_INDEX)), undefined);
    const typed = parseManifest(encode(ociIndex({ subject, artifactType: 'application/vnd.example.bundle' })), OCI_INDEX);
    assert.deepEqual(typed.subject, subject);
    assert.equal(referrerArtifactType(typed), 'application/vnd.example.bundle');
  });

  it('ignores subject, artifactType and annotations in Docker formats', () => {
    const m = parseManifest(
      encode(dockerManifest({ subject: { bogus: true }, artifactType: 'x', annotations: 1 })),
      DOCKER_MANIFEST,
    );
    assert.equal(m.subject, undefined);
    assert.equal(m.artifactType, undefined);
    assert.equal(m.annotations, undefined);
  });
});

describe('mediaTypeOfStored', () => {
  const cases: Array<[string, unknown, string]> = [
    ['the body mediaType', dockerManifest(), DOCKER_MANIFEST],
    ['a Docker manifest list', dockerList(), DOCKER_MANIFEST_LIST],
    ['an OCI index without mediaType', without(ociIndex(), 'mediaType'), OCI_INDEX],
    ['an OCI manifest without mediaType', without(ociManifest(), 'mediaType'), OCI_MANIFEST],
    ['a document with "manifests": null', { schemaVersion: 2, manifests: null, config: CONFIG }, OCI_MANIFEST],
    ['schema1 left by an older registry', { schemaVersion: 1, fsLayers: [] }, SCHEMA1_SIGNED_MANIFEST],
  ];
  for (const [what, body, expected] of cases) {
    it(`serves ${what} as ${expected}`, () => {
      assert.equal(mediaTypeOfStored(encode(body)), expected);
    });
  }

  it('agrees with parseManifest on every accepted manifest', () => {
    for (const [body, contentType] of [
      [without(ociManifest(), 'mediaType'), OCI_MANIFEST],
      [without(ociIndex(), 'mediaType'), OCI_INDEX],
      [without(ociIndex(), 'mediaType'), 'application/json'],
      [dockerManifest(), undefined],
    ] as const) {
      const bytes = encode(body);
      assert.equal(mediaTypeOfStored(bytes), parseManifest(bytes, contentType).mediaType);
    }
  });

  it('throws MANIFEST_INVALID on bytes that are not JSON', () => {
    assert.throws(() => mediaTypeOfStored(new TextEncoder().encode('garbage')), ManifestInvalidError);
  });
});
