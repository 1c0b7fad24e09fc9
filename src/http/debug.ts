/**
 * The debug server on `http.debug.addr`, apart from the API so that it can stay off the public network:
 *
 *   <http.debug.prometheus.path>   Prometheus metrics (when `http.debug.prometheus.enabled`)
 *   /debug/health                  Distribution's health status: 200 `{}`, or 503 with `{"<check>":"<error>"}`
 *   /debug/livez                   Berth: 200 while the process serves requests at all (Kubernetes liveness)
 *   /debug/readyz                  Berth: 200 when the checks pass and the API is accepting requests,
 *                                  503 with the reasons otherwise (Kubernetes readiness)
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { HealthChecks } from '../health/checks.js';
import { NO_SCHEMAS } from './app.js';
import type { Metrics } from '../metrics/index.js';

export interface DebugOptions {
  health: HealthChecks;
  /** Set to serve metrics at `metricsPath`. */
  metrics?: Metrics;
  metricsPath?: string;
  /** False before the API listens and once shutdown has begun. */
  accepting: () => boolean;
}

export function buildDebugApp(options: DebugOptions): FastifyInstance {
  const app = Fastify({ logger: false, schemaController: NO_SCHEMAS }) as unknown as FastifyInstance;
  const { health, metrics } = options;

  if (metrics) {
    app.get(options.metricsPath ?? '/metrics', async (_request, reply) => {
      const { contentType, body } = await metrics.scrape();
      return reply.type(contentType).send(body);
    });
  }
  app.get('/debug/health', async (_request, reply) => {
    const failing = health.failing();
    return reply.code(Object.keys(failing).length > 0 ? 503 : 200).send(failing);
  });
  app.get('/debug/livez', async (_request, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/debug/readyz', async (_request, reply) => {
    const reasons: Record<string, string> = { ...health.failing() };
    if (!options.accepting()) reasons.server = 'not accepting requests (starting or shutting down)';
    if (Object.keys(reasons).length > 0) return reply.code(503).send(reasons);
    return reply.type('text/plain').send('ok\n');
  });
  return app;
}
