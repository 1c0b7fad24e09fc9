/**
 * `auth.token`: the registry side of the Docker token authentication spec. A request without a token gets
 * `401` with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` naming exactly the access it needs;
 * a token is a JWT that must be signed by a trusted key (an `x5c` chain ending at a certificate of
 * `rootcertbundle`, or a `kid` found in the JWKS), use an accepted algorithm (never `none`), be issued by
 * `issuer` for `service`, and be within `nbf`..`exp` (with a minute of leeway for clock skew by default, as in
 * Distribution). Its `access` claim then decides; a valid token that is too narrow gets
 * `error="insufficient_scope"` so the client asks for a wider one, as the spec describes.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { covers, formatScopes, ScopeError, validateResource, type Access, type ResourceActions } from './access.js';
import { challengeParam, UnauthorizedError, type AccessController, type AuthFailure, type AuthorizeOptions, type AuthRequest, type Grant } from './controller.js';

/** What Distribution accepts by default: every asymmetric JWS algorithm, never HMAC or `none`. */
export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface TokenVerifierOptions {
  /** Token endpoint for the challenge; a path (`/auth/token`) is completed with the request's origin. */
  realm: string;
  /** Builds the realm from the request's scheme and host, keeping the realm's path. */
  autoRedirect?: boolean;
  /** The audience tokens must name. */
  service: string;
  /** The issuer tokens must name. */
  issuer: string;
  /** Certificates at which `x5c` chains must end. */
  rootCertificates?: X509Certificate[];
  /** Key sets searched by `kid` (a JWKS file, a URL, the built-in token service's own key). */
  keySets?: JWTVerifyGetKey[];
  /** Clock skew tolerated on nbf and exp; 60 s (Distribution's) by default. */
  leewayMs?: number;
  /** Accepted JWS algorithms; DEFAULT_ALGORITHMS when empty. */
  algorithms?: string[];
  now?: () => number;
}

