/**
 * What every route handler receives, and the small input helpers they share. Handlers are thin: validate
 * the request, make one registry call, set headers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseDigest, type Digest } from '../oci/digest.js';
import { ManifestInvalidError, PaginationNumberInvalidError, SizeInvalidError } from '../oci/errors.js';
import type { PageRequest, Registry, Repository } from '../registry/types.js';
import { HttpError } from './errcode.js';
import type { Route, RouteKind } from './route.js';
import type { UrlBuilder } from './urls.js';

export interface HandlerContext {
  registry: Registry;
  urls: UrlBuilder;
  maxManifestBytes: number;
  catalogMaxEntries: number;
  redirect: boolean;
  /** Blob bodies may be sent with sendfile(2) (see `sendfile.ts`). */
  sendfile: boolean;
  /** Large upload bodies may be read from the socket by the addon (see `receive.ts`). */
  directUploads: boolean;
}

export type RouteOf<K extends RouteKind> = Extract<Route, { kind: K }>;

export type Handler<K extends RouteKind> = (
  request: FastifyRequest,
  reply: FastifyReply,
  route: RouteOf<K>,
  ctx: HandlerContext,
) => Promise<unknown>;

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The methods one resource answers; any other is 405. */
export type Handlers<K extends RouteKind> = Partial<Record<Method, Handler<K>>>;

/**
 * Opens a repository, validating its name first (NAME_INVALID, 400). containerd's `?ns=` (the registry a
 * mirror request is meant for) goes along, for a pull-through cache to choose its upstream.
 */
export function repositoryOf(ctx: HandlerContext, request: FastifyRequest, name: string): Repository {
  const namespace = queryParam(request, 'ns');
  const repository = ctx.registry.repository(name, namespace ? { namespace } : undefined);
  request.berth.repository = name;
  return repository;
}

/** Validates a digest from the path or the query (DIGEST_INVALID, 400) and notes it for the access log. */
export function digestParam(request: FastifyRequest, value: string | undefined): Digest {
  const digest = parseDigest(value ?? '');
  request.berth.digest = digest;
  return digest;
}

/** The first value of a query parameter (`?n=1&n=2` reads as 1). */
export function queryParam(request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, string | string[] | undefined>)[key];
  return Array.isArray(value) ? value[0] : value;
}

/** `?n=&last=`: `n` must be a non-negative integer, at most `max` when one is given. */
export function pageRequest(request: FastifyRequest, max?: number): PageRequest {
  const page: PageRequest = {};
  const n = queryParam(request, 'n');
  // An empty `n=` is no `n`, as in Distribution.
  if (n !== undefined && n !== '') {
    if (!/^\d+$/.test(n)) throw new PaginationNumberInvalidError(n);
    const count = Number(n);
    if (!Number.isSafeInteger(count) || (max !== undefined && count > max)) throw new PaginationNumberInvalidError(n);
    page.n = count;
  }
  const last = queryParam(request, 'last');
  if (last !== undefined && last !== '') page.last = last;
  return page;
}

/** Whether the request carries a body at all (a final PUT may or may not). */
export function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return request.headers['transfer-encoding'] !== undefined;
}

/** Content-Length as a number, when the client sent a usable one. */
export function contentLength(request: FastifyRequest): number | undefined {
  const value = request.headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * Reads a manifest body, refusing more than `limit` bytes: from Content-Length before reading anything,
 * else as soon as the stream passes it. The spec lets a registry answer 413 to a manifest it finds too big.
 */
export async function readLimitedBody(request: FastifyRequest, limit: number): Promise<Buffer> {
  const tooBig = (): HttpError =>
    new HttpError(413, 'MANIFEST_INVALID', 'manifest too big', { reason: `manifests are limited to ${limit} bytes` });
  const declared = contentLength(request);
  if (declared !== undefined && declared > limit) throw tooBig();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      // Stop reading; Node discards the rest of the body once the response is sent.
      throw tooBig();
    }
    chunks.push(chunk);
  }
  if (declared !== undefined && declared !== size) {
    throw new SizeInvalidError(`Content-Length is ${declared} but ${size} bytes arrived`);
  }
  if (size === 0) throw new ManifestInvalidError('the manifest body is empty');
  return Buffer.concat(chunks, size);
}

/** `If-None-Match` names this digest's ETag (quoted, as sent, or bare, as some clients send it). */
export function etagMatches(request: FastifyRequest, digest: Digest): boolean {
  const header = request.headers['if-none-match'];
  if (header === undefined) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === `"${digest}"` || tag === digest);
}
