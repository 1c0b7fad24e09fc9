/**
 * Parsing and validating pushed manifests: OCI image manifest and index (image-spec v1.1), Docker Image
 * Manifest v2 schema2 and manifest list. Schema1 is refused.
 *
 * What a manifest is comes from its body first, because the stored bytes are all a later GET has:
 * `mediaTypeOfStored` serves the body's `mediaType`, else an OCI index when `manifests` is present, else an
 * OCI manifest, as Distribution does. So `parseManifest` only accepts documents that `mediaTypeOfStored`
 * will describe the same way:
 *   - a body `mediaType` wins, and must equal a manifest Content-Type (the distribution spec says they match);
 *   - without one, an OCI manifest/index Content-Type is used, and otherwise the kind is inferred;
 *   - Docker types must declare `mediaType` in the body (Distribution's schema2 and manifest list decoders
 *     insist on it), or they would be served back as OCI.
 * A Content-Type that is not a manifest type (`application/json`, `application/octet-stream`) is ignored
 * and the body decides. Distribution 2.8 is stricter by accident: it hands such requests to its schema1
 * decoder, which fails for anything else.
 */
import type { Descriptor, JsonObject } from './descriptor.js';
import {
  has,
  invalid,
  isJsonObject,
  optionalAnnotations,
  optionalMediaType,
  parseDescriptor,
} from './descriptor.js';
import { ManifestInvalidError } from './errors.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  isIndexMediaType,
  MANIFEST_MEDIA_TYPES,
  OCI_INDEX,
  OCI_MANIFEST,
  parseContentType,
  SCHEMA1_MEDIA_TYPES,
  SCHEMA1_SIGNED_MANIFEST,
} from './mediatypes.js';

export type { Descriptor, Platform } from './descriptor.js';

export interface ParsedManifest {
  /** Effective media type: the JSON's `mediaType`, or inferred when absent. */
  mediaType: string;
  kind: 'image' | 'index';
  /** Image manifests only. */
  config?: Descriptor;
  /** Image manifests: the layer blobs; [] for an index. */
  layers: Descriptor[];
  /** Index / manifest list children; [] for an image manifest. */
  manifests: Descriptor[];
  /** OCI types only. */
  subject?: Descriptor;
  /** OCI types only. */
  artifactType?: string;
  /** OCI types only. */
  annotations?: Record<string, string>;
}

const SCHEMA1_REFUSED =
  'Docker schema1 manifests are not supported; push a Docker schema2 or OCI manifest instead ' +
  '(e.g. skopeo copy --format v2s2)';

