/**
 * Plain registry API calls with fetch, for what no client here does: pushing artifacts with a subject,
 * asking for referrers, and poking at blobs directly. Every call checks its status and throws with the
 * response body otherwise.
 */
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Descriptor } from './oci-layout.js';

async function expectStatus(response: Response, expected: number[], what: string): Promise<Response> {
  if (!expected.includes(response.status)) {
    throw new Error(`${what}: expected ${expected.join(' or ')}, got ${response.status}: ${await response.text()}`);
  }
  return response;
}

/** POST then PUT with `?digest=` and the whole body: a monolithic upload in two requests. */
export async function pushBlob(registryUrl: string, repo: string, bytes: Buffer, digest: string): Promise<void> {
  const location = await startUpload(registryUrl, repo);
  const target = new URL(location, registryUrl);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: bytes,
  });
  await expectStatus(put, [201], `PUT blob ${digest}`);
}

/**
 * Finishes an upload with one streamed `PUT ?digest=` of `size` bytes, for blobs too large to hold in memory.
 * Resolves to the status; rejects if the connection breaks (which crash tests cause on purpose).
 */
export async function putBlobStream(
  location: string,
  registryUrl: string,
  digest: string,
  size: number,
  body: AsyncIterable<Buffer>,
): Promise<number> {
  const target = new URL(location, registryUrl);
  target.searchParams.set('digest', digest);
  const req = request(target, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
  });
  const response = new Promise<number>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
  });
  await Promise.all([pipeline(Readable.from(body), req), response]);
  return response;
}

/** Opens an upload session and returns its Location (absolute or relative to the registry). */
export async function startUpload(registryUrl: string, repo: string): Promise<string> {
  const post = await expectStatus(
    await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' }),
    [202],
    `POST upload to ${repo}`,
  );
  const location = post.headers.get('location');
  if (!location) throw new Error(`POST upload to ${repo}: no Location header`);
  return location;
}

export async function putManifest(
  registryUrl: string,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<Response> {
  const response = await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: bytes,
  });
  return expectStatus(response, [201], `PUT manifest ${repo}:${reference}`);
}

/** GET a manifest by tag or digest, accepting every manifest type; returns the exact bytes and headers. */
export async function getManifest(
  registryUrl: string,
  repo: string,
  reference: string,
): Promise<{ bytes: Buffer; digest: string | null; mediaType: string | null }> {
  const response = await expectStatus(
    await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, {
      headers: {
        accept: [
          'application/vnd.oci.image.manifest.v1+json',
          'application/vnd.oci.image.index.v1+json',
          'application/vnd.docker.distribution.manifest.v2+json',
          'application/vnd.docker.distribution.manifest.list.v2+json',
        ].join(', '),
      },
    }),
    [200],
    `GET manifest ${repo}:${reference}`,
  );
  return {
    bytes: Buffer.from(await response.arrayBuffer()),
    digest: response.headers.get('docker-content-digest'),
    mediaType: response.headers.get('content-type'),
  };
}

export async function headBlobStatus(registryUrl: string, repo: string, digest: string): Promise<number> {
  return (await fetch(`${registryUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

export async function getBlob(registryUrl: string, repo: string, digest: string): Promise<Buffer> {
  const response = await expectStatus(
    await fetch(`${registryUrl}/v2/${repo}/blobs/${digest}`),
    [200],
    `GET blob ${repo}@${digest}`,
  );
  return Buffer.from(await response.arrayBuffer());
}

export interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

export async function getReferrers(
  registryUrl: string,
  repo: string,
  subjectDigest: string,
  artifactType?: string,
): Promise<{ index: ReferrersIndex; contentType: string | null; filtersApplied: string | null }> {
  const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
  const response = await expectStatus(
    await fetch(`${registryUrl}/v2/${repo}/referrers/${subjectDigest}${query}`),
    [200],
    `GET referrers of ${repo}@${subjectDigest}`,
  );
  return {
    index: (await response.json()) as ReferrersIndex,
    contentType: response.headers.get('content-type'),
    filtersApplied: response.headers.get('oci-filters-applied'),
  };
}
