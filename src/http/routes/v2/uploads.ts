/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` starts one (or mounts a blob, or takes the whole blob
 * monolithically with `?digest=`), and `/v2/<name>/blobs/uploads/<id>` continues it: PATCH appends a chunk,
 * GET reports progress (204), PUT `?digest=` finishes it, DELETE cancels it.
 *
 * Bodies are streamed from the socket into the session, never buffered. The upload id in the URL is
 * opaque to clients; the registry validates it before it touches storage.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDigest, type Digest } from '../../../oci/digest.js';
import { BlobUploadUnknownError, RangeInvalidError, SizeInvalidError } from '../../../oci/errors.js';
import type { ByteRange, Chunk, Repository, UploadSession } from '../../../registry/types.js';
import {
  contentLength,
  digestParam,
  hasBody,
  queryParam,
  repositoryOf,
  type HandlerContext,
  type Handlers,
} from '../../context.js';
import { parseContentRange, uploadRange } from '../../range.js';
import { requestBody } from '../../receive.js';

function uploadLocation(request: FastifyRequest, ctx: HandlerContext, name: string, id: string): string {
  return ctx.urls.location(request, `/v2/${name}/blobs/uploads/${id}`);
}

/** 202 with where to continue: the answer to POST and PATCH. */
function sendProgress(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: HandlerContext,
  name: string,
  session: UploadSession,
  status: 202 | 204,
): FastifyReply {
  return reply
    .code(status)
    .headers({
      Location: uploadLocation(request, ctx, name, session.id),
      Range: uploadRange(session.size),
      'Docker-Upload-UUID': session.id,
      'Content-Length': '0',
    })
    .send();
}

function sendCreated(request: FastifyRequest, reply: FastifyReply, ctx: HandlerContext, name: string, digest: Digest) {
  request.berth.digest = digest;
  return reply
    .code(201)
    .headers({
      Location: ctx.urls.location(request, `/v2/${name}/blobs/${digest}`),
      'Docker-Content-Digest': digest,
      'Content-Length': '0',
    })
    .send();
}

/** The chunk's range from `Content-Range`, checked against `Content-Length` when both are given. */
function chunkRange(request: FastifyRequest, session: UploadSession): ByteRange | undefined {
  const header = request.headers['content-range'];
  if (header === undefined) return undefined;
  const range = parseContentRange(header);
  if (!range) throw new RangeInvalidError(`unreadable Content-Range: ${JSON.stringify(header)}`, session.size);
  const length = contentLength(request);
  if (length !== undefined && length !== range.end - range.start + 1) {
    throw new SizeInvalidError(`Content-Range ${header} does not match Content-Length ${length}`);
  }
  return range;
}

/**
 * An upload request's body: large ones are read by the addon, which closes the connection afterwards (see
 * receive.ts). The client's next PATCH may then reach another worker or replica; it continues the upload's
 * hash from the state the last one saved.
 */
function uploadBody(request: FastifyRequest, reply: FastifyReply, ctx: HandlerContext): AsyncIterable<Uint8Array> {
  return requestBody(request.raw, reply.raw, ctx.directUploads);
}

/**
 * Streams the request body into the session (through `write`, given the chunk). A RANGE_INVALID answer (416)
 * carries where the upload stands, so the client can resume from there.
 */
async function withBody<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: HandlerContext,
  name: string,
  session: UploadSession,
  write: (chunk: Chunk) => Promise<T>,
): Promise<T> {
  try {
    const range = chunkRange(request, session);
    return await write({ source: uploadBody(request, reply, ctx), ...(range && { range }) });
  } catch (err) {
    if (err instanceof RangeInvalidError) {
      err
        .withHeader('Range', uploadRange(session.size))
        .withHeader('Location', uploadLocation(request, ctx, name, session.id))
        .withHeader('Docker-Upload-UUID', session.id);
    }
    throw err;
  }
}

/**
 * `?mount=<digest>[&from=<repo>]`: links an existing blob instead of uploading it. An unusable digest or
 * `from` is not an error: the spec says the registry then starts an ordinary upload.
 */
async function tryMount(repository: Repository, request: FastifyRequest): Promise<Digest | undefined> {
  const mount = queryParam(request, 'mount');
  if (mount === undefined || !isDigest(mount)) return undefined;
  // The registry declines (undefined) a `from` that is not a valid name or does not hold the blob.
  const from = queryParam(request, 'from');
  const mounted = await repository.blobs.mount(mount, from);
  return mounted?.digest;
}

/** Upload ids are ours (UUIDs); anything else cannot name a session, nor a path outside the uploads. */
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

async function resume(request: FastifyRequest, ctx: HandlerContext, name: string, id: string) {
  const repository = repositoryOf(ctx, request, name);
  if (!UPLOAD_ID.test(id)) throw new BlobUploadUnknownError(id);
  return repository.blobs.resume(id);
}

export const uploadsHandlers: Handlers<'uploads'> = {
  async POST(request, reply, route, ctx) {
    const repository = repositoryOf(ctx, request, route.name);
    const mounted = await tryMount(repository, request);
    if (mounted) return sendCreated(request, reply, ctx, route.name, mounted);

    const digestValue = queryParam(request, 'digest');
    if (digestValue !== undefined) {
      const digest = digestParam(request, digestValue);
      const session = await repository.blobs.create();
      let blob;
      try {
        blob = await session.commit(digest, { source: uploadBody(request, reply, ctx) });
      } catch (err) {
        // The session is useless without the body, which is gone.
        await session.cancel();
        throw err;
      }
      return sendCreated(request, reply, ctx, route.name, blob.digest);
    }

    const session = await repository.blobs.create();
    return sendProgress(request, reply, ctx, route.name, session, 202);
  },
};

export const uploadHandlers: Handlers<'upload'> = {
  async GET(request, reply, route, ctx) {
    const session = await resume(request, ctx, route.name, route.id);
    return sendProgress(request, reply, ctx, route.name, session, 204);
  },

  async PATCH(request, reply, route, ctx) {
    const session = await resume(request, ctx, route.name, route.id);
    await withBody(request, reply, ctx, route.name, session, ({ source, range }) => session.append(source, range));
    return sendProgress(request, reply, ctx, route.name, session, 202);
  },

  async PUT(request, reply, route, ctx) {
    const digest = digestParam(request, queryParam(request, 'digest'));
    const session = await resume(request, ctx, route.name, route.id);
    const blob = hasBody(request)
      ? await withBody(request, reply, ctx, route.name, session, (last) => session.commit(digest, last))
      : await session.commit(digest);
    return sendCreated(request, reply, ctx, route.name, blob.digest);
  },

  async DELETE(request, reply, route, ctx) {
    const session = await resume(request, ctx, route.name, route.id);
    await session.cancel();
    return reply.code(204).send();
  },
};
