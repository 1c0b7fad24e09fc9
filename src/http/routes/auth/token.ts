/**
 * The built-in token service's endpoints (Berth only), outside `/v2`:
 * - `GET <realm path>?service=&scope=&offline_token=` with Basic credentials or none (anonymous): the Docker
 *   token spec's flow;
 * - `POST <realm path>` with a form (`grant_type=password` or `refresh_token`, `access_type=offline`): the
 *   OAuth2 flow docker and containerd use;
 * - `GET <realm directory>/jwks.json`: the public signing key, for replicas and third parties verifying tokens.
 * Errors use the registry's envelope, which clients already parse on token endpoints.
 */
import path from 'node:path/posix';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseScope, ScopeError, type ResourceActions } from '../../../auth/access.js';
import { parseBasic } from '../../../auth/basic.js';
import type { TokenService } from '../../../auth/token-service.js';
import { NameInvalidError, UnsupportedError } from '../../../oci/errors.js';
import { HttpError } from '../../errcode.js';

export interface TokenRoutesOptions {
  service: TokenService;
  /** Path of the token endpoint (the realm's path). */
  path: string;
}

const FORM_LIMIT = 64 * 1024;

/** Scopes from space-separated lists; resource types this registry does not know are dropped, as the spec allows. */
function parseScopes(values: string[]): ResourceActions[] {
  const scopes: ResourceActions[] = [];
  for (const scope of values.flatMap((value) => value.split(' ')).filter((s) => s !== '')) {
    try {
      const parsed = parseScope(scope);
      if (parsed) scopes.push(parsed);
    } catch (err) {
      if (!(err instanceof ScopeError)) throw err;
      if (err.repository !== undefined) throw new NameInvalidError(err.repository, err.message);
      throw new HttpError(400, 'UNSUPPORTED', err.message, { scope });
    }
  }
  return scopes;
}

function all(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

async function readForm(request: FastifyRequest): Promise<URLSearchParams> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) throw new HttpError(413, 'UNSUPPORTED', 'form too large', { limit: FORM_LIMIT });
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function registerTokenRoutes(app: FastifyInstance, options: TokenRoutesOptions): void {
  const { service } = options;
  const checkService = (asked: string | null | undefined) => {
    if (asked && asked !== service.service) {
      throw new HttpError(400, 'UNSUPPORTED', `this token service issues tokens for ${service.service}`, { service: asked });
    }
  };

  app.get(options.path, async (request, reply) => {
    const query = request.query as Record<string, string | string[] | undefined>;
    checkService(all(query.service)[0]);
    const scopes = parseScopes(all(query.scope));
    const authorization = request.headers.authorization;
    const credentials = parseBasic(authorization);
    if (authorization !== undefined && credentials === undefined) {
      throw new HttpError(401, 'UNAUTHORIZED', 'only Basic credentials are accepted here');
    }
    const subject = await service.authenticate(credentials, request.ip);
    request.berth.user = subject;
    const offline = all(query.offline_token)[0] === 'true';
    return reply.header('Cache-Control', 'no-store').send(await service.issue(subject, scopes, offline));
  });

  app.post(options.path, async (request, reply) => {
    const form = await readForm(request);
    checkService(form.get('service'));
    const scopes = parseScopes(form.getAll('scope'));
    let subject: string | undefined;
    let refreshToken: string | undefined;
    switch (form.get('grant_type')) {
      case 'password': {
        const username = form.get('username');
        const password = form.get('password');
        if (!username || password === null) throw new HttpError(400, 'UNSUPPORTED', 'grant_type=password needs username and password');
        subject = await service.authenticate({ username, password }, request.ip);
        break;
      }
      case 'refresh_token': {
        refreshToken = form.get('refresh_token') ?? '';
        subject = await service.redeem(refreshToken, request.ip);
        break;
      }
      default:
        throw new UnsupportedError(`unsupported grant_type ${JSON.stringify(form.get('grant_type'))} (expected password or refresh_token)`);
    }
    request.berth.user = subject;
    const offline = form.get('access_type') === 'offline' && refreshToken === undefined;
    const response = await service.issue(subject, scopes, offline);
    return reply
      .header('Cache-Control', 'no-store')
      .send({ ...response, scope: form.getAll('scope').join(' '), ...(refreshToken !== undefined && { refresh_token: refreshToken }) });
  });

  app.get(path.join(path.dirname(options.path), 'jwks.json'), async (_request, reply) =>
    reply.header('Cache-Control', 'max-age=300').send(service.jwks()),
  );
}
