/**
 * Credentials for one upstream registry, as a Docker client would present them.
 *
 * The upstream says how it wants to be addressed in the `WWW-Authenticate` challenge of a 401:
 * - `Basic realm=...`: the configured username and password go on every request from then on;
 * - `Bearer realm=...,service=...,scope=...` (the Docker token flow, Docker Hub's included): a token is asked
 *   of the realm, `GET realm?service=&scope=repository:<name>:pull`, with the credentials as Basic auth or
 *   anonymously when there are none; it is cached per scope until shortly before it expires. Once the realm is
 *   known, tokens for new scopes are fetched before the first request instead of after a 401.
 *
 * Credentials and tokens stay in this module's memory: they are never logged and never part of an error.
 */
import { UpstreamError } from './errors.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses the first challenge of a `WWW-Authenticate` header: `Bearer realm="...",service="..."`. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const param = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = match[2]!;
  let found: RegExpExecArray | null;
  while ((found = param.exec(rest)) !== null && found[0] !== '') {
    params[found[1]!.toLowerCase()] = found[2] !== undefined ? found[2].replace(/\\(.)/g, '$1') : found[3]!;
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

export interface Credentials {
  username?: string;
  password?: string;
}

/** What the auth module needs from HTTP: a GET answering status and body text. */
export type TokenFetcher = (url: URL, headers: Record<string, string>) => Promise<{ status: number; body: string }>;

interface CachedToken {
  token: string;
  /** Epoch milliseconds after which a new token is fetched. */
  refreshAt: number;
}

/** Tokens are renewed this long before they expire, so one never lapses in flight. */
const EXPIRY_MARGIN_MS = 10_000;
/** The token spec's default lifetime when the realm names none. */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_CACHED_TOKENS = 1000;

export class UpstreamAuth {
  private basic = false;
  private bearer: Record<string, string> | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly upstream: string,
    private readonly credentials: Credentials,
    private readonly fetchToken: TokenFetcher,
    private readonly now: () => number = Date.now,
  ) {}

  private basicHeader(): string | undefined {
    const { username, password } = this.credentials;
    if (username === undefined) return undefined;
    return `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  }

  /**
   * The Authorization header for a request in `scope`, fetching a token first when the upstream is known to
   * want one and none is cached. Undefined when the upstream has asked for nothing (yet).
   */
  async authorization(scope: string): Promise<string | undefined> {
    if (this.basic) return this.basicHeader();
    if (!this.bearer) return undefined;
    const cached = this.tokens.get(scope);
    if (cached && cached.refreshAt > this.now()) return `Bearer ${cached.token}`;
    await this.obtain(scope);
    const token = this.tokens.get(scope);
    return token ? `Bearer ${token.token}` : undefined;
  }

  /** Learns from a 401's challenge. True when retrying the request with new credentials can help. */
  async challenged(header: string | undefined, scope: string): Promise<boolean> {
    const challenge = header === undefined ? undefined : parseChallenge(header);
    if (challenge?.scheme === 'basic') {
      if (this.basic || this.credentials.username === undefined) return false;
      this.basic = true;
      return true;
    }
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      const hadValidToken = (this.tokens.get(scope)?.refreshAt ?? 0) > this.now();
      this.bearer = challenge.params;
      this.tokens.delete(scope);
      // A token just refused will not be accepted again: retry only with one fetched now.
      if (hadValidToken && challenge.params.error === undefined) return false;
      await this.obtain(scope);
      return true;
    }
    return false;
  }

  /** One token request per scope at a time, however many pulls need it. */
  private obtain(scope: string): Promise<void> {
    let running = this.pending.get(scope);
    if (!running) {
      running = this.requestToken(scope).finally(() => this.pending.delete(scope));
      this.pending.set(scope, running);
    }
    return running;
  }

  private async requestToken(scope: string): Promise<void> {
    const params = this.bearer!;
    let url: URL;
    try {
      url = new URL(params.realm!);
    } catch {
      throw new UpstreamError(this.upstream, 'unavailable', `its token realm is not a URL`);
    }
    if (params.service !== undefined) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = this.basicHeader();
    if (basic) headers.authorization = basic;
    const response = await this.fetchToken(url, headers);
    if (response.status === 401 || response.status === 403) {
      throw new UpstreamError(this.upstream, 'denied', `its token service refused ${basic ? 'the configured credentials' : 'anonymous access'} (${response.status})`);
    }
    if (response.status !== 200) {
      throw new UpstreamError(this.upstream, response.status === 429 ? 'ratelimited' : 'unavailable', `its token service answered ${response.status}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(response.body) as typeof body;
    } catch {
      throw new UpstreamError(this.upstream, 'unavailable', 'its token service answered something other than JSON');
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new UpstreamError(this.upstream, 'unavailable', 'its token service answered no token');
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN;
    // A clock far off ours would make every token look expired (or eternal): trust issued_at only when close.
    const start = Number.isFinite(issued) && Math.abs(issued - this.now()) < 60_000 ? issued : this.now();
    const lifetime = seconds * 1000;
    this.remember(scope, { token, refreshAt: start + Math.max(lifetime - EXPIRY_MARGIN_MS, lifetime / 2) });
  }

  private remember(scope: string, token: CachedToken): void {
    if (this.tokens.size >= MAX_CACHED_TOKENS) {
      const now = this.now();
      for (const [key, value] of this.tokens) if (value.refreshAt <= now) this.tokens.delete(key);
      if (this.tokens.size >= MAX_CACHED_TOKENS) this.tokens.delete(this.tokens.keys().next().value!);
    }
    this.tokens.set(scope, token);
  }
}
