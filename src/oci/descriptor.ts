/**
 * Descriptors (image-spec `descriptor.md`) and the small JSON field checks manifests are built from.
 * Every failure is a MANIFEST_INVALID naming the field by its JSON path (`layers[2].size`), except a digest
 * string that is not a usable digest: that is DIGEST_INVALID, which the distribution spec names for "a manifest
 * includes an invalid layer digest" and which Distribution answers too.
 */
import { parseDigest, type Digest } from './digest.js';
import { DigestInvalidError, ManifestInvalidError } from './errors.js';
import { isMediaType } from './mediatypes.js';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: Platform;
  /** Base64 of the content itself, embedded by image-spec v1.1 for small blobs. */
  data?: string;
}

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when the key is present with a value other than null (Go's decoder treats null as absent). */
export function has(object: JsonObject, key: string): boolean {
  return object[key] !== undefined && object[key] !== null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function invalid(path: string, expected: string, value: unknown): never {
  throw new ManifestInvalidError(`${path} must be ${expected}, got ${describe(value)}`);
}

export function requireObject(value: unknown, path: string): JsonObject {
  if (!isJsonObject(value)) invalid(path, 'an object', value);
  return value;
}

// The field helpers below take `prefix`, the JSON path of the enclosing object with a trailing dot
// (`layers[0].`), or '' at the top level, so that reasons name fields the way a user finds them.

function requireString(object: JsonObject, key: string, prefix: string): string {
  const value = object[key];
  if (typeof value !== 'string') invalid(prefix + key, 'a string', value);
  return value;
}

function optionalString(object: JsonObject, key: string, prefix: string): string | undefined {
  return has(object, key) ? requireString(object, key, prefix) : undefined;
}

function optionalStringArray(object: JsonObject, key: string, prefix: string): string[] | undefined {
  if (!has(object, key)) return undefined;
  const value = object[key];
  if (!Array.isArray(value)) invalid(prefix + key, 'an array of strings', value);
  value.forEach((item, i) => {
    if (typeof item !== 'string') invalid(`${prefix}${key}[${i}]`, 'a string', item);
  });
  return value as string[];
}

/** `annotations`: a map of string to string. */
export function optionalAnnotations(object: JsonObject, prefix: string): Record<string, string> | undefined {
  if (!has(object, 'annotations')) return undefined;
  const value = requireObject(object.annotations, `${prefix}annotations`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') invalid(`${prefix}annotations[${JSON.stringify(key)}]`, 'a string', item);
  }
  return value as Record<string, string>;
}

/**
 * A media type field such as `artifactType`: RFC 6838 `type/subtype`. An empty string counts as absent, as
 * Go's `omitempty` and the referrers API ("empty or missing") treat it.
 */
export function optionalMediaType(object: JsonObject, key: string, prefix: string): string | undefined {
  const value = optionalString(object, key, prefix);
  if (value === undefined || value === '') return undefined;
  if (!isMediaType(value)) invalid(prefix + key, 'a media type (type/subtype)', value);
  return value;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Checks one descriptor; `path` names it in reasons, e.g. `layers[0]`. */
export function parseDescriptor(value: unknown, path: string): Descriptor {
  const object = requireObject(value, path);
  const prefix = `${path}.`;
  const mediaType = requireString(object, 'mediaType', prefix);
  if (!isMediaType(mediaType)) invalid(`${prefix}mediaType`, 'a media type (type/subtype)', mediaType);
  const digest = parseFieldDigest(requireString(object, 'digest', prefix), `${prefix}digest`);
  const size = object.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    invalid(`${prefix}size`, 'a non-negative integer', size);
  }
  const descriptor: Descriptor = { mediaType, digest, size };
  const urls = optionalStringArray(object, 'urls', prefix);
  if (urls !== undefined) descriptor.urls = urls;
  const annotations = optionalAnnotations(object, prefix);
  if (annotations !== undefined) descriptor.annotations = annotations;
  const artifactType = optionalMediaType(object, 'artifactType', prefix);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  if (has(object, 'platform')) descriptor.platform = parsePlatform(object.platform, `${prefix}platform`);
  const data = optionalString(object, 'data', prefix);
  if (data !== undefined) {
    if (!BASE64.test(data)) invalid(`${prefix}data`, 'base64', data);
    descriptor.data = data;
  }
  return descriptor;
}

function parseFieldDigest(value: string, path: string): Digest {
  try {
    return parseDigest(value);
  } catch (error) {
    if (error instanceof DigestInvalidError) throw new DigestInvalidError(`${path}: ${error.message}`, value);
    throw error;
  }
}

function parsePlatform(value: unknown, path: string): Platform {
  const object = requireObject(value, path);
  const prefix = `${path}.`;
  const platform: Platform = {
    architecture: requireString(object, 'architecture', prefix),
    os: requireString(object, 'os', prefix),
  };
  const osVersion = optionalString(object, 'os.version', prefix);
  if (osVersion !== undefined) platform['os.version'] = osVersion;
  const osFeatures = optionalStringArray(object, 'os.features', prefix);
  if (osFeatures !== undefined) platform['os.features'] = osFeatures;
  const variant = optionalString(object, 'variant', prefix);
  if (variant !== undefined) platform.variant = variant;
  const features = optionalStringArray(object, 'features', prefix);
  if (features !== undefined) platform.features = features;
  return platform;
}