/**
 * Checks a pushed manifest and returns what the registry needs from it. `contentType` is the request's
 * Content-Type header. Throws MANIFEST_INVALID with a reason, or DIGEST_INVALID for a malformed descriptor
 * digest.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  const headerType = parseContentType(contentType);
  if (headerType === null) throw new ManifestInvalidError(`malformed Content-Type ${JSON.stringify(contentType)}`);
  if (headerType !== undefined && SCHEMA1_MEDIA_TYPES.has(headerType)) throw new ManifestInvalidError(SCHEMA1_REFUSED);

  const body = decodeObject(bytes);
  if (body.schemaVersion === 1 || (typeof body.mediaType === 'string' && SCHEMA1_MEDIA_TYPES.has(body.mediaType))) {
    throw new ManifestInvalidError(SCHEMA1_REFUSED);
  }
  if (body.schemaVersion !== 2) invalid('schemaVersion', '2', body.schemaVersion);

  const mediaType = effectiveMediaType(body, headerType);
  const kind = isIndexMediaType(mediaType) ? 'index' : 'image';
  const parsed: ParsedManifest = { mediaType, kind, layers: [], manifests: [] };
  if (kind === 'index') {
    if (has(body, 'config') || has(body, 'layers')) {
      throw new ManifestInvalidError(`expected an index but found a manifest: ${mediaType} has no "config" or "layers"`);
    }
    parsed.manifests = descriptorList(body, 'manifests');
  } else {
    if (has(body, 'manifests')) {
      throw new ManifestInvalidError(`expected a manifest but found an index: ${mediaType} has no "manifests"`);
    }
    if (!has(body, 'config')) throw new ManifestInvalidError('config is required');
    parsed.config = parseDescriptor(body.config, 'config');
    parsed.layers = descriptorList(body, 'layers');
  }

  // subject, artifactType and annotations exist only in the OCI formats; Docker's decoders ignore them.
  if (mediaType === OCI_MANIFEST || mediaType === OCI_INDEX) {
    if (has(body, 'subject')) parsed.subject = parseDescriptor(body.subject, 'subject');
    const artifactType = optionalMediaType(body, 'artifactType', '');
    if (artifactType !== undefined) parsed.artifactType = artifactType;
    const annotations = optionalAnnotations(body, '');
    if (annotations !== undefined) parsed.annotations = annotations;
  }
  return parsed;
}

function effectiveMediaType(body: JsonObject, headerType: string | undefined): string {
  if (has(body, 'mediaType') && typeof body.mediaType !== 'string') invalid('mediaType', 'a string', body.mediaType);
  const declared = (body.mediaType as string | undefined) || undefined;
  const headerNamesManifest = headerType !== undefined && MANIFEST_MEDIA_TYPES.has(headerType);

  if (declared !== undefined) {
    if (!MANIFEST_MEDIA_TYPES.has(declared)) {
      throw new ManifestInvalidError(
        `unsupported manifest media type ${JSON.stringify(declared)}; accepted: ${[...MANIFEST_MEDIA_TYPES].join(', ')}`,
      );
    }
    if (headerNamesManifest && headerType !== declared) {
      throw new ManifestInvalidError(`mediaType ${declared} in the manifest does not match Content-Type ${headerType}`);
    }
    return declared;
  }

  if (headerNamesManifest) {
    if (headerType === DOCKER_MANIFEST || headerType === DOCKER_MANIFEST_LIST) {
      throw new ManifestInvalidError(`a ${headerType} manifest must declare "mediaType": "${headerType}"`);
    }
    return headerType;
  }

  const looksLikeIndex = has(body, 'manifests');
  const looksLikeImage = has(body, 'config') || has(body, 'layers');
  if (looksLikeIndex && looksLikeImage) {
    throw new ManifestInvalidError(
      'ambiguous manifest: it has both "manifests" and "config"/"layers" and no "mediaType" says which it is',
    );
  }
  if (looksLikeIndex) return OCI_INDEX;
  if (looksLikeImage) return OCI_MANIFEST;
  throw new ManifestInvalidError('not a manifest: it has no "mediaType", "config" or "manifests"');
}

function descriptorList(body: JsonObject, key: 'layers' | 'manifests'): Descriptor[] {
  const value = body[key];
  if (!Array.isArray(value)) invalid(key, 'an array of descriptors', value);
  return value.map((item, i) => parseDescriptor(item, `${key}[${i}]`));
}

function decodeObject(bytes: Uint8Array): JsonObject {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ManifestInvalidError('manifest is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestInvalidError(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(value)) throw new ManifestInvalidError('manifest must be a JSON object');
  return value;
}

/**
 * The Content-Type to serve stored manifest bytes with, decided as Distribution does: the body's `mediaType`,
 * schema1 (left on disk by an older registry) as signed schema1, else an OCI index when `manifests` is
 * present, else an OCI manifest. Throws MANIFEST_INVALID if the bytes are not a JSON object.
 */
export function mediaTypeOfStored(bytes: Uint8Array): string {
  const body = decodeObject(bytes);
  if (typeof body.mediaType === 'string' && body.mediaType !== '') return body.mediaType;
  if (body.schemaVersion === 1) return SCHEMA1_SIGNED_MANIFEST;
  return has(body, 'manifests') ? OCI_INDEX : OCI_MANIFEST;
}

/**
 * The `artifactType` a referrers response lists for this manifest (distribution spec v1.1): its own
 * `artifactType`, else for an image manifest its config's media type; an index without one has none.
 */
export function referrerArtifactType(m: ParsedManifest): string | undefined {
  return m.artifactType ?? (m.kind === 'image' ? m.config?.mediaType : undefined);
}
