/**
 * The content model's interfaces: what `http/` (and later proxy, events, quotas) see of the registry.
 * Implementations live beside this file; decorators wrap these interfaces instead of copying them.
 * Every method throws the domain errors of `oci/errors.ts` (BLOB_UNKNOWN, MANIFEST_UNKNOWN, ...).
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import type { LocalFileRange } from '../storage/driver.js';

export interface BlobDescriptor {
  digest: Digest;
  size: number;
}

/** An inclusive byte range, as in HTTP's `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobContent {
  descriptor: BlobDescriptor;
  /** The bytes of the requested range (or all of them). */
  stream: Readable;
  /** The range served, when one was asked for. */
  range?: ByteRange;
  /** The same bytes as a range of a local file that `stream` holds open, when they are one (see LocalFileRange). */
  file?: LocalFileRange;
}

export interface BlobStore {
  /** Throws BLOB_UNKNOWN unless the blob is linked into this repository. */
  stat(digest: Digest): Promise<BlobDescriptor>;
  /** Streams a blob, or the part of it `range` names (clamped to its size; RANGE_INVALID when unsatisfiable). */
  open(digest: Digest, range?: { start: number; end?: number }): Promise<BlobContent>;
  /** A URL the client may be redirected to instead, when the storage driver offers one. */
  redirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined>;
  /** Unlinks the blob from this repository. UNSUPPORTED when deletes are disabled. */
  delete(digest: Digest): Promise<void>;
  /**
   * Links a blob that already exists into this repository: from repository `from` when given (it must be
   * linked there), or from anywhere in the registry when not. Undefined when it could not be mounted.
   */
  mount(digest: Digest, from?: string): Promise<BlobDescriptor | undefined>;
  /** Starts an upload session. */
  create(): Promise<UploadSession>;
  /** Continues an upload session, also one started before a restart. BLOB_UPLOAD_UNKNOWN when there is none. */
  resume(id: string): Promise<UploadSession>;
}

/** A chunk of an upload: its bytes and, when the client said, where they go. */
export interface Chunk {
  source: AsyncIterable<Uint8Array>;
  range?: ByteRange;
}

export interface UploadSession {
  readonly id: string;
  /** Bytes received so far. */
  readonly size: number;
  /**
   * Appends a chunk. With `range`, the chunk must start exactly at `size` (else RANGE_INVALID, carrying the
   * current size) and be `end - start + 1` bytes long.
   */
  append(source: AsyncIterable<Uint8Array>, range?: ByteRange): Promise<void>;
  /**
   * Verifies that what was received has digest `expected` and makes it visible in the repository.
   * On DIGEST_INVALID (or any failure) the session is cancelled, as Distribution does. A `last` chunk is
   * appended first, in the same step (as `append` would, and failing as it would without cancelling).
   */
  commit(expected: Digest, last?: Chunk): Promise<BlobDescriptor>;
  /** Drops the session and its data. Safe to call twice. */
  cancel(): Promise<void>;
}

export interface StoredManifest {
  digest: Digest;
  /** The Content-Type to serve: the media type the stored bytes declare. */
  mediaType: string;
  size: number;
  /**
   * An RFC 7234 `Warning` value to answer with, e.g. when a pull-through cache serves a tag it could not
   * re-check upstream (`110 - "Response is Stale: ..."`).
   */
  warning?: string;
}

export interface ManifestContent extends StoredManifest {
  /** Exactly the bytes that were pushed. */
  bytes: Buffer;
}

/** A manifest reference from a URL: a tag, or a digest. */
export type ManifestReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

export interface PutManifestResult {
  digest: Digest;
  /** The digest of the manifest's `subject`, when it has one (answered as `OCI-Subject`). */
  subject?: Digest;
}

export interface ManifestStore {
  /** MANIFEST_UNKNOWN when the tag or digest is not in this repository. */
  stat(reference: ManifestReference): Promise<StoredManifest>;
  get(reference: ManifestReference): Promise<ManifestContent>;
  /**
   * Validates and stores a manifest; a tag reference also moves the tag. A digest reference must match the
   * bytes (DIGEST_INVALID otherwise). MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN for bad content.
   */
  put(bytes: Buffer, contentType: string | undefined, reference: ManifestReference): Promise<PutManifestResult>;
  /** By digest: removes the manifest and every tag pointing at it. By tag: removes only the tag. */
  delete(reference: ManifestReference): Promise<void>;
}

export interface Page<T> {
  items: T[];
  /** True when entries after the last one returned exist (the handler then sends `Link: rel="next"`). */
  more: boolean;
}

/** Pagination as in `?n=&last=`: at most `n` entries lexically after `last`. */
export interface PageRequest {
  n?: number;
  last?: string;
}

export interface TagStore {
  /** MANIFEST_UNKNOWN when the tag does not exist. */
  resolve(tag: string): Promise<Digest>;
  /** NAME_UNKNOWN when the repository does not exist. */
  list(page: PageRequest): Promise<Page<string>>;
}

export interface Referrers {
  /** Manifests in this repository whose `subject` is `subject`; [] when none or the subject is unknown. */
  list(subject: Digest, filter?: { artifactType?: string }): Promise<Descriptor[]>;
}

export interface Repository {
  readonly name: string;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  readonly referrers: Referrers;
}

/** What a request says about the repository beyond its name. */
export interface RepositoryHints {
  /**
   * containerd's mirror query `?ns=<registry host>`: the registry the client meant. A pull-through cache uses
   * it to pick the upstream; a plain registry ignores it.
   */
  namespace?: string;
}

export interface Registry {
  /** NAME_INVALID when the name breaks the grammar. The repository need not exist yet. */
  repository(name: string, hints?: RepositoryHints): Repository;
  /** Repository names in lexical order. */
  catalog(page: PageRequest): Promise<Page<string>>;
}
