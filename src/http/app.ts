/**
 * The HTTP face of the registry: a Fastify instance serving the distribution API under `<prefix>/v2/`.
 * `buildApp` never listens; the caller (the CLI, or a test) decides where.
 *
 * All of `/v2/*` is one Fastify route, dispatched by `route.ts` (names contain slashes, so the path is
 * parsed from the right) to one handler table per resource in `routes/v2/`. Fastify's body parsers are
 * replaced by one that reads nothing: blob handlers stream `request.raw` into storage and the manifest
 * handler reads with a size limit.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from '../registry/types.js';
import type { HandlerContext, Handlers, Method } from './context.js';
import { HttpError, sendError } from './errcode.js';
import { parseRoute, type Route, type RouteKind } from './route.js';
import { baseHandlers } from './routes/v2/base.js';
import { blobHandlers } from './routes/v2/blobs.js';
import { catalogHandlers } from './routes/v2/catalog.js';
import { manifestHandlers } from './routes/v2/manifests.js';
import { referrersHandlers } from './routes/v2/referrers.js';
import { tagsHandlers } from './routes/v2/tags.js';
import { uploadHandlers, uploadsHandlers } from './routes/v2/uploads.js';
import { createUrlBuilder } from './urls.js';

export interface AppOptions {
  registry: Registry;
  /** Fastify's `loggerInstance`; false or absent for none. */
  logger?: Logger | false;
  /** One log line per request: id, remote address, method, path, status, bytes, duration, repository, digest. */
  accessLog?: boolean;
  /** `http.prefix`, e.g. `/registry` serves the API at `/registry/v2/`. */
  prefix?: string;
  /** `http.host`: absolute base URL for `Location` headers. */
  host?: string;
  /** `http.relativeurls`. */
  relativeURLs?: boolean;
  /** `http.headers`, added to every response. */
  headers?: Record<string, string[]>;
  /** Largest manifest accepted, in bytes; 4 MiB by default (what the spec asks registries to accept). */
  maxManifestBytes?: number;
  /** `catalog.maxentries`: default and maximum page size of `/v2/_catalog`; 1000 by default. */
  catalogMaxEntries?: number;
  /** Blob GETs may redirect to the storage's URL when it offers one (`storage.redirect.disable` inverts). */
  redirect?: boolean;
}

/** Per-request facts the access log reports, filled in by handlers as they learn them. */
export interface RequestFacts {
  repository?: string;
  digest?: string;
  /** The authenticated account, once auth has run (absent for anonymous requests). */
  user?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    berth: RequestFacts;
  }
}

const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
const METHODS: readonly Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

const HANDLERS: { [K in RouteKind]: Handlers<K> } = {
  base: baseHandlers,
  catalog: catalogHandlers,
  tags: tagsHandlers,
  manifest: manifestHandlers,
  blob: blobHandlers,
  uploads: uploadsHandlers,
  upload: uploadHandlers,
  referrers: referrersHandlers,
};

function logAccess(request: FastifyRequest, reply: FastifyReply): void {
  const length = reply.getHeader('content-length');
  const queryStart = request.url.indexOf('?');
  // The request's logger already carries its id (reqId).
  request.log.info(
    {
      remoteAddress: request.ip,
      method: request.method,
      path: queryStart < 0 ? request.url : request.url.slice(0, queryStart),
      // Upload queries (digest, mount, from) are how an operator tells a mount from a fresh upload.
      query: queryStart < 0 ? undefined : request.url.slice(queryStart + 1),
      status: reply.statusCode,
      bytes: length === undefined || request.method === 'HEAD' ? 0 : Number(length),
      durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
      repository: request.berth?.repository,
      digest: request.berth?.digest,
    },
    'request completed',
  );
}

function normalisePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function notFound(request: FastifyRequest): HttpError {
  return new HttpError(404, 'UNSUPPORTED', 'no such endpoint', { method: request.method, path: request.url.split('?')[0] });
}

function dispatch(request: FastifyRequest, reply: FastifyReply, ctx: HandlerContext): Promise<unknown> {
  const tail = (request.params as Record<string, string | undefined>)['*'] ?? '';
  const route = parseRoute(tail);
  if (!route) throw notFound(request);
  if ('name' in route) request.berth.repository = route.name;
  const handlers = HANDLERS[route.kind] as Handlers<RouteKind>;
  const handler = handlers[request.method as Method];
  if (!handler) {
    const allowed = Object.keys(handlers).join(', ');
    throw new HttpError(405, 'UNSUPPORTED', `${request.method} is not supported here`, {
      method: request.method,
      allowed,
    }).withHeader('Allow', allowed);
  }
  return (handler as (...args: unknown[]) => Promise<unknown>)(request, reply, route as Route, ctx);
}

export function buildApp(options: AppOptions): FastifyInstance {
  const prefix = normalisePrefix(options.prefix);
  const maxManifestBytes = options.maxManifestBytes ?? 4 * 1024 * 1024;
  const catalogMaxEntries = options.catalogMaxEntries ?? 1000;
  if (!Number.isSafeInteger(maxManifestBytes) || maxManifestBytes <= 0) {
    throw new Error(`maxManifestBytes must be a positive integer, not ${maxManifestBytes}`);
  }
  if (!Number.isSafeInteger(catalogMaxEntries) || catalogMaxEntries <= 0) {
    throw new Error(`catalogMaxEntries must be a positive integer, not ${catalogMaxEntries}`);
  }
  const ctx: HandlerContext = {
    registry: options.registry,
    urls: createUrlBuilder({ prefix, host: options.host, relativeURLs: options.relativeURLs ?? false }),
    maxManifestBytes,
    catalogMaxEntries,
    redirect: options.redirect ?? false,
  };
  const extraHeaders = Object.entries(options.headers ?? {});

  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    // The access log below writes the one line per request.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // Repository names can be long and nested; the wildcard holds the whole tail.
    routerOptions: { maxParamLength: 65_535 },
    // Errors the router raises before any handler (a badly percent-encoded path) get the envelope too.
    frameworkErrors: (err, request, reply) => {
      // No hooks run for these requests: add what they would have.
      if (options.accessLog) reply.raw.once('finish', () => logAccess(request, reply));
      addCommonHeaders(reply);
      sendError(err, request, reply);
    },
  }) as unknown as FastifyInstance;

  function addCommonHeaders(reply: FastifyReply): void {
    reply.header(API_VERSION_HEADER, 'registry/2.0');
    for (const [name, values] of extraHeaders) reply.header(name, values.length === 1 ? values[0] : values);
  }

  app.decorateRequest('berth', null as unknown as RequestFacts);
  app.removeAllContentTypeParsers();
  // Leaves the body unread: handlers stream it from `request.raw` (or never read it).
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  app.addHook('onRequest', async (request, reply) => {
    request.berth = {};
    addCommonHeaders(reply);
  });
  if (options.accessLog) app.addHook('onResponse', async (request, reply) => logAccess(request, reply));

  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => sendError(notFound(request), request, reply));

  const handler = (request: FastifyRequest, reply: FastifyReply) => dispatch(request, reply, ctx);
  const methods = [...METHODS, 'OPTIONS'];
  app.route({ method: methods, url: `${prefix}/v2/*`, handler });
  app.route({ method: methods, url: `${prefix}/v2`, handler });
  return app;
}
