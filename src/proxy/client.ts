/**
 * The HTTP client of one upstream registry (undici, one connection pool per upstream): manifests, blobs and
 * tag lists of the upstream's repositories, with its auth (see `auth.ts`) and its answers turned into
 * `UpstreamError`s.
 *
 * Redirects (Docker Hub sends blob GETs to a CDN) are followed here rather than by undici so that the
 * Authorization header provably never leaves the upstream's origin.
 */
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { Digest } from '../oci/digest.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../oci/mediatypes.js';
import type { Page, PageRequest } from '../registry/types.js';
import { UpstreamAuth } from './auth.js';
import { UpstreamError } from './errors.js';

export interface UpstreamClientOptions {
  /** The upstream's configured name: the only way messages and logs refer to it. */
  name: string;
  /** Base URL (`proxy.remoteurl`); any user:password in it is used as credentials and dropped from the URL. */
  url: string;
  username?: string;
  password?: string;
  /** Longest wait for response headers, and longest silence within a body. */
  timeoutMs: number;
}

const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;

export interface UpstreamManifest {
  /** `Docker-Content-Digest`, when the upstream sent it. */
  digest?: string;
  mediaType?: string;
  /** Absent for HEAD. */
  bytes?: Buffer;
}

export interface UpstreamBlob {
  /** From Content-Length, when the upstream sent one. */
  size?: number;
  body: Readable;
}

type Response = Dispatcher.ResponseData;

function header(response: Response, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(response: Response): number | undefined {
  const value = header(response, 'content-length');
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body.dump();
  } catch {
    // the connection is dropped instead; nothing to report
  }
}

export class UpstreamClient {
  readonly name: string;
  private readonly base: URL;
  private readonly agent: Agent;
  private readonly auth: UpstreamAuth;
  private readonly timeoutMs: number;

  constructor(options: UpstreamClientOptions) {
    this.name = options.name;
    this.timeoutMs = options.timeoutMs;
    const base = new URL(options.url);
    const username = options.username ?? (base.username ? decodeURIComponent(base.username) : undefined);
    const password = options.password ?? (base.password ? decodeURIComponent(base.password) : undefined);
    base.username = '';
    base.password = '';
    this.base = base;
    this.agent = new Agent({ connect: { timeout: options.timeoutMs }, keepAliveTimeout: 30_000 });
    this.auth = new UpstreamAuth(this.name, { username, password }, async (url, headers) => {
      const response = await this.raw('GET', url, headers);
      return { status: response.statusCode, body: await response.body.text() };
    });
  }

