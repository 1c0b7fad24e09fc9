/**
 * The one table of wire error codes, and the mapping from anything thrown to the error envelope
 * `{"errors":[{"code","message","detail"}]}`.
 *
 * Statuses and messages are Distribution 2.8's (`registry/api/errcode/register.go`), so clients that match on
 * them see the same answers; two differ from what one might guess: MANIFEST_BLOB_UNKNOWN is a 400 (the
 * manifest is the bad input) and BLOB_UPLOAD_INVALID a 404. `docs/errors.md` documents every row.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError, type ErrorCode } from '../oci/errors.js';

export interface ErrorCodeDescriptor {
  status: number;
  message: string;
}

export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorCodeDescriptor>> = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 404, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown' },
  MANIFEST_UNVERIFIED: { status: 400, message: 'manifest failed signature verification' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'The operation is unsupported.' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  UNKNOWN: { status: 500, message: 'unknown error' },
};

/**
 * An error whose HTTP status differs from its code's usual one: e.g. a manifest over the size limit is
 * MANIFEST_INVALID but answered 413, and an unknown endpoint is a 404.
 */
export class HttpError extends RegistryError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    detail?: unknown,
  ) {
    super(code, message, detail);
  }
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { errors: { code: ErrorCode; message: string; detail?: unknown }[] };
  /** Set when the cause is not a client error and belongs in the log. */
  unexpected?: unknown;
}

/** Fastify's own client errors that can reach the handler, and what they mean on the wire. */
const FASTIFY_ERRORS: Record<string, { code: ErrorCode; reason: string }> = {
  FST_ERR_BAD_URL: { code: 'NAME_INVALID', reason: 'the URL path is not validly percent-encoded' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'SIZE_INVALID', reason: 'the body does not match Content-Length' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'SIZE_INVALID', reason: 'the body is too large' },
};

function envelope(code: ErrorCode, message: string, detail: unknown): ErrorResponse['body'] {
  return { errors: [detail === undefined ? { code, message } : { code, message, detail }] };
}

/** Maps anything thrown by a handler or the core to the status, headers and body to answer with. */
export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof RegistryError) {
    const status = err instanceof HttpError ? err.status : ERROR_CODES[err.code].status;
    // The domain message is specific ("blob unknown: sha256:..."); the table's is the code's fixed text.
    const detail = err.detail ?? err.message;
    return { status, headers: { ...err.headers }, body: envelope(err.code, ERROR_CODES[err.code].message, detail) };
  }
  const fastifyError = err as Partial<FastifyError> | undefined;
  const known = fastifyError?.code ? FASTIFY_ERRORS[fastifyError.code] : undefined;
  if (known) {
    const status = fastifyError?.statusCode ?? ERROR_CODES[known.code].status;
    return { status, headers: {}, body: envelope(known.code, ERROR_CODES[known.code].message, { reason: known.reason }) };
  }
  // A client that hung up mid-body is not a server fault, but there is nobody left to answer.
  if (fastifyError?.code === 'ECONNRESET' || fastifyError?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return { status: 400, headers: {}, body: envelope('BLOB_UPLOAD_INVALID', ERROR_CODES.BLOB_UPLOAD_INVALID.message, { reason: 'the request body ended early' }) };
  }
  return { status: 500, headers: {}, body: envelope('UNKNOWN', ERROR_CODES.UNKNOWN.message, undefined), unexpected: err };
}

/** Writes an error response: the one place the envelope is sent (installed as Fastify's error handler). */
export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const response = toErrorResponse(err);
  if (response.unexpected !== undefined) {
    request.log.error({ err: response.unexpected }, 'request failed unexpectedly');
  }
  reply.code(response.status).headers(response.headers);
  if (request.method === 'HEAD') return reply.send();
  return reply.type('application/json; charset=utf-8').send(response.body);
}
