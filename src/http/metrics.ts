/**
 * The one place HTTP requests are measured: hooks that feed `registry_http_*` the way docker/go-metrics'
 * `InstrumentHandler` does in Distribution, with the route's name as `handler` (Distribution's route names
 * with `-` turned into `_`, plus Berth's `referrers`). Paths outside `/v2/` routes are not measured, as in
 * Distribution, whose unregistered routes have no instrumentation.
 *
 * Sizes follow promhttp: the request size is an approximation (URL, method, protocol, headers, host, and
 * Content-Length when sent), the response size what Content-Length says was written.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../metrics/index.js';
import { parseRoute, type RouteKind } from './route.js';

const HANDLER_NAMES: Record<RouteKind, string> = {
  base: 'base',
  catalog: 'catalog',
  tags: 'tags',
  manifest: 'manifest',
  blob: 'blob',
  uploads: 'blob_upload',
  upload: 'blob_upload_chunk',
  referrers: 'referrers',
};

/** The Distribution handler name of a request path (with `prefix`), or undefined outside the API. */
export function handlerName(url: string, prefix: string): string | undefined {
  const path = url.split('?')[0]!;
  const api = `${prefix}/v2`;
  if (path !== api && !path.startsWith(`${api}/`)) return undefined;
  const route = parseRoute(path.slice(api.length + 1));
  return route ? HANDLER_NAMES[route.kind] : undefined;
}

function approximateRequestSize(request: FastifyRequest): number {
  const raw = request.raw;
  let size = request.url.length + request.method.length + `HTTP/${raw.httpVersion}`.length;
  for (let i = 0; i < raw.rawHeaders.length; i++) size += raw.rawHeaders[i]!.length;
  const length = request.headers['content-length'];
  if (length !== undefined && /^\d+$/.test(length)) size += Number(length);
  return size;
}

function responseSize(request: FastifyRequest, reply: FastifyReply): number {
  const length = reply.raw.getHeader('content-length');
  return length === undefined || request.method === 'HEAD' ? 0 : Number(length);
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The measured route's handler name, set when the request arrives. */
    metricsHandler?: string;
  }
}

export function installMetrics(app: FastifyInstance, metrics: Metrics, prefix: string): void {
  app.decorateRequest('metricsHandler', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const handler = handlerName(request.url, prefix);
    if (handler === undefined) return;
    request.metricsHandler = handler;
    const started = performance.now();
    metrics.httpInFlight.inc({ handler });
    // 'close' comes for every response, also one whose client hung up before it finished (Fastify's
    // onResponse would miss those), so every request is counted once, as go-metrics counts every request.
    reply.raw.once('close', () => {
      const method = request.method.toLowerCase();
      const code = String(reply.raw.statusCode);
      metrics.httpInFlight.dec({ handler });
      metrics.httpRequests.inc({ handler, code, method });
      metrics.httpDuration.observe({ handler, method }, (performance.now() - started) / 1000);
      metrics.httpRequestSize.observe({ handler }, approximateRequestSize(request));
      metrics.httpResponseSize.observe({ handler }, responseSize(request, reply));
      if (code === '401' || code === '403') metrics.authFailures.inc({ handler, code });
    });
  });
}
