/**
 * What a stored manifest keeps alive, read the way Distribution 2.8's `Manifest.References()` reads it:
 * config and layers of an image manifest (OCI or Docker schema2), the children of an index or manifest list,
 * the `fsLayers` of a schema1 manifest an older registry left behind. The `subject` is reported apart: it
 * does not keep its subject alive, it is kept alive by it.
 *
 * Stored bytes were validated when pushed (possibly by another registry), so this reads leniently, but a
 * manifest it cannot read at all stops the collection: marking without it could delete what it needs.
 */
import { isDigest, type Digest } from '../../oci/digest.js';

export interface ManifestReferences {
  /** Every digest the manifest references (children included), in document order. */
  references: Digest[];
  /** Index or manifest list children: manifests that must stay in the repository with it. */
  children: Digest[];
  subject?: Digest;
}

export class UnreadableManifestError extends Error {
  constructor(
    readonly repository: string,
    readonly digest: Digest,
    reason: string,
  ) {
    super(`${repository}@${digest}: cannot read the stored manifest (${reason}); refusing to collect garbage`);
    this.name = 'UnreadableManifestError';
  }
}

function digestsOf(list: unknown, key: string): Digest[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: unknown) => {
    const value = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[key] : undefined;
    return typeof value === 'string' && isDigest(value) ? [value] : [];
  });
}

export function manifestReferences(repository: string, digest: Digest, bytes: Buffer): ManifestReferences {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new UnreadableManifestError(repository, digest, (err as Error).message);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new UnreadableManifestError(repository, digest, 'not a JSON object');
  }
  const doc = body as Record<string, unknown>;
  const children = digestsOf(doc.manifests, 'digest');
  const config = digestsOf(doc.config === undefined ? [] : [doc.config], 'digest');
  const references = [...config, ...digestsOf(doc.layers, 'digest'), ...children, ...digestsOf(doc.fsLayers, 'blobSum')];
  const subject = digestsOf(doc.subject === undefined ? [] : [doc.subject], 'digest')[0];
  return { references, children, ...(subject !== undefined && { subject }) };
}
