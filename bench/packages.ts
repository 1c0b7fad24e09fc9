/**
 * The programs the benchmark drives, and the Debian package of each. Missing ones are installed when running
 * as root (apt-get update first); otherwise the benchmark stops with the exact install line.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const REQUIRED = [
  { command: 'wrk', aptPackage: 'wrk' },
  { command: 'nginx', aptPackage: 'nginx-light', dirs: ['/usr/sbin'] },
  { command: 'docker-registry', aptPackage: 'docker-registry' },
  { command: 'openssl', aptPackage: 'openssl' },
];

/** Absolute path of `name` on PATH (plus extra dirs: nginx lives in /usr/sbin, off a normal user's PATH). */
export function findCommand(name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs]) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function commandPath(name: string): string {
  const entry = REQUIRED.find((r) => r.command === name);
  const found = findCommand(name, entry?.dirs);
  if (!found) throw new Error(`${name} is not installed`);
  return found;
}

export function ensurePackages(): void {
  const missing = REQUIRED.filter((r) => !findCommand(r.command, r.dirs)).map((r) => r.aptPackage);
  if (missing.length === 0) return;
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0) {
    throw new Error(`the benchmark needs ${missing.join(', ')}; install them as root with:\n  apt-get update && apt-get ${install.join(' ')}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], install]) {
    console.error(`$ apt-get ${args.join(' ')}`);
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
  const still = REQUIRED.filter((r) => !findCommand(r.command, r.dirs)).map((r) => r.command);
  if (still.length > 0) throw new Error(`installed, but still not found: ${still.join(', ')}`);
}
