/**
 * `auth.*` → the access controller the HTTP layer uses (and, for the built-in token service, its routes).
 * Everything is read and checked here, at start-up: a missing htpasswd file or a bad entry stops `berth
 * serve` with the file and line.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { HtpasswdAccessController } from '../auth/basic.js';
import { HtpasswdFile } from '../auth/htpasswd.js';
import { SillyAccessController } from '../auth/silly.js';
import { FailureThrottle } from '../auth/throttle.js';
import type { BerthConfig } from '../config/schema.js';
import type { AuthOptions } from '../http/auth.js';
import type { TokenRoutesOptions } from '../http/routes/auth/token.js';

export function required<T>(value: T | undefined, key: string): T {
  if (value === undefined || value === '') throw new Error(`${key} is required`);
  return value;
}

export function openHtpasswd(path: string, logger: Logger): HtpasswdFile {
  return new HtpasswdFile(path, {
    onReloadError: (err) => logger.error({ file: path, err: err.message }, 'htpasswd file changed but cannot be used; keeping the previous entries'),
  });
}

export interface AuthSetup {
  auth?: AuthOptions;
  tokenService?: TokenRoutesOptions;
}

export function readText(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export async function createAuth(config: BerthConfig, logger: Logger): Promise<AuthSetup> {
  const { silly, htpasswd, token } = config.auth;
  // jose and the token modules load only for token auth.
  if (token) return (await import('./token-auth.js')).tokenAuth(token, config, logger);
  if (silly) {
    logger.warn('auth.silly lets any request with an Authorization header through: for development only');
    const controller = new SillyAccessController(required(silly.realm, 'auth.silly.realm'), required(silly.service, 'auth.silly.service'));
    return { auth: { controller } };
  }
  if (htpasswd) {
    const file = openHtpasswd(required(htpasswd.path, 'auth.htpasswd.path'), logger);
    const controller = new HtpasswdAccessController(required(htpasswd.realm, 'auth.htpasswd.realm'), file, new FailureThrottle());
    return { auth: { controller } };
  }
  return {};
}
