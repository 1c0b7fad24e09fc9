/**
 * An upstream registry on loopback for proxy tests: a real Berth (in memory) behind a small gate that can be
 * told to answer 429 or 503, to hang, to go down, or to demand Docker-style token auth, and that records every
 * request it sees (as an upstream's access log would). In front of it, a Berth pull-through cache.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { createProxyRegistry, type ProxyRegistry, type UpstreamOptions } from '../../src/proxy/registry.js';
import type { ProxyLog } from '../../src/proxy/stats.js';
import { createRegistry } from '../../src/registry/index.js';
import { InMemoryDriver } from '../../src/storage/drivers/memory.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { newApp } from '../http/fixtures.js';

export type GateMode = 'forward' | '429' | '503' | 'hang';

export interface SeenRequest {
  method: string;
  path: string;
  authorization?: string;
}

export interface Upstream {
  /** The upstream registry itself, for pushing test content with `inject`. */
  app: FastifyInstance;
  url: string;
  host: string;
  mode: GateMode;
  /** Every request the gate received, token requests included. */
  seen: SeenRequest[];
  /** Holds each forwarded blob GET body back until released (for coalescing tests). */
  holdBlobs: boolean;
  /** Flips the first byte of every blob GET body: an upstream serving bytes that do not match the digest. */
  corruptBlobs: boolean;
  releaseBlobs(): void;
  /** When set, requests need `Bearer <token>` from `/token`, which takes these Basic credentials. */
  auth?: { username: string; password: string; tokensIssued: number; expiresIn?: number };
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

export async function startUpstream(): Promise<Upstream> {
  const { app } = newApp();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const target = app.server.address() as AddressInfo;
  let release: () => void = () => {};
  let released = Promise.resolve();
  const hanging = new Set<ServerResponse>();
  let counter = 0;
  const validTokens = new Set<string>();

  const upstream: Upstream = {
    app,
    url: '',
    host: '',
    mode: 'forward',
    seen: [],
    holdBlobs: false,
    corruptBlobs: false,
    releaseBlobs: () => release(),
    close: async () => {
      for (const res of hanging) res.destroy();
      gate.closeAllConnections();
      await new Promise((resolve) => gate.close(resolve));
      await app.close();
    },
  };
  const hold = () => {
    released = new Promise((resolve) => {
      release = resolve;
    });
  };
  hold();

  const gate = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    upstream.seen.push({ method: req.method ?? '', path, authorization: req.headers.authorization });
    const auth = upstream.auth;
    if (auth && path.startsWith('/token')) {
      const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return void res.writeHead(401).end();
      const token = `t${++counter}`;
      validTokens.add(token);
      auth.tokensIssued += 1;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: auth.expiresIn ?? 300 }));
    }
    if (upstream.mode === 'hang') {
      hanging.add(res);
      return;
    }
    if (upstream.mode !== 'forward') {
      return void res.writeHead(Number(upstream.mode), { 'content-type': 'application/json', 'retry-after': '7' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
    }
    if (auth && path !== '/v2/' && !validTokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) {
      const scope = /^\/v2\/(.+)\/(?:manifests|blobs|tags)\//.exec(path)?.[1];
      return void res
        .writeHead(401, { 'www-authenticate': `Bearer realm="${upstream.url}/token",service="test",scope="repository:${scope}:pull"` })
        .end();
    }
    const forward = httpRequest({ host: '127.0.0.1', port: target.port, method: req.method, path, headers: req.headers }, async (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const isBlobGet = req.method === 'GET' && path.includes('/blobs/');
      if (upstream.corruptBlobs && isBlobGet) {
        const first = await new Promise<Buffer | null>((resolve) => answer.once('readable', () => resolve(answer.read() as Buffer | null)));
        if (first) res.write(Buffer.concat([Buffer.from([first[0]! ^ 0xff]), first.subarray(1)]));
      }
      if (upstream.holdBlobs && isBlobGet) {
        // The first chunk goes out at once, the rest only when released: a fill that is provably in flight.
        const first = await new Promise<Buffer | null>((resolve) => answer.once('readable', () => resolve(answer.read(1024) as Buffer | null)));
        if (first) res.write(first);
        await released;
      }
      answer.pipe(res);
    });
    forward.once('error', () => res.destroy());
    req.pipe(forward);
  });
  const port = await listen(gate);
  upstream.url = `http://127.0.0.1:${port}`;
  upstream.host = `127.0.0.1:${port}`;
  upstream.releaseBlobs = () => {
    release();
    hold();
  };
  return upstream;
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

export function recordingLog(): ProxyLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
  };
}

export interface Cache {
  app: FastifyInstance;
  proxy: ProxyRegistry;
  driver: StorageDriver;
  log: ReturnType<typeof recordingLog>;
  url: string;
  close(): Promise<void>;
}

/** A Berth pull-through cache of `upstreams` (defaults filled in), listening on loopback. */
export async function startCache(upstreams: (Partial<UpstreamOptions> & Pick<UpstreamOptions, 'name' | 'url'>)[], driver: StorageDriver = new InMemoryDriver()): Promise<Cache> {
  const log = recordingLog();
  const local = createRegistry({ driver, deleteEnabled: true, readOnly: false });
  const cache = createRegistry({ driver, deleteEnabled: true, readOnly: false, validationDisabled: true });
  const proxy = createProxyRegistry(local, {
    upstreams: upstreams.map((u) => ({ prefix: u.name, ttlMs: 0, timeoutMs: 2_000, ...u })),
    driver,
    cache,
    log,
  });
  const app = buildApp({ registry: proxy });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    proxy,
    driver,
    log,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      // A client may have every byte a moment before the server sees its response finish: do not wait out keep-alive.
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await proxy.close();
    },
  };
}
