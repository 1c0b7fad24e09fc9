/**
 * The audit stream (Berth only, `log.audit`): one JSON line per change or access decision, apart from the
 * access log so that it can be kept longer and shipped elsewhere.
 *
 *   push     a manifest stored (201 on PUT .../manifests/<ref>), a blob upload finished or mounted (201)
 *   delete   a manifest, tag or blob deleted (202)
 *   login    GET /v2/ answered 200 to a request that named a user
 *   denied   a request refused with 401 or 403 (failed logins among them)
 *
 * Lines carry who (user, remote address), what (repository, reference, digest), the status and the
 * request id; never headers, query strings or bodies, where credentials and upload state live.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { parseRoute, type Route } from './route.js';

type AuditAction = 'push' | 'delete' | 'login' | 'denied';

function routeOf(request: FastifyRequest, prefix: string): Route | undefined {
  const path = request.url.split('?')[0]!;
  const api = `${prefix}/v2`;
  if (path !== api && !path.startsWith(`${api}/`)) return undefined;
  try {
    return parseRoute(decodeURIComponent(path.slice(api.length + 1)));
  } catch {
    return undefined;
  }
}

function actionOf(request: FastifyRequest, reply: FastifyReply, route: Route | undefined): AuditAction | undefined {
  const status = reply.statusCode;
  if (status === 401 || status === 403) return 'denied';
  if (!route) return undefined;
  if (route.kind === 'base' && request.method === 'GET' && status === 200 && request.berth?.user !== undefined) return 'login';
  if (status === 201 && (route.kind === 'manifest' || route.kind === 'uploads' || route.kind === 'upload')) return 'push';
  if (status === 202 && request.method === 'DELETE' && (route.kind === 'manifest' || route.kind === 'blob')) return 'delete';
  return undefined;
}

export function installAudit(app: FastifyInstance, audit: Logger, prefix: string): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = routeOf(request, prefix);
    const action = actionOf(request, reply, route);
    if (action === undefined) return;
    audit.info(
      {
        action,
        user: request.berth?.user,
        remoteAddress: request.ip,
        method: request.method,
        resource: route?.kind,
        repository: request.berth?.repository,
        reference: route?.kind === 'manifest' ? route.reference : undefined,
        digest: request.berth?.digest,
        status: reply.statusCode,
        requestId: request.id,
      },
      action,
    );
  });
}
