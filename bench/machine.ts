/**
 * The machine the figures come from, and its limits measured in the same run: SHA-256 speed (openssl and
 * Node's own hashing, which Berth uses), and the disk under the storage roots (streaming write + fsync, and
 * the latency of small write + fsync pairs, the pattern of small blob pushes and tag writes).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { batchBuffer, directWritesAvailable } from '../src/storage/drivers/direct-io.js';
import { commandPath } from './packages.js';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  disk: string;
  node: string;
  /** The Berth under test: `git describe` of the checkout (with -dirty for uncommitted changes). */
  berth: string;
  distribution: string;
  nginx: string;
  /** The 1-minute load average when the run started: other work on the machine makes the figures noisy. */
  loadAverage: number;
}

/** What a command prints, on stdout or stderr (nginx -v uses stderr). */
function output(file: string, args: string[]): string {
  const result = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
}

function describeDisk(dir: string): string {
  const [source = '?', fstype = '?'] = output('findmnt', ['-no', 'SOURCE,FSTYPE', '--target', dir]).split(/\s+/);
  const device = path.basename(source).replace(/p?\d+$/, '');
  const read = (file: string) => {
    try {
      return readFileSync(`/sys/block/${device}/${file}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const rotational = read('queue/rotational');
  const model = read('device/model') ?? read('device/vendor');
  return `${source} (${fstype}${model ? `, ${model}` : ''}${rotational === '1' ? ', reports rotational' : rotational === '0' ? ', non-rotational' : ''})`;
}

export function describeMachine(dir: string): MachineInfo {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpu?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    disk: describeDisk(dir),
    node: process.version,
    berth: output('git', ['-C', fileURLToPath(new URL('../..', import.meta.url)), 'describe', '--always', '--dirty']) || 'unknown',
    distribution: output(commandPath('docker-registry'), ['--version']),
    nginx: output(commandPath('nginx'), ['-v']),
    loadAverage: os.loadavg()[0]!,
  };
}

export interface Limits {
  /** `openssl speed -evp sha256` at 16 KiB blocks, MiB/s (one core). */
  opensslSha256MiBps: number;
  /** Node's createHash('sha256') over 1 MiB buffers, MiB/s (one core), i.e. CPU seconds per GiB = 1024 / this. */
  nodeSha256MiBps: number;
  /** 1 MiB writes through the page cache then one fsync, MiB/s. */
  diskWriteFsyncMiBps: number;
  /** The same with O_DIRECT from a page-aligned buffer, as Berth writes uploads; undefined without the addon. */
  diskDirectWriteFsyncMiBps: number | undefined;
  /** 4 KiB write + fsync, one after another: median and 99th percentile, ms. */
  fsyncP50Ms: number;
  fsyncP99Ms: number;
}

function opensslSha256(seconds: number): number {
  const text = output(commandPath('openssl'), ['speed', '-evp', 'sha256', '-bytes', '16384', '-seconds', String(seconds)]);
  const row = /^sha256\s+.*?([\d.]+)k\s*$/m.exec(text);
  if (!row) throw new Error(`could not read openssl speed output:\n${text}`);
  return (Number(row[1]) * 1000) / 2 ** 20;
}

function nodeSha256(seconds: number): number {
  const block = randomBytes(1 << 20);
  const hash = createHash('sha256');
  const started = performance.now();
  let blocks = 0;
  while (performance.now() - started < seconds * 1000) {
    hash.update(block);
    blocks += 1;
  }
  hash.digest();
  return blocks / ((performance.now() - started) / 1000);
}

async function diskWrite(dir: string, bytes: number, direct: boolean): Promise<number> {
  const file = path.join(dir, 'disk-write.tmp');
  const block = direct ? batchBuffer(1 << 20) : randomBytes(1 << 20);
  if (direct) randomBytes(block.length).copy(block);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (direct ? constants.O_DIRECT : 0);
  const handle = await open(file, flags);
  try {
    const started = performance.now();
    for (let written = 0; written < bytes; written += block.length) await handle.write(block);
    await handle.sync();
    return bytes / 2 ** 20 / ((performance.now() - started) / 1000);
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
}

async function fsyncLatency(dir: string, count: number): Promise<{ p50: number; p99: number }> {
  const file = path.join(dir, 'fsync.tmp');
  const block = randomBytes(4096);
  const handle = await open(file, 'w');
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i += 1) {
      const started = performance.now();
      await handle.write(block, 0, block.length, 0);
      await handle.sync();
      times.push(performance.now() - started);
    }
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(count / 2)]!, p99: times[Math.min(count - 1, Math.ceil(count * 0.99) - 1)]! };
}

export async function measureLimits(dir: string, quick: boolean): Promise<Limits> {
  const fsync = await fsyncLatency(dir, quick ? 50 : 300);
  return {
    opensslSha256MiBps: opensslSha256(quick ? 1 : 3),
    nodeSha256MiBps: nodeSha256(quick ? 0.5 : 2),
    diskWriteFsyncMiBps: await diskWrite(dir, (quick ? 64 : 1024) << 20, false),
    diskDirectWriteFsyncMiBps: directWritesAvailable ? await diskWrite(dir, (quick ? 64 : 1024) << 20, true) : undefined,
    fsyncP50Ms: fsync.p50,
    fsyncP99Ms: fsync.p99,
  };
}