  /** The upstream's host (e.g. `registry-1.docker.io`), as containerd's `?ns=` names registries. */
  get host(): string {
    return this.base.host;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  async manifest(name: string, reference: string, method: 'GET' | 'HEAD'): Promise<UpstreamManifest> {
    const response = await this.send(method, name, `/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    await this.check(response, `manifest ${name}:${reference}`, 'MANIFEST_UNKNOWN');
    const result: UpstreamManifest = { digest: header(response, 'docker-content-digest'), mediaType: header(response, 'content-type')?.split(';')[0]?.trim() };
    if (method === 'HEAD') {
      await discard(response);
      return result;
    }
    const declared = contentLength(response);
    if (declared !== undefined && declared > MAX_MANIFEST_BYTES) {
      await discard(response);
      throw new UpstreamError(this.name, 'unavailable', `manifest ${name}:${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_MANIFEST_BYTES) {
          response.body.destroy();
          throw new UpstreamError(this.name, 'unavailable', `manifest ${name}:${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      throw this.networkError(err);
    }
    return { ...result, bytes: Buffer.concat(chunks, size) };
  }

  /** The blob's size, from a HEAD. */
  async blobSize(name: string, digest: Digest): Promise<number | undefined> {
    const response = await this.send('HEAD', name, `/blobs/${digest}`, {});
    await this.check(response, `blob ${digest} of ${name}`, 'BLOB_UNKNOWN');
    await discard(response);
    return contentLength(response);
  }

  async blob(name: string, digest: Digest): Promise<UpstreamBlob> {
    const response = await this.send('GET', name, `/blobs/${digest}`, {});
    await this.check(response, `blob ${digest} of ${name}`, 'BLOB_UNKNOWN');
    return { size: contentLength(response), body: response.body };
  }

  async tags(name: string, page: PageRequest): Promise<Page<string>> {
    const query = new URLSearchParams();
    if (page.n !== undefined) query.set('n', String(page.n));
    if (page.last !== undefined) query.set('last', page.last);
    const suffix = query.size > 0 ? `?${query}` : '';
    const response = await this.send('GET', name, `/tags/list${suffix}`, { accept: 'application/json' });
    await this.check(response, `tags of ${name}`, 'NAME_UNKNOWN');
    let body: { tags?: unknown };
    try {
      body = (await response.body.json()) as { tags?: unknown };
    } catch {
      throw new UpstreamError(this.name, 'unavailable', `the tag list of ${name} is not JSON`);
    }
    const tags = Array.isArray(body.tags) ? body.tags.filter((tag): tag is string => typeof tag === 'string') : [];
    return { items: tags, more: /rel="?next"?/.test(header(response, 'link') ?? '') };
  }

  /** A request for `/v2/<name><path>`, authorised for pulling `name`; one retry after a 401's challenge. */
  private async send(method: 'GET' | 'HEAD', name: string, path: string, headers: Record<string, string>): Promise<Response> {
    const url = new URL(`${this.base.origin}${this.base.pathname.replace(/\/+$/, '')}/v2/${name}${path}`);
    const scope = `repository:${name}:pull`;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.auth.authorization(scope);
      const response = await this.follow(method, url, authorization ? { ...headers, authorization } : headers);
      if (response.statusCode !== 401 || attempt > 0) return response;
      await discard(response);
      if (!(await this.auth.challenged(header(response, 'www-authenticate'), scope))) return response;
    }
  }

  private async follow(method: 'GET' | 'HEAD', start: URL, headers: Record<string, string>): Promise<Response> {
    let url = start;
    let sent = headers;
    for (let hops = 0; ; hops++) {
      const response = await this.raw(method, url, sent);
      const location = header(response, 'location');
      if (![301, 302, 303, 307, 308].includes(response.statusCode) || location === undefined || hops >= MAX_REDIRECTS) return response;
      await discard(response);
      const next = new URL(location, url);
      if (next.origin !== this.base.origin) {
        const { authorization: _dropped, ...rest } = sent;
        sent = rest;
      }
      url = next;
    }
  }

  private async raw(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>): Promise<Response> {
    try {
      return await request(url, {
        method,
        headers: { 'user-agent': 'berth-proxy', ...headers },
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw this.networkError(err);
    }
  }

  private networkError(err: unknown): unknown {
    if (err instanceof UpstreamError) return err;
    const code = (err as { code?: string }).code;
    const what = code?.includes('TIMEOUT') ? 'timed out' : `unreachable (${code ?? (err as Error).message})`;
    return new UpstreamError(this.name, 'unavailable', what);
  }

  /** Throws the UpstreamError an unsuccessful answer means (after reading it off the connection). */
  private async check(response: Response, what: string, notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN'): Promise<void> {
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    await discard(response);
    if (status === 404) throw new UpstreamError(this.name, 'notfound', `${what} not found`, notFound);
    if (status === 401 || status === 403) {
      throw new UpstreamError(this.name, 'denied', `access to ${what} was refused (${status})`);
    }
    if (status === 429) {
      const error = new UpstreamError(this.name, 'ratelimited', `too many requests (429) for ${what}`);
      const retryAfter = header(response, 'retry-after');
      if (retryAfter !== undefined && /^\d+$/.test(retryAfter)) error.withHeader('Retry-After', retryAfter);
      throw error;
    }
    throw new UpstreamError(this.name, 'unavailable', `answered ${status} for ${what}`);
  }
}
