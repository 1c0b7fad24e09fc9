/**
 * `berth serve` with `http.workers: 2`: real processes on one real address. Which process accepts a
 * connection is the kernel's choice, so tests that need both to serve open connections until both have.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
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

/** One request on a connection of its own, which either process may accept. */
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

/** Pids of the first process's live children (its workers). */
function workerPids(primary: number): number[] {
  const tasks = spawnSync('sh', ['-c', `cat /proc/${primary}/task/*/children`], { encoding: 'utf8' }).stdout;
  return tasks.split(/\s+/).filter(Boolean).map(Number).sort();
}

/** The pid among `pids` holding the server side of the loopback TCP connection from `clientPort` to `serverPort`. */
function connectionOwner(pids: number[], serverPort: number, clientPort: number): number | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const entry = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[1]?.endsWith(`:${hex(serverPort)}`) && fields[2]?.endsWith(`:${hex(clientPort)}`));
  if (entry === undefined) return undefined;
  const socket = `socket:[${entry[9]}]`;
  return pids.find((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === socket;
    } catch {
      return false;
    }
  }));
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

const ALL_LISTENING = /msg=listening worker=1 address=\S+ workers=2/;

/** Berth with two workers, once both listen (the first one answers before the second has started). */
async function startWithTwoWorkers(): Promise<RunningRegistry> {
  const registry = await startRegistry({ kind: 'berth', config: { http: { workers: 2 } } });
  await until('both workers to listen', () => (ALL_LISTENING.test(registry.logs()) ? true : undefined));
  return registry;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('berth serve with http.workers: 2', () => {
  it('completes a chunked upload whose PATCHes and PUT land on different workers, and still checks the digest', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const chunks = [0, 1, 2, 3].map((i) => Buffer.alloc(100_000 + i, i + 1));
      const whole = Buffer.concat(chunks);
      const upload = async (repository: string, digest: string) => {
        const post = await send(`${registry.url}/v2/${repository}/blobs/uploads/`, 'POST');
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
        const put = await send(location, 'PUT');
        const workers = servedBy(registry, `/v2/${repository}/blobs/uploads/`)
          .filter(([method]) => method === 'PATCH' || method === 'PUT')
          .map(([, worker]) => worker);
        return { put, spread: new Set(workers).size === 2 };
      };

      // Until an upload's requests have spread over both processes; each try is its own repository.
      let spreadWrong = false;
      let spreadRight = false;
      for (let attempt = 0; attempt < 10 && !(spreadWrong && spreadRight); attempt += 1) {
        const wrong = await upload(`spread/wrong${attempt}`, sha256(Buffer.from('something else')));
        assert.equal(wrong.put.status, 400);
        assert.match(wrong.put.body.toString(), /DIGEST_INVALID/);
        spreadWrong ||= wrong.spread;
        const right = await upload(`spread/right${attempt}`, sha256(whole));
        assert.equal(right.put.status, 201, right.put.body.toString());
        const get = await send(`${registry.url}/v2/spread/right${attempt}/blobs/${sha256(whole)}`, 'GET');
        assert.equal(get.status, 200);
        assert.ok(get.body.equals(whole));
        spreadRight ||= right.spread;
      }
      assert.ok(spreadWrong && spreadRight, 'uploads spread over both workers were checked and completed');
    } finally {
      await registry.stop();
    }
  });

  it('on SIGTERM every worker finishes its in-flight upload, then the server exits 0', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const processes = [registry.process.pid!, ...workerPids(registry.process.pid!)];
      assert.equal(processes.length, 2);
      const serverPort = Number(new URL(registry.url).port);
      // Open uploads until each process holds one in flight.
      const inFlight: Array<{ patch: ClientRequest; answered: Promise<number> }> = [];
      const holders = new Set<number>();
      for (let n = 0; n < 30 && holders.size < 2; n += 1) {
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
        const clientPort = await new Promise<number>((resolve) => patch.once('socket', (socket) => socket.once('connect', () => resolve(socket.localPort!))));
        holders.add(await until('the connection to be accepted', () => connectionOwner(processes, serverPort, clientPort)));
        inFlight.push({ patch, answered });
      }
      assert.equal(holders.size, 2, 'both processes hold an upload in flight');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const exited = new Promise<number | null>((resolve) => registry.process.once('exit', resolve));
      registry.process.kill('SIGTERM');
      await until('both workers to start draining', () =>
        (registry.logs().match(/shutting down: draining in-flight requests/g) ?? []).length === 2 ? true : undefined,
      );
      await assert.rejects(send(`${registry.url}/v2/`, 'GET'), 'a draining server accepts no new connections');

      for (const { patch } of inFlight) patch.end(Buffer.alloc(64 * 1024, 9));
      for (const { answered } of inFlight) assert.equal(await answered, 202);
      assert.equal(await exited, 0);
    } finally {
      await registry.stop();
    }
  });

  it('replaces a worker that is killed, and keeps serving', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const first = registry.process.pid!;
      const [worker] = await until('the worker', () => (workerPids(first).length === 1 ? workerPids(first) : undefined));
      process.kill(worker!, 'SIGKILL');
      await until('a replacement worker', () => {
        const pids = workerPids(first);
        return pids.length === 1 && pids[0] !== worker ? pids : undefined;
      });
      await until('the replacement to listen', () => (/msg=listening worker=3/.test(registry.logs()) ? true : undefined));
      assert.match(registry.logs(), /worker died; starting a replacement/);
      const served = new Set<string>();
      for (let i = 0; i < 60 && served.size < 2; i += 1) {
        assert.equal((await send(`${registry.url}/v2/`, 'GET')).status, 200);
        for (const [, id] of servedBy(registry, 'path=/v2/ ')) served.add(id);
      }
      assert.deepEqual([...served].sort(), ['1', '3'], 'the first process and the replacement both serve');
    } finally {
      await registry.stop();
    }
  });

  it('spreads a burst of connections evenly over the processes', async () => {
    const registry = await startWithTwoWorkers();
    const sockets: Socket[] = [];
    try {
      const processes = [registry.process.pid!, ...workerPids(registry.process.pid!)];
      assert.equal(processes.length, 2);
      const opened = Array.from({ length: 64 }, () => new Promise<Socket>((resolve, reject) => {
        const socket = connect(registry.port, '127.0.0.1', () => resolve(socket));
        socket.once('error', reject);
        sockets.push(socket);
      }));
      const held = new Map<number, number>();
      for (const socket of await Promise.all(opened)) {
        const owner = await until('the connection to be accepted', () => connectionOwner(processes, registry.port, socket.localPort!));
        held.set(owner, (held.get(owner) ?? 0) + 1);
      }
      for (const pid of processes) assert.ok((held.get(pid) ?? 0) >= 16, `each process holds a fair share of 64: ${JSON.stringify([...held])}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await registry.stop();
    }
  });

  it('refuses to share a port with another server that is already listening on it', async () => {
    const registry = await startWithTwoWorkers();
    const dir = await mkdtemp(join(tmpdir(), 'berth-workers-'));
    try {
      const config = join(dir, 'config.yml');
      const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', `  addr: ${registry.host}`, '  workers: 2'];
      await writeFile(config, lines.join('\n'));
      const second = spawnSync(process.execPath, [BERTH, 'serve', config], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(second.status, 1, second.stdout + second.stderr);
      assert.match(second.stderr, /EADDRINUSE/);
      assert.equal((await send(`${registry.url}/v2/`, 'GET')).status, 200, 'the first server still serves');
    } finally {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves a Unix socket from both processes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-workers-'));
    const socketPath = join(dir, 'berth.sock');
    try {
      const config = join(dir, 'config.yml');
      const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', '  net: unix', `  addr: ${socketPath}`, '  workers: 2'];
      await writeFile(config, lines.join('\n'));
      const child = spawn(process.execPath, [BERTH, 'serve', config], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        await until('both workers to listen', () => (/msg=listening worker=1 address=\S+ workers=2/.test(output) ? true : undefined));
        const served = new Set<string>();
        for (let i = 0; i < 100 && served.size < 2; i += 1) {
          const status = await new Promise<number>((resolve, reject) => {
            const req = request({ socketPath, path: '/v2/', agent: false }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end();
          });
          assert.equal(status, 200);
          for (const line of output.split('\n')) if (line.includes('msg="request completed"')) served.add(/ worker=(\d+)/.exec(line)?.[1] ?? '');
        }
        assert.deepEqual([...served].sort(), ['1', '2']);
      } finally {
        child.kill('SIGTERM');
      }
      assert.equal(await exited, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops the workers when the first process is killed, leaving nothing on the port', async () => {
    const registry = await startWithTwoWorkers();
    try {
      const first = registry.process.pid!;
      const [worker] = workerPids(first);
      assert.ok(worker !== undefined);
      process.kill(first, 'SIGKILL');
      await until('the worker to exit', () => {
        try {
          process.kill(worker, 0);
          return undefined;
        } catch {
          return true;
        }
      });
      await assert.rejects(send(`${registry.url}/v2/`, 'GET'), 'no orphaned worker serves the port');
    } finally {
      await registry.stop();
    }
  });

  it('loads the config parser only in the first process, and unconfigured SDKs nowhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-workers-'));
    try {
      const trace = join(dir, 'trace');
      await mkdir(trace);
      const config = join(dir, 'config.yml');
      const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', '  addr: 127.0.0.1:0', '  workers: 2'];
      await writeFile(config, lines.join('\n'));
      // Workers inherit the first process's execArgv, so the hook traces them too.
      const register = `import { register } from 'node:module'; register(${JSON.stringify(MODULE_TRACE)});`;
      const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BERTH, 'serve', config], {
        env: { ...process.env, BERTH_MODULE_TRACE: trace },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await until('both workers to listen', () => (ALL_LISTENING.test(output) ? true : undefined));
      child.kill('SIGTERM');
      await exited;
      const loaded = new Map<number, Set<string>>();
      for (const pid of await readdir(trace)) loaded.set(Number(pid), new Set((await readFile(join(trace, pid), 'utf8')).split('\n').filter(Boolean)));
      const first = loaded.get(child.pid!) ?? new Set<string>();
      const workers = [...loaded].filter(([pid]) => pid !== child.pid).map(([, packages]) => packages);
      assert.ok(first.has('zod') && first.has('fastify'), 'the first process parsed the configuration and serves');
      assert.equal(workers.length, 1);
      for (const packages of workers) {
        assert.ok(packages.has('fastify'));
        assert.ok(!packages.has('zod') && !packages.has('yaml'), 'a worker serves the parsed configuration it was given');
      }
      for (const packages of [first, ...workers]) {
        for (const unused of ['@aws-sdk/client-s3', 'ioredis', 'jose', 'prom-client', 'undici']) assert.ok(!packages.has(unused), `${unused} is not configured`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses settings whose state would be split between workers, naming them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-workers-'));
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

  it('exits 1 without forking workers when the address is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    const dir = await mkdtemp(join(tmpdir(), 'berth-workers-'));
    try {
      const config = join(dir, 'config.yml');
      const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', `  addr: 127.0.0.1:${port}`, '  workers: 2'];
      await writeFile(config, lines.join('\n'));
      const result = spawnSync(process.execPath, [BERTH, 'serve', config], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /EADDRINUSE/);
      assert.doesNotMatch(result.stdout, /worker=2/, 'no worker was forked');
    } finally {
      taken.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

