/**
 * Real registry clients for end-to-end tests, run as child processes with a time limit. A failed command
 * throws with its command line and stderr, so the test report says what the client complained about.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface RunOptions {
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

export function hasCommand(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory; try the next
    }
  }
  return false;
}

/** Fails the calling test with the line that installs the missing client. */
export function requireCommand(name: string, aptPackage: string): void {
  if (!hasCommand(name)) {
    throw new Error(`${name} is not installed; install it with: apt-get install -y ${aptPackage}`);
  }
}

export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const commandLine = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${commandLine}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
      if (code === 0) return resolve(result);
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(new Error(`${commandLine} ${why}\n--- stderr ---\n${result.stderr}\n--- stdout ---\n${result.stdout}`));
    });
  });
}

/** skopeo with plain HTTP to the test registry (callers pass `--dest-tls-verify=false` etc. as skopeo wants). */
export async function skopeo(args: string[], options?: RunOptions): Promise<string> {
  requireCommand('skopeo', 'skopeo');
  return (await run('skopeo', args, options)).stdout;
}

export interface Podman {
  run(args: string[], options?: RunOptions): Promise<string>;
  /** Removes the private store. */
  dispose(): Promise<void>;
}

/**
 * podman on a private store in temp dirs: the vfs driver needs no kernel overlay support, and a store of its
 * own keeps concurrent tests from seeing each other's images (plain `--storage-driver vfs` on the default
 * store clashes with its recorded driver).
 */
export async function newPodman(): Promise<Podman> {
  requireCommand('podman', 'podman');
  const base = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-podman-'));
  const globals = [
    '--root', path.join(base, 'root'),
    '--runroot', path.join(base, 'runroot'),
    '--tmpdir', path.join(base, 'tmp'),
    '--storage-driver', 'vfs',
    '--events-backend', 'none',
    '--cgroup-manager', 'cgroupfs',
  ];
  return {
    run: async (args, options) => (await run('podman', [...globals, ...args], options)).stdout,
    dispose: () => rm(base, { recursive: true, force: true }),
  };
}
