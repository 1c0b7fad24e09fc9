/**
 * Authentication for the `/v2` API, in one Fastify hook: it derives the access a request needs from the
 * parsed route and method (as Distribution does: GET/HEAD pull; POST/PUT/PATCH pull and push; DELETE
 * delete; `_catalog` `registry:catalog:*`; a cross-repository mount also pull on `from`), asks the
 * AccessController, and records the user for the access log. It runs on `onRequest`, before any body is
 * read, so an unauthorized push is refused without receiving its bytes.
 *
 * With upload tickets (token auth), it also binds upload sessions to their subject: see
 * `auth/upload-tickets.ts`.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler, onSendHookHandler } from 'fastify';
import { CATALOG, del, pull, push, validateResource, type Access } from '../auth/access.js';
import { UnauthorizedError, type AccessController, type AuthRequest } from '../auth/controller.js';
import { TICKET_PARAM, type UploadTickets } from '../auth/upload-tickets.js';
import { isDigest } from '../oci/digest.js';
import { queryParam } from './context.js';
import { parseRoute, type Route } from './route.js';

export interface AuthOptions {
  controller: AccessController;
  /** Binds upload sessions to their subject so they outlive the token that started them. */
  uploadTickets?: UploadTickets;
}

function validName(name: string): boolean {
  try {
    validateResource('repository', name);
    return true;
  } catch {
    return false;
  }
}

/** The access a request needs, from its method and route (and, for a mount, its query). */
export function wantedAccess(method: string, route: Route, query: (key: string) => string | undefined): Access[] {
  if (route.kind === 'base') return [];
  if (route.kind === 'catalog') return [CATALOG];
  const { name } = route;
  switch (method) {
    case 'GET':
    case 'HEAD':
      return [pull(name)];
    case 'POST':
    case 'PUT':
    case 'PATCH': {
      const wanted = [pull(name), push(name)];
      const from = query('from');
      // Only a mount that will be attempted reads `from`; the upload handler ignores an unusable one.
      if (route.kind === 'uploads' && isDigest(query('mount') ?? '') && from !== undefined && validName(from) && from !== name) {
        wanted.push(pull(from));
      }
      return wanted;
    }
    case 'DELETE':
      return [del(name)];
    default:
      return [];
  }
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  const first = raw?.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

function authRequest(request: FastifyRequest): AuthRequest {
  const proto = firstValue(request.headers['x-forwarded-proto']) ?? request.protocol;
  const host = firstValue(request.headers['x-forwarded-host']) ?? request.host;
  return { authorization: request.headers.authorization, remoteAddress: request.ip, origin: `${proto}://${host}` };
}

interface PendingTicket {
  repository: string;
  subject: string;
  /** Deadline to keep (a ticket that was used), or undefined to issue a fresh one. */
  deadline?: number;
}

export function authHooks(options: AuthOptions): { onRequest: onRequestAsyncHookHandler; onSend: onSendHookHandler } {
  const { controller, uploadTickets } = options;
  const pending = new WeakMap<FastifyRequest, PendingTicket>();

  /** Accepts an expired token for an upload session whose ticket was issued to the same subject. */
  async function viaTicket(err: unknown, request: FastifyRequest, route: Route, wanted: Access[]) {
    if (!uploadTickets || route.kind !== 'upload' || !(err instanceof UnauthorizedError) || err.failure !== 'expired') return undefined;
    const ticket = queryParam(request, TICKET_PARAM);
    if (ticket === undefined) return undefined;
    const grant = await controller.authorize(authRequest(request), wanted, { expiredGraceMs: uploadTickets.graceMs }).catch(() => undefined);
    if (grant?.subject === undefined) return undefined;
    const deadline = uploadTickets.check(ticket, { session: route.id, repository: route.name, subject: grant.subject });
    return deadline === undefined ? undefined : { grant, deadline };
  }

  const onRequest: onRequestAsyncHookHandler = async (request) => {
    const route = parseRoute((request.params as Record<string, string | undefined>)['*'] ?? '');
    // An unknown path gets its 404 from the router's dispatch; it reveals nothing.
    if (!route) return;
    const wanted = wantedAccess(request.method, route, (key) => queryParam(request, key));
    let grant;
    let deadline: number | undefined;
    try {
      grant = await controller.authorize(authRequest(request), wanted);
    } catch (err) {
      const bound = await viaTicket(err, request, route, wanted);
      if (!bound) throw err;
      ({ grant, deadline } = bound);
      request.log.info({ subject: grant.subject, upload: route.kind === 'upload' ? route.id : undefined }, 'expired token accepted for a bound upload session');
    }
    request.berth.user = grant.subject;
    if (uploadTickets && grant.subject !== undefined && (route.kind === 'uploads' || route.kind === 'upload')) {
      pending.set(request, { repository: route.name, subject: grant.subject, deadline });
    }
  };

  const onSend: onSendHookHandler = async (request: FastifyRequest, reply: FastifyReply, payload) => {
    const ticket = pending.get(request);
    const session = reply.getHeader('docker-upload-uuid');
    const location = reply.getHeader('location');
    if (!uploadTickets || !ticket || typeof session !== 'string' || typeof location !== 'string') return payload;
    const value = uploadTickets.issue({ session, repository: ticket.repository, subject: ticket.subject }, ticket.deadline);
    const separator = location.includes('?') ? '&' : '?';
    reply.header('Location', `${location}${separator}${TICKET_PARAM}=${encodeURIComponent(value)}`);
    return payload;
  };

  return { onRequest, onSend };
}
