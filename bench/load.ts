/**
 * Load generators. GETs go through wrk (C, multi-threaded, keep-alive), driven by a generated Lua script
 * that sets the headers and prints its summary as one JSON line. HEADs cannot: wrk's parser waits for the
 * body a HEAD response announces and never gets (wg/wrk#198), so they go through a minimal raw-socket client
 * here that only looks for the end of each response's headers. Writes go through undici pools with
 * keep-alive from this process. Either way the client's own CPU time is measured, so a reader can tell
 * whether the client, rather than the server, was the limit.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { commandPath } from './packages.js';
import { childrenCpuSeconds } from './proc.js';

/** What one run of a workload did, as seen by the client. */
export interface ClientResult {
  ops: number;
  /** Payload bytes moved (bodies), for MiB/s. */
  bytes: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  clientCpuSeconds: number;
}

export interface WrkOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  /** Where to write the Lua script. */
  scratchDir: string;
  /** Body bytes per response; 0 where throughput is counted in requests, not bytes. */
  bodyBytes: number;
}

const luaString = (value: string) => JSON.stringify(value);

export async function runWrk(options: WrkOptions): Promise<ClientResult> {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  lines.push(
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'BENCH {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n\',',
    '    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),',
    '    e.connect + e.read + e.write + e.status + e.timeout))',
    'end',
  );
  const script = path.join(options.scratchDir, `wrk-${process.pid}-${Date.now()}.lua`);
  await writeFile(script, `${lines.join('\n')}\n`);
  const threads = Math.min(options.connections, 2);
  const args = ['-t', String(threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '120s', '-s', script, options.url];
  const cpuBefore = childrenCpuSeconds();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(commandPath('wrk'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  const match = /^BENCH (\{.*\})$/m.exec(output);
  if (!match) throw new Error(`wrk printed no summary:\n${output}`);
  const summary = JSON.parse(match[1]!) as { requests: number; bytes: number; duration_us: number; p50_us: number; p99_us: number; errors: number };
  return {
    ops: summary.requests,
    // wrk counts every byte read, responses still arriving at the end included: a long pull that has not
    // finished when time is up still counts toward throughput. Headers are a rounding error on blob pulls.
    bytes: options.bodyBytes > 0 ? summary.bytes : 0,
    seconds: summary.duration_us / 1e6,
    p50Ms: summary.p50_us / 1000,
    p99Ms: summary.p99_us / 1000,
    errors: summary.errors,
    clientCpuSeconds: childrenCpuSeconds() - cpuBefore,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface ClosedLoopOptions {
  concurrency: number;
  /** Stop after this many operations... */
  maxOps: number;
  /** ...or once this many seconds have passed, whichever comes first (operations in flight finish). */
  maxSeconds: number;
  /** Runs operation number `i`; resolves to the payload bytes it moved. */
  op: (i: number) => Promise<number>;
}

/** `concurrency` loops each running one operation after another: latency per operation, throughput overall. */
export async function closedLoop(options: ClosedLoopOptions): Promise<ClientResult> {
  const latencies: number[] = [];
  let next = 0;
  let bytes = 0;
  let errors = 0;
  let firstError: unknown;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.maxSeconds * 1000;
  const loop = async () => {
    while (next < options.maxOps && performance.now() < deadline) {
      const i = next;
      next += 1;
      const opStart = performance.now();
      try {
        const moved = await options.op(i);
        bytes += moved;
        latencies.push(performance.now() - opStart);
      } catch (error) {
        errors += 1;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (errors > 0 && latencies.length === 0) throw firstError;
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    bytes,
    seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

export interface HeadLoadOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
}

/**
 * HEAD requests over `connections` keep-alive sockets, one request in flight on each (as wrk does). A HEAD
 * response has no body, so a response ends where its headers end; anything but 200 counts as an error.
 */
export async function runHeadLoad(options: HeadLoadOptions): Promise<ClientResult> {
  const url = new URL(options.url);
  const lines = [`HEAD ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`${name}: ${value}`);
  const request = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
  const latencies: number[] = [];
  let errors = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.seconds * 1000;

  const connection = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
      let pending = '';
      let sentAt = 0;
      const send = () => {
        if (performance.now() >= deadline) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.setEncoding('latin1');
      socket.once('connect', send);
      socket.on('data', (text: string) => {
        pending += text;
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          if (pending.startsWith('HTTP/1.1 200 ')) latencies.push(performance.now() - sentAt);
          else errors += 1;
          pending = pending.slice(end + 4);
          send();
        }
      });
      socket.once('error', reject);
      socket.once('close', () => resolve());
    });
  await Promise.all(Array.from({ length: options.connections }, connection));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    bytes: 0,
    seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
