/**
 * A decorator of `Registry` that turns successful operations into events, as Distribution's
 * `notifications/listener.go` + `bridge.go` do:
 *
 *   manifest GET (by tag or digest)  pull   target: mediaType, size, digest, length, repository, url, tag?
 *   manifest PUT                     push   the same, tag when pushed by tag
 *   manifest DELETE by digest        delete target: digest, repository
 *   manifest DELETE by tag           delete target: repository, tag
 *   blob GET (or its redirect)       pull   target: mediaType, size, digest, length, repository, url
 *   blob upload committed            push   the same
 *   blob mounted                     mount  the same, fromRepository when named
 *   blob DELETE                      delete target: digest, repository
 *
 * One difference, on purpose: HEAD requests (existence checks, which clients make before every push) are not
 * pulls; Distribution 2.8 reports them as pulls too. The event is handed to the sink, which queues it
 * durably, before the operation returns to the HTTP layer. Failed operations produce no event.
 */
import type { Digest } from '../oci/digest.js';
import { mediaTypeOfStored, parseManifest, type Descriptor } from '../oci/manifest.js';
import type {
  BlobDescriptor,
  BlobStore,
  ManifestContent,
  ManifestReference,
  ManifestStore,
  Registry,
  Repository,
  UploadSession,
} from '../registry/types.js';
import { decorateSession } from '../registry/session.js';
import { createEvent, type EventAction, type EventContext, type EventSink, type EventTarget } from './event.js';

/** Blobs have no media type of their own; Distribution describes them all as this. */
const BLOB_MEDIA_TYPE = 'application/octet-stream';

export interface ListenOptions {
  sink: EventSink;
  context: EventContext;
  /** `notifications.events.includereferences`. */
  includeReferences: boolean;
}

export function withEvents(registry: Registry, options: ListenOptions): Registry {
  return {
    repository: (name, hints) => listenRepository(registry.repository(name, hints), options),
    catalog: (page) => registry.catalog(page),
  };
}

function listenRepository(repository: Repository, options: ListenOptions): Repository {
  const { sink, context } = options;
  const name = repository.name;
  const emit = (action: EventAction, target: EventTarget) => sink.write(createEvent(context, action, { repository: name, ...target }));
  const blobEvent = (action: EventAction, blob: BlobDescriptor, extra: EventTarget = {}) =>
    emit(action, {
      mediaType: BLOB_MEDIA_TYPE,
      size: blob.size,
      digest: blob.digest,
      length: blob.size,
      url: context.urls.blob(name, blob.digest),
      ...extra,
    });
  const manifestEvent = (action: EventAction, manifest: ManifestContent, tag?: string) =>
    emit(action, {
      mediaType: manifest.mediaType,
      size: manifest.size,
      digest: manifest.digest,
      length: manifest.size,
      url: context.urls.manifest(name, manifest.digest),
      tag,
      references: options.includeReferences ? referencesOf(manifest.bytes, manifest.mediaType) : undefined,
    });
  const tagOf = (reference: ManifestReference) => (reference.kind === 'tag' ? reference.tag : undefined);

  const { blobs, manifests } = repository;
  const listenedBlobs: BlobStore = {
    stat: (digest) => blobs.stat(digest),
    async open(digest, range) {
      const content = await blobs.open(digest, range);
      await blobEvent('pull', content.descriptor);
      return content;
    },
    async redirectURL(digest, method) {
      const url = await blobs.redirectURL(digest, method);
      if (url !== undefined && method === 'GET') await blobEvent('pull', await blobs.stat(digest));
      return url;
    },
    async delete(digest: Digest) {
      await blobs.delete(digest);
      await emit('delete', { digest });
    },
    async mount(digest, from) {
      const mounted = await blobs.mount(digest, from);
      if (mounted) await blobEvent('mount', mounted, { fromRepository: from });
      return mounted;
    },
    create: async () => listenSession(await blobs.create(), blobEvent),
    resume: async (id) => listenSession(await blobs.resume(id), blobEvent),
  };
  const listenedManifests: ManifestStore = {
    stat: (reference) => manifests.stat(reference),
    async get(reference) {
      const manifest = await manifests.get(reference);
      await manifestEvent('pull', manifest, tagOf(reference));
      return manifest;
    },
    async put(bytes, contentType, reference) {
      const result = await manifests.put(bytes, contentType, reference);
      const mediaType = mediaTypeOfStored(bytes);
      await manifestEvent('push', { digest: result.digest, mediaType, size: bytes.length, bytes }, tagOf(reference));
      return result;
    },
    async delete(reference) {
      await manifests.delete(reference);
      await emit('delete', reference.kind === 'tag' ? { tag: reference.tag } : { digest: reference.digest });
    },
  };
  return { ...repository, name, blobs: listenedBlobs, manifests: listenedManifests };
}

function listenSession(
  session: UploadSession,
  blobEvent: (action: EventAction, blob: BlobDescriptor) => Promise<void>,
): UploadSession {
  return decorateSession(session, {
    async commit(expected, last) {
      const blob = await session.commit(expected, last);
      await blobEvent('push', blob);
      return blob;
    },
  });
}

/** The manifest's references as Distribution lists them: config then layers, or an index's children. */
function referencesOf(bytes: Buffer, mediaType: string): Descriptor[] {
  try {
    const parsed = parseManifest(bytes, mediaType);
    return parsed.kind === 'index' ? parsed.manifests : [...(parsed.config ? [parsed.config] : []), ...parsed.layers];
  } catch {
    // Stored before validation was this strict; the event goes out without references.
    return [];
  }
}
