/**
 * `auth.silly`, Distribution's development controller: any request with an `Authorization` header passes;
 * one without gets a Bearer challenge naming the realm, service and scope. Never for production.
 */
import { formatScopes, type Access } from './access.js';
import { challengeParam, UnauthorizedError, type AccessController, type AuthRequest, type Grant } from './controller.js';

export class SillyAccessController implements AccessController {
  constructor(
    private readonly realm: string,
    private readonly service: string,
  ) {}

  async authorize(request: AuthRequest, wanted: readonly Access[]): Promise<Grant> {
    if (request.authorization !== undefined && request.authorization !== '') return {};
    const params = [challengeParam('realm', this.realm), challengeParam('service', this.service)];
    if (wanted.length > 0) params.push(challengeParam('scope', formatScopes(wanted)));
    throw new UnauthorizedError('authentication required', `Bearer ${params.join(',')}`, wanted, 'missing');
  }
}
