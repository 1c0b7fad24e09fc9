/**
 * The one interface between the HTTP layer and authentication: given who is asking and the access a
 * request needs, an AccessController answers with a Grant or throws an error that carries its challenge
 * (`WWW-Authenticate`), which the HTTP error handler copies to the 401.
 */
import { RegistryError } from '../oci/errors.js';
import type { Access } from './access.js';

/** What a controller may look at: no framework types, so controllers are testable on their own. */
export interface AuthRequest {
  /** The `Authorization` header, as sent. */
  authorization?: string;
  /** The client's address, for throttling failed attempts. */
  remoteAddress: string;
  /** `https://host:port` the client reached, for realms built from the request (`autoredirect`). */
  origin: string;
}

export interface Grant {
  /** The authenticated account; undefined for anonymous access. */
  subject?: string;
}

export interface AuthorizeOptions {
  /**
   * Accept credentials that expired at most this long ago (upload sessions bound at their start; see
   * `http/auth.ts`). Controllers whose credentials do not expire ignore it.
   */
  expiredGraceMs?: number;
}

export interface AccessController {
  authorize(request: AuthRequest, wanted: readonly Access[], options?: AuthorizeOptions): Promise<Grant>;
}

export type AuthFailure = 'missing' | 'invalid' | 'expired' | 'insufficient';

/** 401 UNAUTHORIZED with the challenge the client should answer. */
export class UnauthorizedError extends RegistryError {
  constructor(
    reason: string,
    challenge: string,
    wanted: readonly Access[] = [],
    /** Why the credentials failed, for callers that accept some failures under other rules (`expired`). */
    readonly failure: AuthFailure = 'invalid',
  ) {
    super('UNAUTHORIZED', reason, wanted.length > 0 ? wanted.map(({ type, name, action }) => ({ type, name, action })) : { reason });
    this.withHeader('WWW-Authenticate', challenge);
  }
}

/** 429 TOOMANYREQUESTS with `Retry-After`, for an address that failed to authenticate too often. */
export class TooManyAttemptsError extends RegistryError {
  constructor(retryAfterSeconds: number) {
    super('TOOMANYREQUESTS', 'too many failed authentication attempts', { retryAfter: retryAfterSeconds });
    this.withHeader('Retry-After', String(retryAfterSeconds));
  }
}

/** `key="value"` for a challenge parameter, escaping as RFC 7235 quoted-strings require. */
export function challengeParam(key: string, value: string): string {
  return `${key}="${value.replace(/["\\]/g, '\\$&')}"`;
}
