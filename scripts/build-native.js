#!/usr/bin/env node
// The `install` script: builds the native addons (native/, binding.gyp: socket transfers for pulls and large
// pushes and worker mode's SO_REUSEPORT sockets, SHA-256 with a state that uploads save, page-aligned buffers
// for direct writes of uploads) with the node-gyp that npm bundles, against the headers of the Node that runs
// it when they are installed beside it, so no download is needed. A failed build never fails the
// installation: Berth then streams blobs and upload bodies through Node, hashes uploads with Node's crypto (a
// chunked upload whose next chunk reaches another process is then read again at its commit), writes them
// through the page cache and shares one listening socket between workers, as on other systems, and this
// prints one line saying so (BERTH_NATIVE_VERBOSE=1 shows the compiler's output).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function warn(reason) {
  console.warn(`berth: the native addons were not built (${reason}); blobs and upload bodies will be streamed through Node and uploads written through the page cache instead`);
}

function nodeGyp() {
  // npm sets npm_config_node_gyp for the scripts it runs; otherwise look beside npm's own installation.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((file) => file !== undefined && existsSync(file));
}

if (process.platform !== 'linux') {
  console.warn(`berth: no native addons on ${process.platform}; blobs will be served by streaming`);
  process.exit(0);
}
const gyp = nodeGyp();
if (gyp === undefined) {
  warn('node-gyp not found');
  process.exit(0);
}
const args = [gyp, 'rebuild'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) && existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const verbose = process.env.BERTH_NATIVE_VERBOSE === '1';
const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: verbose ? 'inherit' : 'pipe', encoding: 'utf8' });
if (result.status !== 0) {
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const reason = output.split('\n').find((line) => /error/i.test(line))?.trim() ?? result.error?.message ?? `exit ${result.status}`;
  warn(reason.slice(0, 200));
}
