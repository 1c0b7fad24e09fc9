/**
 * The servers under test, each a real process on a free loopback port with its own fresh directory:
 * Berth (`bin/berth.js serve`, with `http.workers`), Distribution 2.8.2 (`docker-registry serve`) from the
 * very same config.yml, and nginx serving static files as the ceiling for reads. Output goes to a log file in
 * that directory, so that the benchmark itself never spends CPU on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { commandPath } from './packages.js';

const BERTH_BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

export type ServerKind = 'berth' | 'distribution' | 'nginx';

export interface Server {
  /** Label in the tables, e.g. `berth`, `berth×2`, `distribution`. */
  name: string;
  kind: ServerKind;
  url: string;
  pid: number;
  /** Working directory: config, log, and the storage root (`<dir>/root`) or static files (`<dir>/www`). */
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Until `url` answers and, if given, the log has a line matching `ready` (the first answer may come early). */
async function waitUntilServing(url: string, child: ChildProcess, logPath: string, ready?: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before serving; see ${logPath}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (ready === undefined || ready.test(await readFile(logPath, 'utf8'))) return;
    } catch {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`did not ${ready ? `log ${ready} and ` : ''}answer ${url} within 30 s; see ${logPath}`);
}

async function launch(
  name: string,
  kind: ServerKind,
  dir: string,
  port: number,
  file: string,
  args: string[],
  probe: string,
  ready?: RegExp,
): Promise<Server> {
  const logPath = path.join(dir, 'server.log');
  const log = openSync(logPath, 'a');
  const child = spawn(file, args, { stdio: ['ignore', log, log], cwd: dir });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilServing(`${url}${probe}`, child, logPath, ready);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${name}: ${(error as Error).message}`);
  }
  process.once('exit', () => child.kill('SIGKILL'));
  return {
    name,
    kind,
    url,
    pid: child.pid!,
    dir,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Berth or Distribution on a fresh storage root, with the settings of registry:2's stock config.yml. */
export async function startRegistry(parent: string, kind: 'berth' | 'distribution', workers = 1): Promise<Server> {
  const name = kind === 'berth' && workers > 1 ? `berth×${workers}` : kind;
  const dir = await mkdtemp(path.join(parent, `${name.replace('×', '-w')}-`));
  const port = await freePort();
  const config = {
    version: '0.1',
    log: { level: 'info', formatter: 'text' },
    storage: {
      filesystem: { rootdirectory: path.join(dir, 'root') },
      cache: { blobdescriptor: 'inmemory' },
      delete: { enabled: true },
    },
    http: { addr: `127.0.0.1:${port}`, ...(kind === 'berth' && { workers }) },
  };
  const configPath = path.join(dir, 'config.yml');
  await writeFile(configPath, stringify(config));
  const [file, args] =
    kind === 'berth' ? [process.execPath, [BERTH_BIN, 'serve', configPath]] : [commandPath('docker-registry'), ['serve', configPath]];
  // With workers, the first process answers before the others listen; it logs when they all do.
  const allListening = kind === 'berth' && workers > 1 ? new RegExp(`msg=listening worker=1 .*workers=${workers}`) : undefined;
  return launch(name, kind, dir, port, file, args, '/v2/', allListening);
}

/** nginx with one worker per core serving `<dir>/www`, access log off: the ceiling for serving bytes. */
export async function startNginx(parent: string): Promise<Server> {
  const dir = await mkdtemp(path.join(parent, 'nginx-'));
  await mkdir(path.join(dir, 'www'));
  const port = await freePort();
  // As root, nginx would drop its workers to nobody, who cannot read a private temp directory.
  const conf = `${process.getuid?.() === 0 ? 'user root root;' : ''}
daemon off;
master_process on;
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
  }
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  return launch('nginx', 'nginx', dir, port, commandPath('nginx'), ['-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], '/');
}
