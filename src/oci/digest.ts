/**
 * Content digests: `algorithm ":" encoded`, as defined by the OCI Image Spec's descriptor section.
 * Berth verifies sha256 and sha512 (the two registered algorithms); any other well-formed algorithm is
 * refused as unsupported rather than stored unverified.
 */
import { createHash, type Hash } from 'node:crypto';
import { DigestInvalidError } from './errors.js';
import { ResumableSha256 } from './resumable-sha256.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

/** A digest string known to be well formed and of a supported algorithm, e.g. `sha256:e3b0…`. */
export type Digest = string & { readonly __digest: unique symbol };

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// Grammar from the image spec: algorithm-component (separator algorithm-component)* ":" encoded
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return value === 'sha256' || value === 'sha512';
}

/** Checks a digest string, throwing DIGEST_INVALID with the reason when it is not usable. */
export function parseDigest(value: string): Digest {
  if (!DIGEST_GRAMMAR.test(value)) throw new DigestInvalidError(`malformed digest: ${JSON.stringify(value)}`, value);
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (!isDigestAlgorithm(algorithm)) {
    throw new DigestInvalidError(`unsupported digest algorithm: ${algorithm}`, value);
  }
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(encoded)) {
    throw new DigestInvalidError(
      `a ${algorithm} digest must be ${ENCODED_LENGTH[algorithm]} lowercase hex characters`,
      value,
    );
  }
  return value as Digest;
}

export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function makeDigest(algorithm: DigestAlgorithm, hex: string): Digest {
  return `${algorithm}:${hex}` as Digest;
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return makeDigest(algorithm, createHash(algorithm).update(bytes).digest('hex'));
}

/** Incremental digest over bytes as they flow past. */
export class Digester {
  private readonly hash: Hash | ResumableSha256;
  private count: number;

  /** `resumed`: a SHA-256 hash continued from a saved state of `size` bytes (see `restore`). */
  constructor(readonly algorithm: DigestAlgorithm = 'sha256', resumed?: { hash: ResumableSha256; size: number }) {
    this.hash = resumed?.hash ?? (algorithm === 'sha256' ? ResumableSha256.create() : undefined) ?? createHash(algorithm);
    this.count = resumed?.size ?? 0;
  }

  /**
   * A SHA-256 digester continued from `saved` (what `save` answered), or undefined when the state is not
   * one of `size` bytes or cannot be restored here (no addon).
   */
  static restore(saved: Uint8Array, size: number): Digester | undefined {
    const hash = ResumableSha256.restore(saved, size);
    return hash && new Digester('sha256', { hash, size });
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.count;
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.count += chunk.length;
  }

  digest(): Digest {
    return makeDigest(this.algorithm, this.hash instanceof ResumableSha256 ? this.hash.hex() : this.hash.copy().digest('hex'));
  }

  /** The hash's state, for `restore` in this or another process; undefined if it cannot be saved. */
  save(): Buffer | undefined {
    return this.hash instanceof ResumableSha256 ? this.hash.save() : undefined;
  }
}
