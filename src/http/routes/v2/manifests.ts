/**
 * `/v2/<name>/manifests/<reference>` (a tag or a digest): PUT stores a manifest (the body is read up to
 * the size limit), GET and HEAD serve exactly the bytes that were pushed, DELETE removes a manifest (by
 * digest) or only a tag (by tag).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseReference } from '../../../oci/reference.js';
import type { ManifestReference, StoredManifest } from '../../../registry/types.js';
import { etagMatches, readLimitedBody, repositoryOf, type Handler, type Handlers } from '../../context.js';

function referenceParam(request: FastifyRequest, value: string): ManifestReference {
  const reference = parseReference(value);
  if (reference.kind === 'digest') request.berth.digest = reference.digest;
  return reference;
}

function setManifestHeaders(request: FastifyRequest, reply: FastifyReply, manifest: StoredManifest): void {
  request.berth.digest = manifest.digest;
  reply.headers({
    'Content-Type': manifest.mediaType,
    'Content-Length': String(manifest.size),
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  });
  if (manifest.warning !== undefined) reply.header('Warning', manifest.warning);
}

const serve: Handler<'manifest'> = async (request, reply, route, ctx) => {
  const manifests = repositoryOf(ctx, request, route.name).manifests;
  const reference = referenceParam(request, route.reference);
  if (request.method === 'HEAD') {
    setManifestHeaders(request, reply, await manifests.stat(reference));
    return reply.send();
  }
  const manifest = await manifests.get(reference);
  setManifestHeaders(request, reply, manifest);
  if (etagMatches(request, manifest.digest)) return reply.code(304).removeHeader('Content-Length').send();
  return reply.send(manifest.bytes);
};

export const manifestHandlers: Handlers<'manifest'> = {
  GET: serve,
  HEAD: serve,

  async PUT(request, reply, route, ctx) {
    const manifests = repositoryOf(ctx, request, route.name).manifests;
    const reference = referenceParam(request, route.reference);
    const bytes = await readLimitedBody(request, ctx.maxManifestBytes);
    const result = await manifests.put(bytes, request.headers['content-type'], reference);
    request.berth.digest = result.digest;
    reply.code(201).headers({
      Location: ctx.urls.location(request, `/v2/${route.name}/manifests/${result.digest}`),
      'Docker-Content-Digest': result.digest,
      'Content-Length': '0',
    });
    if (result.subject) reply.header('OCI-Subject', result.subject);
    return reply.send();
  },

  async DELETE(request, reply, route, ctx) {
    const manifests = repositoryOf(ctx, request, route.name).manifests;
    await manifests.delete(referenceParam(request, route.reference));
    return reply.code(202).header('Content-Length', '0').send();
  },
};
