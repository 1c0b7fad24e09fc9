/**
 * `/v2/<name>/blobs/<digest>`: GET and HEAD serve a blob (whole, a single byte range, or a 307 to the
 * storage's own URL when redirects are on); DELETE unlinks it from the repository.
 *
 * Blobs are immutable, so the digest is a strong ETag and responses may be cached for a year.
 */
import type { FastifyReply } from 'fastify';
import { RangeInvalidError } from '../../../oci/errors.js';
import type { BlobDescriptor } from '../../../registry/types.js';
import { digestParam, etagMatches, repositoryOf, type Handler, type Handlers } from '../../context.js';
import { resolveRange } from '../../range.js';
import { canSendfile, SendfileBody } from '../../sendfile.js';

function setBlobHeaders(reply: FastifyReply, blob: BlobDescriptor): void {
  reply.headers({
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': blob.digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${blob.digest}"`,
    'Cache-Control': 'max-age=31536000',
  });
}

const serve: Handler<'blob'> = async (request, reply, route, ctx) => {
  const method = request.method === 'HEAD' ? 'HEAD' : 'GET';
  const blobs = repositoryOf(ctx, request, route.name).blobs;
  const digest = digestParam(request, route.digest);
  const blob = await blobs.stat(digest);

  if (ctx.redirect) {
    const url = await blobs.redirectURL(digest, method);
    if (url !== undefined) return reply.code(307).header('Location', url).send();
  }
  setBlobHeaders(reply, blob);
  if (etagMatches(request, digest)) return reply.code(304).send();

  const range = method === 'GET' ? resolveRange(request.headers.range, blob.size) : undefined;
  if (range === 'unsatisfiable') {
    throw new RangeInvalidError(`no byte of the ${blob.size}-byte blob is in ${request.headers.range}`, blob.size)
      .withHeader('Content-Range', `bytes */${blob.size}`);
  }
  if (method === 'HEAD') return reply.header('Content-Length', String(blob.size)).send();

  const content = await blobs.open(digest, range);
  if (content.range) {
    const { start, end } = content.range;
    reply.code(206).headers({
      'Content-Range': `bytes ${start}-${end}/${content.descriptor.size}`,
      'Content-Length': String(end - start + 1),
    });
  } else {
    reply.header('Content-Length', String(content.descriptor.size));
  }
  // Only a local file's bytes can be handed to the kernel; the body is the same either way.
  if (content.file && content.file.length > 0 && ctx.sendfile && canSendfile(reply.raw)) {
    return reply.send(new SendfileBody(reply.raw, content.file, content.stream));
  }
  return reply.send(content.stream);
};

export const blobHandlers: Handlers<'blob'> = {
  GET: serve,
  HEAD: serve,
  async DELETE(request, reply, route, ctx) {
    const blobs = repositoryOf(ctx, request, route.name).blobs;
    await blobs.delete(digestParam(request, route.digest));
    return reply.code(202).header('Content-Length', '0').send();
  },
};
