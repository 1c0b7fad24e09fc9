/** Images pushed through the content model, and a look at which blobs are on disk, for the GC tests. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf, type Digest } from '../../../src/oci/digest.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../../src/oci/mediatypes.js';
import type { Repository } from '../../../src/registry/types.js';
import { pushBlob } from '../helpers.js';

export interface PushedManifest {
  digest: Digest;
  size: number;
  mediaType: string;
  /** Blobs it references (config and layers; children for an index). */
  blobs: Digest[];
}

export const tag = (name: string) => ({ kind: 'tag' as const, tag: name });
export const byDigest = (digest: Digest) => ({ kind: 'digest' as const, digest });

/** An image with its own config and layer, plus the `shared` layers; tagged `tag` or pushed by digest. */
export async function pushImage(
  repo: Repository,
  seed: string,
  options: { tag?: string; shared?: string[]; subject?: PushedManifest } = {},
): Promise<PushedManifest> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layers = [...(options.shared ?? []), `layer of ${seed}`].map((text) => Buffer.from(text));
  const blobs = [await pushBlob(repo, config)];
  for (const layer of layers) blobs.push(await pushBlob(repo, layer));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: blobs[0], size: config.length },
      layers: layers.map((layer, i) => ({ mediaType: OCI_LAYER_GZIP, digest: blobs[i + 1], size: layer.length })),
      ...(options.subject && {
        subject: { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.size },
      }),
    }),
  );
  const digest = digestOf(bytes);
  await repo.manifests.put(bytes, OCI_MANIFEST, options.tag ? tag(options.tag) : byDigest(digest));
  return { digest, size: bytes.length, mediaType: OCI_MANIFEST, blobs };
}

export async function pushIndex(repo: Repository, children: PushedManifest[], tagName: string): Promise<PushedManifest> {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({ mediaType: c.mediaType, digest: c.digest, size: c.size })),
    }),
  );
  const { digest } = await repo.manifests.put(bytes, OCI_INDEX, tag(tagName));
  return { digest, size: bytes.length, mediaType: OCI_INDEX, blobs: children.map((c) => c.digest) };
}

/** Every blob whose data is on disk under `root`. */
export async function blobsOnDisk(root: string): Promise<Set<string>> {
  const found = new Set<string>();
  const base = join(root, 'docker/registry/v2/blobs/sha256');
  for (const prefix of await readdir(base).catch(() => [])) {
    for (const hex of await readdir(join(base, prefix))) {
      if ((await readdir(join(base, prefix, hex))).includes('data')) found.add(`sha256:${hex}`);
    }
  }
  return found;
}
