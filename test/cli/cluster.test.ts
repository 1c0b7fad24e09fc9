/** `berth serve` with `http.workers: 2`: real processes, real sockets, requests spread over the workers. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));
const MODULE_TRACE = new URL('../helpers/module-trace.js', import.meta.url).href;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a connection of its own, so that the primary hands it to the next worker in turn. */
function send(url: URL | string, method: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Which worker logged the access line of each request, e.g. [['PATCH', '1'], ['PUT', '2']]. */
function servedBy(registry: RunningRegistry, pathPart: string): Array<[string, string]> {
  return registry
    .logs()
    .split('\n')
    .filter((line) => line.includes('msg="request completed"') && line.includes(pathPart))
    .map((line) => [/ method=(\w+)/.exec(line)?.[1] ?? '', / worker=(\d+)/.exec(line)?.[1] ?? '']);
}

/** Pids of the primary's live children (its workers). */
function workerPids(primary: number): number[] {
  const tasks = spawnSync('sh', ['-c', `cat /proc/${primary}/task/*/children`], { encoding: 'utf8' }).stdout;
  return tasks.split(/\s+/).filter(Boolean).map(Number).sort();
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Berth with two workers, once both listen (the first one answers before the second has started). */
async function startWithTwoWorkers(): Promise<RunningRegistry> {
  const registry = await startRegistry({ kind: 'berth', config: { http: { workers: 2 } } });
  await until('both workers to listen', () => (/msg=listening address=\S+ workers=2/.test(registry.logs()) ? true : undefined));
  return registry;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('berth serve with http.workers: 2', () => {
  it('completes a chunked upload whose PATCHes and PUT land on different workers, and still checks the digest', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const chunks = [0, 1, 2, 3].map((i) => Buffer.alloc(100_000 + i, i + 1));
      const whole = Buffer.concat(chunks);
      const upload = async (digest: string) => {
        const post = await send(`${registry.url}/v2/spread/app/blobs/uploads/`, 'POST');
        assert.equal(post.status, 202);
        let location = new URL(post.headers.location!, registry.url);
        let offset = 0;
        for (const chunk of chunks) {
          const range = `${offset}-${offset + chunk.length - 1}`;
          const patch = await send(location, 'PATCH', { 'content-type': 'application/octet-stream', 'content-range': range }, chunk);
          assert.equal(patch.status, 202, patch.body.toString());
          assert.equal(patch.headers.range, `0-${offset + chunk.length - 1}`);
          offset += chunk.length;
          location = new URL(patch.headers.location!, registry.url);
        }
        location.searchParams.set('digest', digest);
        return send(location, 'PUT');
      };

      const wrong = await upload(sha256(Buffer.from('something else')));
      assert.equal(wrong.status, 400);
      assert.match(wrong.body.toString(), /DIGEST_INVALID/);

      const put = await upload(sha256(whole));
      assert.equal(put.status, 201, put.body.toString());
      const get = await send(`${registry.url}/v2/spread/app/blobs/${sha256(whole)}`, 'GET');
      assert.equal(get.status, 200);
      assert.ok(get.body.equals(whole));

      const uploadRequests = servedBy(registry, '/blobs/uploads/').filter(([method]) => method === 'PATCH' || method === 'PUT');
      assert.equal(uploadRequests.length, 10);
      assert.equal(new Set(uploadRequests.map(([, worker]) => worker)).size, 2, 'both workers served parts of the uploads');
    } finally {
      await registry.stop();
    }
  });

  it('on SIGTERM every worker finishes its in-flight upload, then the server exits 0', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const inFlight = await Promise.all(
        [1, 2].map(async (n) => {
          const post = await send(`${registry.url}/v2/drain/app${n}/blobs/uploads/`, 'POST');
          const patch = request(new URL(post.headers.location!, registry.url), { method: 'PATCH', agent: false });
          const answered = new Promise<number>((resolve, reject) => {
            patch.once('response', (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            });
            patch.once('error', reject);
          });
          patch.write(Buffer.alloc(64 * 1024, n));
          return { patch, answered };
        }),
      );
      await until('both PATCHes to reach a worker', () =>
        registry.logs().split('\n').filter((l) => /method=POST .*drain\/app/.test(l)).length === 2 ? true : undefined,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const exited = new Promise<number | null>((resolve) => registry.process.once('exit', resolve));
      registry.process.kill('SIGTERM');
      await until('both workers to start draining', () =>
        (registry.logs().match(/shutting down: draining in-flight requests/g) ?? []).length === 2 ? true : undefined,
      );
      await assert.rejects(send(`${registry.url}/v2/`, 'GET'), 'a draining server accepts no new connections');

      for (const { patch } of inFlight) patch.end(Buffer.alloc(64 * 1024, 9));
      assert.deepEqual(await Promise.all(inFlight.map(({ answered }) => answered)), [202, 202]);
      assert.equal(await exited, 0);
      const patches = servedBy(registry, '/v2/drain/').filter(([method]) => method === 'PATCH');
      assert.equal(new Set(patches.map(([, worker]) => worker)).size, 2, 'each worker had one upload in flight');
    } finally {
      await registry.stop();
    }
  });

  it('replaces a worker that is killed, and keeps serving', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const primary = registry.process.pid!;
      const before = await until('two workers', () => (workerPids(primary).length === 2 ? workerPids(primary) : undefined));
      process.kill(before[0]!, 'SIGKILL');
      const after = await until('a replacement worker', () => {
        const pids = workerPids(primary);
        return pids.length === 2 && !pids.includes(before[0]!) ? pids : undefined;
      });
      assert.ok(after.includes(before[1]!), 'the other worker kept running');
      await until('the replacement to listen', () => ((registry.logs().match(/msg=listening worker=3/g) ?? []).length > 0 ? true : undefined));
      assert.match(registry.logs(), /worker died; starting a replacement/);
      for (let i = 0; i < 4; i += 1) assert.equal((await send(`${registry.url}/v2/`, 'GET')).status, 200);
      assert.ok(servedBy(registry, 'path=/v2/ ').some(([, worker]) => worker === '3'), 'the replacement serves requests');
    } finally {
      await registry.stop();
    }
  });

  it('loads the HTTP stack only in the workers, the config parser only in the primary, and unconfigured SDKs nowhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    try {
      const trace = join(dir, 'trace');
      await mkdir(trace);
      const config = join(dir, 'config.yml');
      const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', '  addr: 127.0.0.1:0', '  workers: 2'];
      await writeFile(config, lines.join('\n'));
      // Workers inherit the primary's execArgv, so the hook traces them too.
      const register = `import { register } from 'node:module'; register(${JSON.stringify(MODULE_TRACE)});`;
      const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BERTH, 'serve', config], {
        env: { ...process.env, BERTH_MODULE_TRACE: trace },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await until('both workers to listen', () => (/msg=listening address=\S+ workers=2/.test(output) ? true : undefined));
      child.kill('SIGTERM');
      await exited;
      const loaded = new Map<number, Set<string>>();
      for (const pid of await readdir(trace)) loaded.set(Number(pid), new Set((await readFile(join(trace, pid), 'utf8')).split('\n').filter(Boolean)));
      const primary = loaded.get(child.pid!) ?? new Set<string>();
      const workers = [...loaded].filter(([pid]) => pid !== child.pid).map(([, packages]) => packages);
      assert.ok(primary.has('zod'), 'the primary parsed the configuration');
      assert.ok(!primary.has('fastify'), 'the primary loaded no HTTP server');
      assert.equal(workers.length, 2);
      for (const packages of workers) {
        assert.ok(packages.has('fastify'));
        assert.ok(!packages.has('zod') && !packages.has('yaml'), 'a worker serves the parsed configuration it was given');
      }
      for (const packages of [primary, ...workers]) {
        for (const unused of ['@aws-sdk/client-s3', 'ioredis', 'jose', 'prom-client', 'undici']) assert.ok(!packages.has(unused), `${unused} is not configured`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses settings whose state would be split between workers, naming them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    try {
      const config = join(dir, 'config.yml');
      await writeFile(config, ['version: 0.1', 'storage: inmemory', 'http:', '  addr: 127.0.0.1:0', '  workers: 2', '  debug:', '    addr: 127.0.0.1:0'].join('\n'));
      const result = spawnSync(process.execPath, [BERTH, 'serve', config], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 1);
      assert.match(result.stderr, /http\.workers > 1 needs shared storage; storage\.inmemory/);
      assert.match(result.stderr, /not supported yet: http\.debug with http\.workers > 1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 when the workers cannot listen, instead of restarting them in a loop', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    const dir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    try {
      const config = join(dir, 'config.yml');
      const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', `  addr: 127.0.0.1:${port}`, '  workers: 2'];
      await writeFile(config, lines.join('\n'));
      const result = spawnSync(process.execPath, [BERTH, 'serve', config], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /EADDRINUSE/);
      assert.match(result.stdout, /worker exited before it could serve/);
    } finally {
      taken.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

