/** `auth.token`: verifying tokens from an authorization service, and optionally issuing them (the built-in one). */
import { createHash, randomBytes } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { loadSigningKey } from '../auth/signing-key.js';
import { FailureThrottle } from '../auth/throttle.js';
import { keySetFrom, parseCertificateBundle, TokenAccessController } from '../auth/token.js';
import { TokenService } from '../auth/token-service.js';
import { UploadTickets } from '../auth/upload-tickets.js';
import type { BerthConfig } from '../config/schema.js';
import type { TokenRoutesOptions } from '../http/routes/auth/token.js';
import { openHtpasswd, readText, required, type AuthSetup } from './auth.js';

function jwksKeySet(source: string): JWTVerifyGetKey {
  // Berth also takes a URL here (e.g. another Berth's /auth/jwks.json); Distribution takes a file.
  if (/^https?:\/\//.test(source)) return keySetFrom(new URL(source));
  try {
    return keySetFrom(JSON.parse(readText(source, 'auth.token.jwks')));
  } catch (err) {
    throw new Error(`auth.token.jwks: ${source} is not a JWKS document: ${(err as Error).message}`);
  }
}

export async function tokenAuth(token: NonNullable<BerthConfig['auth']['token']>, config: BerthConfig, logger: Logger): Promise<AuthSetup> {
  const realm = required(token.realm, 'auth.token.realm');
  if (!realm.startsWith('/') && !URL.canParse(realm)) throw new Error(`auth.token.realm: expected a URL or an absolute path, got ${JSON.stringify(realm)}`);
  const service = required(token.service, 'auth.token.service');
  const issuer = required(token.issuer, 'auth.token.issuer');
  const rootCertificates = token.rootcertbundle
    ? parseCertificateBundle(readText(token.rootcertbundle, 'auth.token.rootcertbundle'), token.rootcertbundle)
    : undefined;
  const keySets = token.jwks ? [jwksKeySet(token.jwks)] : [];
  let tokenService: TokenRoutesOptions | undefined;
  if (token.builtin) {
    const builtin = token.builtin;
    const key = await loadSigningKey(builtin.signingkey);
    if (key.created) logger.info({ file: builtin.signingkey, kid: key.kid }, 'generated the token signing key');
    if (token.signingalgorithms.length > 0 && !token.signingalgorithms.includes(key.alg)) {
      throw new Error(`auth.token.builtin.signingkey is an ${key.alg} key, which auth.token.signingalgorithms does not accept`);
    }
    keySets.push(keySetFrom({ keys: [key.publicJwk] }));
    const path = realm.startsWith('/') ? realm : new URL(realm).pathname;
    const issuerService = new TokenService({
      service,
      issuer,
      key,
      expirationMs: builtin.expiration,
      refreshExpirationMs: builtin.refreshexpiration,
      accounts: builtin.accounts ? openHtpasswd(builtin.accounts, logger) : undefined,
      rules: builtin.access,
      throttle: new FailureThrottle(),
      realm: service,
    });
    tokenService = { service: issuerService, path };
  }
  const controller = new TokenAccessController({
    realm,
    autoRedirect: token.autoredirect,
    service,
    issuer,
    rootCertificates,
    keySets,
    algorithms: token.signingalgorithms,
    leewayMs: token.leeway,
  });
  // Replicas accept each other's upload tickets when they share http.secret.
  const secret = config.http.secret ? createHash('sha256').update(`berth-upload-tickets\0${config.http.secret}`).digest() : randomBytes(32);
  const uploadTickets = token.uploadgrace > 0 ? new UploadTickets(secret, token.uploadgrace) : undefined;
  return { auth: { controller, uploadTickets }, tokenService };
}
