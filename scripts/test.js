#!/usr/bin/env node
// Runs the whole test suite from dist/ (run `tsc` first; `npm test` does). The end-to-end tests drive real
// clients and the reference registry, so their Debian packages are installed first when running as root
// (as CI does) or named with the exact install line otherwise. The S3 tests run against a one-node Ceph
// cluster (RADOS Gateway) that the first of them starts (`../shared/s3/start.sh`, via test/helpers/s3.ts)
// in a fresh directory of this run; it is stopped and removed when the run ends. Set S3_ENDPOINT,
// S3_ACCESS_KEY and S3_SECRET_KEY to use another S3 store instead.
//
// Usage: node scripts/test.js [dist paths...] [node --test options...]
//   paths (files or directories, default dist/test) narrow the run; options such as --test-name-pattern=...
//   are passed on to node --test.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PER_TEST_TIMEOUT_MS = 180_000;

/** Commands the e2e tests run, and the Debian package providing each. */
const REQUIRED = [
  { command: 'skopeo', aptPackage: 'skopeo' },
  { command: 'podman', aptPackage: 'podman' },
  { command: 'docker-registry', aptPackage: 'docker-registry' },
  { command: 'htpasswd', aptPackage: 'apache2-utils' },
  // The S3 store of the S3 driver and replica tests (../shared/s3/start.sh also needs curl and flock).
  { command: 'ceph-mon', aptPackage: 'ceph-mon' },
  { command: 'ceph-osd', aptPackage: 'ceph-osd' },
  { command: 'radosgw', aptPackage: 'radosgw' },
  { command: 'ceph', aptPackage: 'ceph-common' },
  { command: 'curl', aptPackage: 'curl' },
  { command: 'flock', aptPackage: 'util-linux' },
];

function hasCommand(name) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(file, args, env = process.env) {
  console.log(`$ ${[file, ...args].join(' ')}`);
  const result = spawnSync(file, args, { stdio: 'inherit', env });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function ensurePackages() {
  const missing = REQUIRED.filter(({ command }) => !hasCommand(command)).map(({ aptPackage }) => aptPackage);
  if (missing.length === 0) return;
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0) {
    console.error(`The end-to-end tests need ${missing.join(', ')}. Install them as root with:`);
    console.error(`  apt-get update && apt-get ${install.join(' ')}`);
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update'], env) !== 0 || run('apt-get', install, env) !== 0) {
    console.error(`apt-get could not install ${missing.join(', ')}`);
    process.exit(1);
  }
  const stillMissing = REQUIRED.filter(({ command }) => !hasCommand(command)).map(({ command }) => command);
  if (stillMissing.length > 0) {
    console.error(`installed, but still not on PATH: ${stillMissing.join(', ')}`);
    process.exit(1);
  }
}

/** Compiled tests whose TypeScript source still exists (tsc never deletes the output of a removed test). */
function findTests(target) {
  if (statSync(target).isFile()) return [target];
  const found = [];
  for (const entry of readdirSync(target, { withFileTypes: true })) {
    const full = path.join(target, entry.name);
    if (entry.isDirectory()) found.push(...findTests(full));
    else if (entry.name.endsWith('.test.js')) {
      const source = path.join(ROOT, path.relative(path.join(ROOT, 'dist'), full)).replace(/\.js$/, '.ts');
      if (existsSync(source)) found.push(full);
      else console.log(`skipping ${path.relative(ROOT, full)}: its source ${path.relative(ROOT, source)} is gone`);
    }
  }
  return found;
}

const args = process.argv.slice(2);
const options = args.filter((arg) => arg.startsWith('-'));
const targets = args.filter((arg) => !arg.startsWith('-'));
const roots = targets.length > 0 ? targets.map((target) => path.resolve(target)) : [path.join(ROOT, 'dist', 'test')];
for (const target of roots) {
  if (!existsSync(target)) {
    console.error(`${target} does not exist: build first (npm run build)`);
    process.exit(1);
  }
}
const files = roots.flatMap(findTests).sort();
if (files.length === 0) {
  console.error(`no *.test.js under ${roots.join(', ')}`);
  process.exit(1);
}

ensurePackages();

// A Ceph cluster of this run only, unless the caller points the tests at an S3 store or a cluster of its own.
const ownCeph = !process.env.S3_ENDPOINT && !process.env.CEPH_S3_DATA_DIR;
const env = { ...process.env };
if (ownCeph) env.CEPH_S3_DATA_DIR = path.join(mkdtempSync(path.join(os.tmpdir(), 'berth-test-ceph-')), 'cluster');

// One test file per core: e2e files each run a registry and its clients, which keep a core busy.
const concurrency = Math.max(1, os.availableParallelism());
const status = run(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
    ...options,
    ...files.map((file) => path.relative(process.cwd(), file)),
  ],
  env,
);
if (ownCeph) {
  const dataDir = env.CEPH_S3_DATA_DIR;
  if (existsSync(dataDir) && run(path.resolve(ROOT, '..', 'shared', 's3', 'stop.sh'), [dataDir, '--purge']) !== 0) {
    console.error(`could not stop the test Ceph cluster in ${dataDir}`);
  }
  rmSync(path.dirname(dataDir), { recursive: true, force: true });
}
process.exit(status);