/** Certificates of a PEM bundle (`rootcertbundle`). */
export function parseCertificateBundle(pem: string, file: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${file}: no PEM certificate found`);
  return blocks.map((block) => new X509Certificate(block));
}

/** A key set from a JWKS document (`auth.token.jwks` as a file) or URL (Berth: fetched and cached by jose). */
export function keySetFrom(source: JSONWebKeySet | URL): JWTVerifyGetKey {
  return source instanceof URL ? createRemoteJWKSet(source) : createLocalJWKSet(source);
}

class TokenRejected extends Error {
  constructor(
    message: string,
    readonly failure: AuthFailure = 'invalid',
  ) {
    super(message);
  }
}

function parseAccessClaim(claim: unknown): ResourceActions[] {
  if (claim === undefined) return [];
  if (!Array.isArray(claim)) throw new TokenRejected('the access claim is not a list');
  return claim.map((entry: unknown) => {
    const { type, name, actions } = (entry ?? {}) as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions) || !actions.every((a) => typeof a === 'string')) {
      throw new TokenRejected('malformed entry in the access claim');
    }
    try {
      validateResource(type, name);
    } catch (err) {
      if (err instanceof ScopeError) throw new TokenRejected(`access claim: ${err.message}`);
      throw err;
    }
    return { type, name, actions: actions as string[] };
  });
}

export class TokenAccessController implements AccessController {
  private readonly algorithms: string[];
  private readonly now: () => number;

  constructor(private readonly options: TokenVerifierOptions) {
    this.algorithms = options.algorithms && options.algorithms.length > 0 ? options.algorithms : DEFAULT_ALGORITHMS;
    this.now = options.now ?? Date.now;
    if (!options.rootCertificates?.length && !options.keySets?.length) {
      throw new Error('auth.token needs rootcertbundle or jwks (or the built-in token service) to verify tokens');
    }
  }

  private challenge(request: AuthRequest, wanted: readonly Access[], error?: 'invalid_token' | 'insufficient_scope'): string {
    let realm = this.options.realm;
    if (realm.startsWith('/')) realm = `${request.origin}${realm}`;
    else if (this.options.autoRedirect) realm = `${request.origin}${new URL(realm).pathname}`;
    const params = [challengeParam('realm', realm), challengeParam('service', this.options.service)];
    if (wanted.length > 0) params.push(challengeParam('scope', formatScopes(wanted)));
    if (error) params.push(challengeParam('error', error));
    return `Bearer ${params.join(',')}`;
  }

  async authorize(request: AuthRequest, wanted: readonly Access[], options: AuthorizeOptions = {}): Promise<Grant> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.authorization ?? '');
    if (!match) throw new UnauthorizedError('authentication required', this.challenge(request, wanted), wanted, 'missing');
    let payload: JWTPayload;
    try {
      payload = await this.verify(match[1]!, options.expiredGraceMs ?? 0);
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err;
      throw new UnauthorizedError(`invalid token: ${err.message}`, this.challenge(request, wanted, 'invalid_token'), wanted, err.failure);
    }
    let granted: ResourceActions[];
    try {
      granted = parseAccessClaim(payload.access);
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err;
      throw new UnauthorizedError(`invalid token: ${err.message}`, this.challenge(request, wanted, 'invalid_token'), wanted, 'invalid');
    }
    const missing = wanted.filter((access) => !covers(granted, access));
    if (missing.length > 0) {
      throw new UnauthorizedError(
        `the token does not grant ${formatScopes(missing)}`,
        this.challenge(request, wanted, 'insufficient_scope'),
        wanted,
        'insufficient',
      );
    }
    return { subject: payload.sub };
  }

  /** Verifies signature and claims; with a grace period, a token expired at most that long ago still passes. */
  private async verify(token: string, graceMs: number): Promise<JWTPayload> {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRejected('not a JWS token');
    }
    if (typeof header.alg !== 'string' || header.alg === 'none' || !this.algorithms.includes(header.alg)) {
      throw new TokenRejected(`signing algorithm ${JSON.stringify(header.alg)} is not accepted`);
    }
    const key = header.x5c !== undefined ? this.chainKey(header.x5c) : undefined;
    if (key === undefined && header.kid === undefined) throw new TokenRejected('the token names no key (kid) and carries no x5c chain');
    const verifyAt = async (currentDate?: Date) => {
      const options = {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.service,
        clockTolerance: Math.round((this.options.leewayMs ?? 60_000) / 1000),
        requiredClaims: ['exp'],
        currentDate: currentDate ?? new Date(this.now()),
      };
      if (key) return (await jwtVerify(token, key, options)).payload;
      const getKey: JWTVerifyGetKey = (h, t) => this.keyFromSets(h, t);
      return (await jwtVerify(token, getKey, options)).payload;
    };
    try {
      return await verifyAt();
    } catch (err) {
      if (err instanceof errors.JWTExpired && graceMs > 0) {
        const exp = (err.payload.exp ?? 0) * 1000;
        if (exp + graceMs >= this.now()) return this.rejectionOf(() => verifyAt(new Date(Math.max(exp - 1000, 0))));
      }
      throw this.rejection(err);
    }
  }

  private async rejectionOf(verify: () => Promise<JWTPayload>): Promise<JWTPayload> {
    try {
      return await verify();
    } catch (err) {
      throw this.rejection(err);
    }
  }

  private rejection(err: unknown): Error {
    if (err instanceof TokenRejected) return err;
    if (err instanceof errors.JWTExpired) return new TokenRejected('token expired', 'expired');
    if (err instanceof errors.JWTClaimValidationFailed) return new TokenRejected(`claim ${err.claim}: ${err.message}`);
    if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRejected('bad signature');
    if (err instanceof errors.JWKSNoMatchingKey) return new TokenRejected('no trusted key has this kid');
    if (err instanceof errors.JOSEError) return new TokenRejected(err.message);
    return err as Error;
  }

  private async keyFromSets(header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) {
    for (const keySet of this.options.keySets ?? []) {
      try {
        return await keySet(header, token);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      }
    }
    throw new TokenRejected(`no trusted key has kid ${JSON.stringify(header.kid)}`);
  }

  /** The leaf's public key, once the chain is checked link by link up to a root of the bundle. */
  private chainKey(x5c: unknown): KeyObject {
    const roots = this.options.rootCertificates ?? [];
    if (roots.length === 0) throw new TokenRejected('x5c chains are not accepted: no rootcertbundle is configured');
    if (!Array.isArray(x5c) || x5c.length === 0 || !x5c.every((entry) => typeof entry === 'string')) throw new TokenRejected('malformed x5c');
    let chain: X509Certificate[];
    try {
      chain = x5c.map((der: string) => new X509Certificate(Buffer.from(der, 'base64')));
    } catch {
      throw new TokenRejected('x5c holds an unreadable certificate');
    }
    const now = this.now();
    for (const [index, cert] of chain.entries()) {
      if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) throw new TokenRejected(`x5c certificate ${index} is not valid now`);
      const issuer = chain[index + 1];
      if (issuer && !(issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey))) {
        throw new TokenRejected(`x5c certificate ${index} is not signed by the next one`);
      }
    }
    const top = chain[chain.length - 1]!;
    const trusted = roots.some(
      (root) => root.fingerprint256 === top.fingerprint256 || (root.ca && top.checkIssued(root) && top.verify(root.publicKey)),
    );
    if (!trusted) throw new TokenRejected('the x5c chain does not end at a trusted root certificate');
    return chain[0]!.publicKey;
  }
}
