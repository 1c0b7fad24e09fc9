/**
 * A decorator of `Registry` that feeds Berth's own content metrics: bytes pushed and pulled per repository
 * namespace, and upload sessions started and closed. Counting here, rather than in HTTP hooks, sees the
 * bytes of every body however the client framed it (Content-Length or chunked).
 *
 * Open sessions are `started - closed`: sessions live in storage and may be continued by another replica or
 * after a restart, so counters summed over replicas are right where a per-process gauge would drift.
 */
import type { Digest } from '../oci/digest.js';
import type { Metrics } from '../metrics/index.js';
import type {
  BlobStore,
  ManifestReference,
  ManifestStore,
  Registry,
  Repository,
  UploadSession,
} from './types.js';
import { decorateSession } from './session.js';

type ContentMetrics = Pick<Metrics, 'bytesPushed' | 'bytesPulled' | 'uploadsStarted' | 'uploadsClosed' | 'namespaceLabel'>;

export function withMetrics(registry: Registry, metrics: ContentMetrics): Registry {
  return {
    repository(name) {
      const repository = registry.repository(name);
      const namespace = metrics.namespaceLabel(name);
      return meteredRepository(repository, metrics, namespace);
    },
    catalog: (page) => registry.catalog(page),
  };
}

function meteredRepository(repository: Repository, metrics: ContentMetrics, namespace: string): Repository {
  const { blobs, manifests } = repository;
  const meteredBlobs: BlobStore = {
    stat: (digest) => blobs.stat(digest),
    async open(digest: Digest, range?: { start: number; end?: number }) {
      const content = await blobs.open(digest, range);
      const served = content.range ? content.range.end - content.range.start + 1 : content.descriptor.size;
      metrics.bytesPulled.inc({ namespace }, served);
      return content;
    },
    redirectURL: (digest, method) => blobs.redirectURL(digest, method),
    delete: (digest) => blobs.delete(digest),
    mount: (digest, from) => blobs.mount(digest, from),
    async create() {
      const session = await blobs.create();
      metrics.uploadsStarted.inc();
      return meteredSession(session, metrics, namespace);
    },
    async resume(id) {
      return meteredSession(await blobs.resume(id), metrics, namespace);
    },
  };
  const meteredManifests: ManifestStore = {
    stat: (reference) => manifests.stat(reference),
    async get(reference: ManifestReference) {
      const manifest = await manifests.get(reference);
      metrics.bytesPulled.inc({ namespace }, manifest.size);
      return manifest;
    },
    async put(bytes, contentType, reference) {
      const result = await manifests.put(bytes, contentType, reference);
      metrics.bytesPushed.inc({ namespace }, bytes.length);
      return result;
    },
    delete: (reference) => manifests.delete(reference),
  };
  return { ...repository, name: repository.name, blobs: meteredBlobs, manifests: meteredManifests };
}

function meteredSession(session: UploadSession, metrics: ContentMetrics, namespace: string): UploadSession {
  let closed = false;
  const close = (result: 'committed' | 'cancelled') => {
    if (closed) return;
    closed = true;
    metrics.uploadsClosed.inc({ result });
  };
  const counted = (source: AsyncIterable<Uint8Array>) => counting(source, (n) => metrics.bytesPushed.inc({ namespace }, n));
  return decorateSession(session, {
    append(source, range) {
      return session.append(counted(source), range);
    },
    async commit(expected, last) {
      try {
        const blob = await session.commit(expected, last && { ...last, source: counted(last.source) });
        close('committed');
        return blob;
      } catch (err) {
        // A failed commit cancels the session (see UploadSession.commit).
        close('cancelled');
        throw err;
      }
    },
    async cancel() {
      await session.cancel();
      close('cancelled');
    },
  });
}

async function* counting(source: AsyncIterable<Uint8Array>, add: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    add(chunk.length);
    yield chunk;
  }
}
