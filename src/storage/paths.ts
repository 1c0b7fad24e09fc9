/**
 * The key layout, exactly Distribution's (`registry/storage/paths.go`), so that Berth and registry:2 can
 * serve the same directory or bucket. Everything lives under one root:
 *
 *   /docker/registry/v2/
 *     blobs/<alg>/<first 2 hex>/<hex>/data                 content, manifests included, stored once
 *     blobs/<alg>/<first 2 hex>/<hex>/lease                Berth only: renewed by every push that relies on the blob
 *     blobs/<alg>/<first 2 hex>/<hex>/sweeping             Berth only: present while garbage collection deletes it
 *     repositories/<name>/                                 <name> may contain slashes
 *       _layers/<alg>/<hex>/link                           blob linked into the repository ("<alg>:<hex>")
 *       _manifests/revisions/<alg>/<hex>/link              manifest present in the repository
 *       _manifests/tags/<tag>/current/link                 what the tag points at now
 *       _manifests/tags/<tag>/index/<alg>/<hex>/link       every manifest the tag has pointed at
 *       _manifests/referrers/<alg>/<hex>/<alg>/<hex>/link  Berth only: subject -> manifest whose subject it is
 *       _uploads/<id>/data                                 bytes received so far
 *       _uploads/<id>/startedat                            RFC 3339 start time (upload purging reads it)
 *       _uploads/<id>/hashstates/<alg>/<offset>            running hash over the first <offset> bytes
 *       _uploads/<id>/berthhashstate.<alg>                 Berth only: the latest such state, valid until the host restarts
 *
 * A link file holds the digest it names, with no newline. Distribution ignores `_manifests/referrers`: its
 * catalog walk skips `_`-prefixed directories below a repository and its manifest and tag walks read only
 * `revisions` and `tags`. The referrers index is derived data: it can be rebuilt from the revisions, and an
 * entry whose manifest is gone is ignored when read.
 *
 * `lease` and `sweeping` belong to online garbage collection (see `registry/gc/lease.ts`). Distribution
 * enumerates only `data` files and its GC removes a blob's whole directory, so it is unaffected by them.
 */
import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js';

export const ROOT = '/docker/registry/v2';
export const BLOBS_ROOT = `${ROOT}/blobs`;
export const REPOSITORIES_ROOT = `${ROOT}/repositories`;

function digestDir(digest: Digest): string {
  return `${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

export function blobDir(digest: Digest): string {
  const hex = digestHex(digest);
  return `${BLOBS_ROOT}/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
}

export function blobDataPath(digest: Digest): string {
  return `${blobDir(digest)}/data`;
}

export function blobLeasePath(digest: Digest): string {
  return `${blobDir(digest)}/lease`;
}

export function blobSweepingPath(digest: Digest): string {
  return `${blobDir(digest)}/sweeping`;
}

export function repositoryPath(name: string): string {
  return `${REPOSITORIES_ROOT}/${name}`;
}

export function layersDir(name: string): string {
  return `${repositoryPath(name)}/_layers`;
}

export function layerLinkPath(name: string, digest: Digest): string {
  return `${layersDir(name)}/${digestDir(digest)}/link`;
}

export function manifestsDir(name: string): string {
  return `${repositoryPath(name)}/_manifests`;
}

export function manifestRevisionsDir(name: string): string {
  return `${manifestsDir(name)}/revisions`;
}

export function manifestRevisionLinkPath(name: string, digest: Digest): string {
  return `${manifestRevisionsDir(name)}/${digestDir(digest)}/link`;
}

export function tagsDir(name: string): string {
  return `${manifestsDir(name)}/tags`;
}

export function tagDir(name: string, tag: string): string {
  return `${tagsDir(name)}/${tag}`;
}

export function tagCurrentLinkPath(name: string, tag: string): string {
  return `${tagDir(name, tag)}/current/link`;
}

export function tagIndexDir(name: string, tag: string): string {
  return `${tagDir(name, tag)}/index`;
}

export function tagIndexLinkPath(name: string, tag: string, digest: Digest): string {
  return `${tagIndexDir(name, tag)}/${digestDir(digest)}/link`;
}

export function referrersDir(name: string, subject: Digest): string {
  return `${manifestsDir(name)}/referrers/${digestDir(subject)}`;
}

export function referrerLinkPath(name: string, subject: Digest, referrer: Digest): string {
  return `${referrersDir(name, subject)}/${digestDir(referrer)}/link`;
}

export function uploadsDir(name: string): string {
  return `${repositoryPath(name)}/_uploads`;
}

export function uploadDir(name: string, id: string): string {
  return `${uploadsDir(name)}/${id}`;
}

export function uploadDataPath(name: string, id: string): string {
  return `${uploadDir(name, id)}/data`;
}

export function uploadStartedAtPath(name: string, id: string): string {
  return `${uploadDir(name, id)}/startedat`;
}

/** The saved state of an upload's running hash over its first `offset` bytes (Distribution's layout). */
export function uploadHashStatePath(name: string, id: string, algorithm: string, offset: number): string {
  return `${uploadDir(name, id)}/hashstates/${algorithm}/${offset}`;
}

/**
 * The latest state of an upload's running hash (which says how many bytes it covers), followed by the host's
 * boot id (`StorageDriver.unsyncedEpoch`): it describes bytes not yet synced, so it holds only until the host
 * restarts. One file per upload, rewritten in place by every chunk. Berth's own: Distribution reads only
 * `hashstates`.
 */
export function uploadEpochHashStatePath(name: string, id: string, algorithm: string): string {
  return `${uploadDir(name, id)}/berthhashstate.${algorithm}`;
}

/** The last component of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
