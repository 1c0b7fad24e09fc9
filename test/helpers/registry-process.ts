/**
 * Runs a registry server as a child process for end-to-end tests: Berth (`bin/berth.js serve`) or CNCF
 * Distribution (`docker-registry serve`), both from the same Distribution-format config.yml, on a free
 * loopback port. Children still running when the test process exits are killed, so a failed test never
 * leaves a server behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from './net.js';

export type ServerKind = 'berth' | 'distribution';

export interface StartOptions {
  kind: ServerKind;
  /** Storage root; when omitted a fresh temp dir is made, and removed again by stop() / killHard(). */
  rootDirectory?: string;
  /** Deep-merged over the generated config (same keys as Distribution's config.yml). */
  config?: Record<string, unknown>;
  /** Replaces the generated `storage` section (filesystem in a temp dir), e.g. with an `s3` one. */
  storage?: Record<string, unknown>;
  readyTimeoutMs?: number;
  /** Added to the server's environment (e.g. a fault-injection shim, see faults.ts). */
  env?: Record<string, string>;
}

export interface RunningRegistry {
  kind: ServerKind;
  url: string;
  port: number;
  /** `127.0.0.1:PORT`, as clients write it in image references. */
  host: string;
  rootDirectory: string;
  process: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  logs(): string;
  /** SIGTERM (or `signal`), then SIGKILL if it has not exited in time; resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL at once, as a crash would. */
  killHard(): Promise<number | null>;
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BERTH_BIN = path.join(REPO_ROOT, 'bin', 'berth.js');
const DISTRIBUTION_BIN = 'docker-registry';
const STOP_GRACE_MS = 10_000;
const MAX_LOG_CHARS = 4 << 20;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});


function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return merged;
}

function command(kind: ServerKind, configPath: string): [string, string[]] {
  return kind === 'berth'
    ? [process.execPath, [BERTH_BIN, 'serve', configPath]]
    : [DISTRIBUTION_BIN, ['serve', configPath]];
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Resolves once a TCP connection to the port is accepted: enough for TLS servers, whose handshake may need a client certificate. */
function accepts(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

async function waitUntilServing(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before serving`);
    }
    try {
      // Any HTTP answer (200, or 401 with auth configured) means the API is up.
      if (url.startsWith('https:')) await accepts(Number(new URL(url).port));
      else await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`did not answer GET /v2/ within ${timeoutMs} ms`);
}

export async function startRegistry(options: StartOptions): Promise<RunningRegistry> {
  const configDir = await mkdtemp(path.join(os.tmpdir(), `berth-e2e-${options.kind}-config-`));
  const ownsRoot = options.rootDirectory === undefined;
  const rootDirectory = options.rootDirectory ?? (await mkdtemp(path.join(os.tmpdir(), `berth-e2e-${options.kind}-root-`)));
  const cleanup = async () => {
    await rm(configDir, { recursive: true, force: true });
    if (ownsRoot) await rm(rootDirectory, { recursive: true, force: true });
  };

  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = deepMerge(
    {
      version: 0.1,
      log: { level: 'info', formatter: 'text' },
      storage: options.storage ?? { filesystem: { rootdirectory: rootDirectory }, delete: { enabled: true } },
      http: { addr: host },
    },
    options.config ?? {},
  );
  const tls = (config.http as { tls?: { certificate?: string } } | undefined)?.tls?.certificate !== undefined;
  const url = `${tls ? 'https' : 'http'}://${host}`;
  const configPath = path.join(configDir, 'config.yml');
  await writeFile(configPath, stringify(config));

  const [file, args] = command(options.kind, configPath);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  live.add(child);
  let output = '';
  const capture = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > MAX_LOG_CHARS) output = output.slice(-MAX_LOG_CHARS);
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  const exited = waitForExit(child).then((code) => {
    live.delete(child);
    return code;
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    const code = await exited;
    clearTimeout(timer);
    await cleanup();
    return code;
  };

  try {
    await Promise.race([spawnError, waitUntilServing(url, child, options.readyTimeoutMs ?? 20_000)]);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    await cleanup();
    throw new Error(`${options.kind} registry (${file} ${args.join(' ')}) ${(error as Error).message}\n--- logs ---\n${output}`);
  }

  return {
    kind: options.kind,
    url,
    port,
    host,
    rootDirectory,
    process: child,
    logs: () => output,
    stop,
    killHard: () => stop('SIGKILL'),
  };
}
