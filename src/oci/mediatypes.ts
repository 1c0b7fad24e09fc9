/**
 * Media types of the OCI Image Spec v1.1 and of Docker's Image Manifest v2 (schema2), plus the checks on
 * media type strings that manifests and HTTP headers need.
 */
import type { Digest } from './digest.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** Deprecated by image-spec v1.1 but still found in the wild; clients may fetch these from `urls`. */
export const OCI_LAYER_NONDISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
export const OCI_LAYER_NONDISTRIBUTABLE_GZIP = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
export const OCI_LAYER_NONDISTRIBUTABLE_ZSTD = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';
/** The empty JSON object `{}`: config of artifacts that have none, or a placeholder layer. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_PLUGIN_CONFIG = 'application/vnd.docker.plugin.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_LAYER_UNCOMPRESSED = 'application/vnd.docker.image.rootfs.diff.tar';
export const DOCKER_FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

/** Docker Image Manifest v2, schema 1: refused on push, recognised so the refusal can say why. */
export const SCHEMA1_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+json';
export const SCHEMA1_SIGNED_MANIFEST = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** The empty descriptor of image-spec v1.1 (`{}`, two bytes), with its content embedded as `data`. */
export const EMPTY_DESCRIPTOR = Object.freeze({
  mediaType: OCI_EMPTY,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest,
  size: 2,
  data: 'e30=',
});

/** The types a manifest PUT accepts. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
]);

export const SCHEMA1_MEDIA_TYPES: ReadonlySet<string> = new Set([SCHEMA1_MANIFEST, SCHEMA1_SIGNED_MANIFEST]);

/** Layers whose descriptor may carry `urls` that clients download from instead of the registry. */
export const FOREIGN_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  DOCKER_FOREIGN_LAYER,
  OCI_LAYER_NONDISTRIBUTABLE,
  OCI_LAYER_NONDISTRIBUTABLE_GZIP,
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
]);

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.has(mediaType);
}

/** An index or manifest list: its children are manifests, not blobs. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

// RFC 6838 section 4.2 restricted names, as the image spec's JSON schema writes them (no parameters).
const MEDIA_TYPE_GRAMMAR = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** True for a bare `type/subtype` media type as descriptors and `artifactType` must use. */
export function isMediaType(value: string): boolean {
  return MEDIA_TYPE_GRAMMAR.test(value);
}

/**
 * The media type named by a Content-Type header, lowercased and without parameters, or `undefined` when the
 * header is absent or blank. A header that is not `type/subtype` at all returns `null`.
 */
export function parseContentType(header: string | undefined): string | null | undefined {
  if (header === undefined) return undefined;
  const bare = header.split(';', 1)[0]!.trim().toLowerCase();
  if (bare === '') return undefined;
  return isMediaType(bare) ? bare : null;
}
