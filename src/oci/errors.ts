/**
 * Domain errors, one class per error code of the OCI Distribution Spec (plus Docker's extras).
 *
 * The core throws these; it never builds HTTP responses. `http/errcode.ts` owns the table that maps each
 * `code` to its HTTP status and message, so the same error reads the same on every route.
 */

/** Every wire error code Berth can answer with. */
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_UNVERIFIED'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'UNAVAILABLE'
  | 'UNKNOWN';

export class RegistryError extends Error {
  /** Extra response headers the error carries, e.g. `Range` on a 416 or `WWW-Authenticate` on a 401. */
  headers: Record<string, string> = {};

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }
}

export class BlobUnknownError extends RegistryError {
  constructor(digest: string) {
    super('BLOB_UNKNOWN', `blob unknown: ${digest}`, { digest });
  }
}

export class BlobUploadUnknownError extends RegistryError {
  constructor(id: string) {
    super('BLOB_UPLOAD_UNKNOWN', `upload unknown: ${id}`, { uuid: id });
  }
}

export class BlobUploadInvalidError extends RegistryError {
  constructor(reason: string) {
    super('BLOB_UPLOAD_INVALID', reason, { reason });
  }
}

export class DigestInvalidError extends RegistryError {
  constructor(reason: string, digest?: string) {
    super('DIGEST_INVALID', reason, digest === undefined ? { reason } : { digest, reason });
  }
}

export class SizeInvalidError extends RegistryError {
  constructor(reason: string) {
    super('SIZE_INVALID', reason, { reason });
  }
}

export class ManifestInvalidError extends RegistryError {
  constructor(reason: string) {
    super('MANIFEST_INVALID', reason, { reason });
  }
}

export class ManifestUnknownError extends RegistryError {
  constructor(reference: string) {
    super('MANIFEST_UNKNOWN', `manifest unknown: ${reference}`, { reference });
  }
}

export class ManifestBlobUnknownError extends RegistryError {
  constructor(digest: string) {
    super('MANIFEST_BLOB_UNKNOWN', `manifest references a blob unknown to this repository: ${digest}`, { digest });
  }
}

export class NameInvalidError extends RegistryError {
  constructor(name: string, reason: string) {
    super('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}: ${reason}`, { name, reason });
  }
}

export class NameUnknownError extends RegistryError {
  constructor(name: string) {
    super('NAME_UNKNOWN', `repository name not known to registry: ${name}`, { name });
  }
}

export class TagInvalidError extends RegistryError {
  constructor(tag: string, reason: string) {
    super('TAG_INVALID', `invalid tag ${JSON.stringify(tag)}: ${reason}`, { tag, reason });
  }
}

export class UnsupportedError extends RegistryError {
  constructor(reason: string) {
    super('UNSUPPORTED', reason, { reason });
  }
}

/** A chunk that does not start where the upload ends (or an unreadable Content-Range): 416. */
export class RangeInvalidError extends RegistryError {
  constructor(reason: string, currentSize: number) {
    super('RANGE_INVALID', reason, { reason, size: currentSize });
  }
}

export class PaginationNumberInvalidError extends RegistryError {
  constructor(value: string) {
    super('PAGINATION_NUMBER_INVALID', `invalid number of results requested: ${JSON.stringify(value)}`, { n: value });
  }
}

export class UnavailableError extends RegistryError {
  constructor(reason: string) {
    super('UNAVAILABLE', reason, { reason });
  }
}
