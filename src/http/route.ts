/**
 * Reads the resource out of the path after `/v2/`. Repository names contain slashes, so the tail is parsed
 * from the right: the last one or two segments name the resource, everything before them is the name.
 * `a/blobs/uploads/manifests/latest` is therefore the manifest `latest` of repository `a/blobs/uploads`,
 * as in Distribution, whose route patterns anchor on the same suffixes.
 *
 * This module only splits; validation of each part (name, digest, tag, upload id) is the handlers' job,
 * so that a malformed part gets its own error code rather than "no such route".
 */

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

export type RouteKind = Route['kind'];

/** Parses the (decoded) path after `/v2/`, without the query. Undefined when it names no resource. */
export function parseRoute(tail: string): Route | undefined {
  if (tail === '') return { kind: 'base' };
  if (tail === '_catalog') return { kind: 'catalog' };
  const segments = tail.split('/');
  // `/v2/<name>/blobs/uploads/` and `.../uploads` both start an upload.
  if (segments.at(-1) === '') segments.pop();
  const n = segments.length;
  const last = segments[n - 1] ?? '';
  const nameBefore = (count: number): string | undefined => {
    if (n <= count) return undefined;
    return segments.slice(0, n - count).join('/');
  };

  if (segments[n - 2] === 'tags' && last === 'list') {
    const name = nameBefore(2);
    return name === undefined ? undefined : { kind: 'tags', name };
  }
  if (segments[n - 2] === 'manifests') {
    const name = nameBefore(2);
    return name === undefined ? undefined : { kind: 'manifest', name, reference: last };
  }
  if (segments[n - 2] === 'referrers') {
    const name = nameBefore(2);
    return name === undefined ? undefined : { kind: 'referrers', name, digest: last };
  }
  if (segments[n - 2] === 'blobs' && last === 'uploads') {
    const name = nameBefore(2);
    return name === undefined ? undefined : { kind: 'uploads', name };
  }
  if (segments[n - 3] === 'blobs' && segments[n - 2] === 'uploads') {
    const name = nameBefore(3);
    return name === undefined ? undefined : { kind: 'upload', name, id: last };
  }
  if (segments[n - 2] === 'blobs') {
    const name = nameBefore(2);
    return name === undefined ? undefined : { kind: 'blob', name, digest: last };
  }
  return undefined;
}
