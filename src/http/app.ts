/**
 * The HTTP face of the registry: a Fastify instance serving the distribution API under `<prefix>/v2/`.
 * `buildApp` never listens; the caller (the CLI, or a test) decides where.
 *
 * All of `/v2/*` is one Fastify route, dispatched by `route.ts` (names contain slashes, so the path is
 * parsed from the right) to one handler table per resource in `routes/v2/`. Fastify's body parsers are
 * replaced by one that reads nothing: blob handlers stream `request.raw` into storage and the manifest
 * handler reads with a size limit.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { EventContext, EventSink, SourceRecord } from '../events/event.js';
import { withEvents } from '../events/listener.js';
import type { Metrics } from '../metrics/index.js';
import { withMetrics } from '../registry/metered.js';
import type { Registry } from '../registry/types.js';
import { authHooks, type AuthOptions } from './auth.js';
import type { HandlerContext, Handlers, Method } from './context.js';
import { HttpError, sendError } from './errcode.js';
import { installAudit } from './audit.js';
import { installMetrics } from './metrics.js';
import { parseRoute, type Route, type RouteKind } from './route.js';
import { registerTokenRoutes, type TokenRoutesOptions } from './routes/auth/token.js';
import { baseHandlers } from './routes/v2/base.js';
import { blobHandlers } from './routes/v2/blobs.js';
import { catalogHandlers } from './routes/v2/catalog.js';
import { manifestHandlers } from './routes/v2/manifests.js';
import { referrersHandlers } from './routes/v2/referrers.js';
import { tagsHandlers } from './routes/v2/tags.js';
import { uploadHandlers, uploadsHandlers } from './routes/v2/uploads.js';
import { createUrlBuilder, type UrlBuilder } from './urls.js';

export interface AppOptions {
  registry: Registry;
  /** Fastify's `loggerInstance`; false or absent for none. */
  logger?: Logger | false;
  /** One log line per request: id, remote address, user, method, path, status, bytes, duration, repository, digest. */
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
  /** `http.sendfile`: blob bodies from local files may be sent with sendfile(2); true by default. */
  sendfile?: boolean;
  /** `http.directuploads`: large upload bodies may be read from the socket by the addon; true by default. */
  directUploads?: boolean;
  /** Measures requests (`registry_http_*`) and content (`berth_bytes_*`, upload sessions). */
  metrics?: Metrics;
  /** Failing health checks by name; while any fails, every request is answered 503 UNAVAILABLE. */
  healthFailures?: () => Record<string, string>;
  /** Registry events: each request's operations are reported to `sink` (see `events/listener.ts`). */
  events?: { sink: EventSink; source: SourceRecord; includeReferences: boolean };
  /** The audit stream: a line for each push, delete, login and refused request (see `audit.ts`). */
  audit?: Logger;
  /** Serve HTTPS with these options (certificate, key, client CAs, versions, ciphers). */
  tls?: TlsOptions;
  /** With `tls`: offer HTTP/2 by ALPN, falling back to HTTP/1.1 (`http.http2.disabled` turns it off). */
  http2?: boolean;
  /** Authentication of `/v2` requests (`auth.*`); absent, the API is open. */
  auth?: AuthOptions;
  /** The built-in token service's endpoints (`auth.token.builtin`). */
  tokenService?: TokenRoutesOptions;
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
      user: request.berth?.user,
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

/** What an event knows of its request; the actor is read late, after auth has named the user. */
function eventContext(request: FastifyRequest, urls: UrlBuilder, source: SourceRecord): EventContext {
  const forwarded = request.headers['x-forwarded-for'];
  const forwardedFor = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  const socket = request.raw.socket;
  return {
    request: {
      id: request.id,
      addr: forwardedFor || `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`,
      host: request.headers.host,
      method: request.method,
      useragent: request.headers['user-agent'] ?? '',
    },
    actor: () => ({ name: request.berth.user }),
    source,
    urls: {
      manifest: (name, digest) => urls.location(request, `/v2/${name}/manifests/${digest}`),
      blob: (name, digest) => urls.location(request, `/v2/${name}/blobs/${digest}`),
    },
  };
}

function dispatch(request: FastifyRequest, reply: FastifyReply, ctx: HandlerContext, options: AppOptions): Promise<unknown> {
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
  const events = options.events;
  const requestCtx = events
    ? {
        ...ctx,
        registry: withEvents(ctx.registry, {
          sink: events.sink,
          includeReferences: events.includeReferences,
          context: eventContext(request, ctx.urls, events.source),
        }),
      }
    : ctx;
  return (handler as (...args: unknown[]) => Promise<unknown>)(request, reply, route as Route, requestCtx);
}

/**
 * Berth declares no route schemas, so Fastify's default compilers (Ajv, fast-json-stringify) would only cost
 * every process their memory; factories that refuse schemas keep those modules unloaded.
 */
export const NO_SCHEMAS = {
  compilersFactory: {
    buildValidator: () => {
      throw new Error('Berth routes declare no schemas');
    },
    buildSerializer: () => {
      throw new Error('Berth routes declare no schemas');
    },
  },
};

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
    registry: options.metrics ? withMetrics(options.registry, options.metrics) : options.registry,
    urls: createUrlBuilder({ prefix, host: options.host, relativeURLs: options.relativeURLs ?? false }),
    maxManifestBytes,
    catalogMaxEntries,
    redirect: options.redirect ?? false,
    sendfile: options.sendfile ?? true,
    directUploads: options.directUploads ?? true,
  };
  const extraHeaders = Object.entries(options.headers ?? {});

  const server = options.tls
    ? options.http2
      ? { http2: true as const, https: { ...options.tls, allowHTTP1: true } }
      : { https: options.tls }
    : {};
  const app = Fastify({
    // Typed as plain HTTP: over HTTP/2, Node's compatibility API gives handlers the same request/reply shape.
    ...(server as object),
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    // The access log below writes the one line per request.
    logController: new LogController({ disableRequestLogging: true }),
    // Request ids appear in events and logs of several replicas: make them unique, as Distribution's UUIDs are.
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    schemaController: NO_SCHEMAS,
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
  if (options.metrics) installMetrics(app, options.metrics, prefix);
  const healthFailures = options.healthFailures;
  if (healthFailures) {
    // As Distribution's health.Handler: the whole API is unavailable while a check fails.
    app.addHook('onRequest', async () => {
      if (Object.keys(healthFailures()).length > 0) {
        throw new HttpError(503, 'UNAVAILABLE', 'health check failed', 'health check failed: please see /debug/health');
      }
    });
  }
  if (options.accessLog) app.addHook('onResponse', async (request, reply) => logAccess(request, reply));
  if (options.audit) installAudit(app, options.audit, prefix);

  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => sendError(notFound(request), request, reply));

  const handler = (request: FastifyRequest, reply: FastifyReply) => dispatch(request, reply, ctx, options);
  const methods = [...METHODS, 'OPTIONS'];
  const hooks = options.auth ? authHooks(options.auth) : {};
  app.route({ method: methods, url: `${prefix}/v2/*`, handler, ...hooks });
  app.route({ method: methods, url: `${prefix}/v2`, handler, ...hooks });
  if (options.tokenService) registerTokenRoutes(app, options.tokenService);
  return app;
}
