/**
 * `auth.htpasswd`: HTTP Basic authentication against an htpasswd file, as in Distribution. Every request
 * must carry valid credentials (including `GET /v2/`); any authenticated user may do anything, since the
 * file says who, not what.
 */
import type { Access } from './access.js';
import { challengeParam, UnauthorizedError, type AccessController, type AuthRequest, type Grant } from './controller.js';
import type { HtpasswdFile } from './htpasswd.js';
import type { FailureThrottle } from './throttle.js';

export interface Credentials {
  username: string;
  password: string;
}

/** The user and password of a `Basic` Authorization header; undefined when there is none or it is malformed. */
export function parseBasic(header: string | undefined): Credentials | undefined {
  const match = header === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class HtpasswdAccessController implements AccessController {
  private readonly challenge: string;

  constructor(
    realm: string,
    private readonly file: HtpasswdFile,
    private readonly throttle: FailureThrottle,
  ) {
    this.challenge = `Basic ${challengeParam('realm', realm)}`;
  }

  async authorize(request: AuthRequest, wanted: readonly Access[]): Promise<Grant> {
    const credentials = parseBasic(request.authorization);
    if (!credentials) throw new UnauthorizedError('basic authentication required', this.challenge, wanted, 'missing');
    this.throttle.check(request.remoteAddress);
    if (!(await this.file.verify(credentials.username, credentials.password))) {
      this.throttle.failed(request.remoteAddress);
      throw new UnauthorizedError('invalid username or password', this.challenge, wanted, 'invalid');
    }
    this.throttle.succeeded(request.remoteAddress);
    return { subject: credentials.username };
  }
}
