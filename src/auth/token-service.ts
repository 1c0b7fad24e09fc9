/**
 * The built-in token service (Berth only), so that Berth alone is a complete secured registry: it signs
 * in accounts from an htpasswd file (or no one, for anonymous rules), grants the intersection of the scopes
 * asked for and what the access rules allow, and issues JWTs that `TokenAccessController` (here or on any
 * replica or third party holding the JWKS) verifies.
 *
 * Refresh tokens (OAuth2 `access_type=offline`) are JWTs too, signed by the same key for a different
 * audience (`<service>#refresh`), so the registry never takes one for an access token and nothing needs
 * storing. Refreshing checks that the account still exists.
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { groupAccess, type Access, type ResourceActions } from './access.js';
import type { Credentials } from './basic.js';
import { challengeParam, UnauthorizedError } from './controller.js';
import type { HtpasswdFile } from './htpasswd.js';
import type { SigningKey } from './signing-key.js';
import type { FailureThrottle } from './throttle.js';

export interface AccessRule {
  /** Account names; `*` is every signed-in account. */
  accounts: string[];
  /** Applies to anonymous requests too. */
  anonymous: boolean;
  /** Repository name patterns (`*` within a component, `**` across). */
  repositories: string[];
  actions: string[];
  catalog: boolean;
}

export interface TokenServiceOptions {
  service: string;
  issuer: string;
  key: SigningKey;
  /** Lifetime of access tokens. */
  expirationMs: number;
  refreshExpirationMs: number;
  accounts?: HtpasswdFile;
  rules: AccessRule[];
  throttle: FailureThrottle;
  /** Realm of the Basic challenge answered to bad credentials. */
  realm: string;
  now?: () => number;
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

const ALL_ACTIONS = ['pull', 'push', 'delete'];

/** A repository pattern as a regular expression: `*` stays within a path component, `**` crosses them. */
export function compilePattern(pattern: string): RegExp {
  const body = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

export class TokenService {
  private readonly rules: (AccessRule & { patterns: RegExp[] })[];
  private readonly now: () => number;

  constructor(private readonly options: TokenServiceOptions) {
    this.rules = options.rules.map((rule) => ({ ...rule, patterns: rule.repositories.map(compilePattern) }));
    this.now = options.now ?? Date.now;
  }

  get service(): string {
    return this.options.service;
  }

  jwks(): JSONWebKeySet {
    return { keys: [this.options.key.publicJwk] };
  }

  private unauthorized(reason: string): UnauthorizedError {
    return new UnauthorizedError(reason, `Basic ${challengeParam('realm', this.options.realm)}`, [], 'invalid');
  }

  /** The signed-in account, or undefined for anonymous; throws 401 on bad credentials, 429 when throttled. */
  async authenticate(credentials: Credentials | undefined, address: string): Promise<string | undefined> {
    if (credentials === undefined) return undefined;
    this.options.throttle.check(address);
    const ok = this.options.accounts !== undefined && (await this.options.accounts.verify(credentials.username, credentials.password));
    if (!ok) {
      this.options.throttle.failed(address);
      throw this.unauthorized('invalid username or password');
    }
    this.options.throttle.succeeded(address);
    return credentials.username;
  }

  private appliesTo(rule: AccessRule, subject: string | undefined): boolean {
    if (subject === undefined) return rule.anonymous;
    return rule.accounts.includes('*') || rule.accounts.includes(subject);
  }

  /** What of `asked` the subject may have: the intersection with the union of the matching rules. */
  grant(subject: string | undefined, asked: readonly ResourceActions[]): ResourceActions[] {
    const rules = this.rules.filter((rule) => this.appliesTo(rule, subject));
    const granted: Access[] = [];
    for (const { type, name, actions } of asked) {
      if (type === 'registry' && name === 'catalog') {
        if (rules.some((rule) => rule.catalog)) granted.push({ type, name, action: '*' });
        continue;
      }
      if (type !== 'repository') continue;
      const allowed = new Set(
        rules
          .filter((rule) => rule.patterns.some((pattern) => pattern.test(name)))
          .flatMap((rule) => rule.actions)
          .flatMap((action) => (action === '*' ? ALL_ACTIONS : [action])),
      );
      for (const action of actions) {
        const wanted = action === '*' ? ALL_ACTIONS : [action];
        for (const one of wanted) if (allowed.has(one)) granted.push({ type, name, action: one });
      }
    }
    return groupAccess(granted);
  }

  async issue(subject: string | undefined, asked: readonly ResourceActions[], offline: boolean): Promise<TokenResponse> {
    const { key, issuer, service, expirationMs } = this.options;
    const issuedAt = Math.floor(this.now() / 1000);
    const expiresIn = Math.max(1, Math.round(expirationMs / 1000));
    const access = this.grant(subject, asked);
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(subject ?? '')
      .setAudience(service)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + expiresIn)
      .setJti(randomUUID())
      .sign(key.privateKey);
    const response: TokenResponse = { token, access_token: token, expires_in: expiresIn, issued_at: new Date(issuedAt * 1000).toISOString() };
    if (offline && subject !== undefined) response.refresh_token = await this.refreshToken(subject, issuedAt);
    return response;
  }

  private refreshToken(subject: string, issuedAt: number): Promise<string> {
    const { key, issuer, service, refreshExpirationMs } = this.options;
    return new SignJWT({})
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(subject)
      .setAudience(`${service}#refresh`)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + Math.round(refreshExpirationMs / 1000))
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  /** The account a refresh token was issued to, if it is genuine, current, and the account still exists. */
  async redeem(refreshToken: string, address: string): Promise<string> {
    this.options.throttle.check(address);
    const { key, issuer, service } = this.options;
    try {
      const { payload } = await jwtVerify(refreshToken, key.publicKey, {
        algorithms: [key.alg],
        issuer,
        audience: `${service}#refresh`,
        currentDate: new Date(this.now()),
      });
      const subject = payload.sub;
      if (!subject || !this.options.accounts?.has(subject)) throw new Error('account gone');
      this.options.throttle.succeeded(address);
      return subject;
    } catch {
      this.options.throttle.failed(address);
      throw this.unauthorized('invalid or expired refresh token');
    }
  }
}
