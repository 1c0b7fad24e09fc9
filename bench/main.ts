/**
 * `npm run bench`: Berth against Distribution 2.8.2 on this machine, with the machine's own limits (SHA-256,
 * disk, nginx serving the same bytes) measured in the same run.
 *
 * Every server runs at once on loopback, each with a fresh storage root and the same config.yml; each
 * workload runs on them in alternation (A B A B ...) for several rounds, so that background noise hits all
 * alike. Prints median [min–max] per figure and Berth ÷ Distribution, and writes every sample as JSON.
 *
 * Options:
 *   --quick          small sizes, one round: a smoke test (CI runs it; it never judges speed)
 *   --only a,b       workloads whose id contains any of these (e.g. push-4KiB, manifest, catalog)
 *   --rounds N       rounds per workload (default 3; 1 with --quick)
 *   --workers 1,2    Berth's http.workers, one Berth server per value (default 1,2; 1 with --quick)
 *   --out FILE       JSON results (default bench-results/<time>.json), and the tables as Markdown beside it (.md)
 *   --dir DIR        where storage roots and scratch files go (default the OS temp dir): the disk under test
 *   --keep           leave that directory behind (server logs, storage roots)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, measureLimits, type Limits, type MachineInfo } from './machine.js';
import { ensurePackages } from './packages.js';
import { resetPeakRss, samplePeakResident, treeCpuSeconds, treePeakRssBytes } from './proc.js';
import { formatMarkdown, formatNumber, formatTable, summarize, type Sample } from './report.js';
import { startNginx, startRegistry, type Server } from './servers.js';
import { allWorkloads, makeFixture, makePlan, prepareNginx, prepareRegistry, type Fixture, type Workload } from './workloads.js';

interface Options {
  quick: boolean;
  only: string[];
  rounds: number;
  workers: number[];
  out: string;
  dir: string;
  keep: boolean;
}

function positiveInt(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${what}: expected a whole number of at least 1, got ${JSON.stringify(text)}`);
  return value;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  return {
    quick,
    only: (values.only ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    rounds: values.rounds !== undefined ? positiveInt(values.rounds, '--rounds') : quick ? 1 : 3,
    workers: [...new Set((values.workers ?? (quick ? '1' : '1,2')).split(',').map((w) => positiveInt(w.trim(), '--workers')))],
    out: values.out ?? path.join('bench-results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
    dir: values.dir ?? os.tmpdir(),
    keep: values.keep ?? false,
  };
}

const progress = (text: string) => process.stderr.write(`${text}\n`);

async function measure(server: Server, workload: Workload, fixture: Fixture, round: number): Promise<Sample> {
  resetPeakRss(server.pid);
  const stopResident = samplePeakResident(server.pid);
  const cpuBefore = treeCpuSeconds(server.pid);
  const result = await workload.run(server, fixture);
  const serverCpuSeconds = treeCpuSeconds(server.pid) - cpuBefore;
  const peakSharedOnceBytes = stopResident();
  return { workload: workload.id, server: server.name, round, ...result, serverCpuSeconds, peakRssBytes: treePeakRssBytes(server.pid), peakSharedOnceBytes };
}

function formatMachine(machine: MachineInfo, limits: Limits): string {
  return [
    `machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM, ${machine.kernel}, load average ${machine.loadAverage.toFixed(2)} at start`,
    `disk:    ${machine.disk}`,
    `servers: Berth ${machine.berth} on Node ${machine.node}; ${machine.distribution}; ${machine.nginx}`,
    `limits:  SHA-256 ${formatNumber(limits.opensslSha256MiBps)} MiB/s (openssl, 16 KiB blocks), ${formatNumber(limits.nodeSha256MiBps)} MiB/s (Node) = ${formatNumber(1024 / limits.nodeSha256MiBps)} CPU s/GiB;`,
    `         disk write+fsync ${formatNumber(limits.diskWriteFsyncMiBps)} MiB/s (page cache)${limits.diskDirectWriteFsyncMiBps === undefined ? '' : `, ${formatNumber(limits.diskDirectWriteFsyncMiBps)} MiB/s (O_DIRECT)`}; 4 KiB write+fsync p50 ${formatNumber(limits.fsyncP50Ms)} ms, p99 ${formatNumber(limits.fsyncP99Ms)} ms`,
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  ensurePackages();
  const scratch = await mkdtemp(path.join(options.dir, 'berth-bench-'));
  const plan = makePlan(options.quick, scratch);
  const workloads = allWorkloads(plan).filter((w) => options.only.length === 0 || options.only.some((o) => w.id.includes(o)));
  if (workloads.length === 0) throw new Error(`--only ${options.only.join(',')} matches no workload; they are:\n  ${allWorkloads(plan).map((w) => w.id).join('\n  ')}`);
  const needs = new Set(workloads.flatMap((w) => w.needs));

  const servers: Server[] = [];
  try {
    progress(`measuring the machine (in ${scratch})`);
    const machine = describeMachine(scratch);
    const limits = await measureLimits(scratch, options.quick);
    progress(formatMachine(machine, limits));

    const fixture = makeFixture(plan, needs);
    for (const workers of options.workers) servers.push(await startRegistry(scratch, 'berth', workers));
    servers.push(await startRegistry(scratch, 'distribution'));
    const nginx = workloads.some((w) => w.nginx) ? await startNginx(scratch) : undefined;
    if (nginx) servers.push(nginx);
    progress(`loading ${servers.map((s) => s.name).join(', ')}`);
    for (const server of servers) {
      if (server.kind === 'nginx') await prepareNginx(server, fixture);
      else await prepareRegistry(server, fixture, plan, needs);
    }

    const samples: Sample[] = [];
    for (const workload of workloads) {
      for (let round = 1; round <= options.rounds; round += 1) {
        for (const server of servers) {
          if (server.kind === 'nginx' && !workload.nginx) continue;
          const sample = await measure(server, workload, fixture, round);
          samples.push(sample);
          progress(`${workload.id} round ${round} ${server.name}: ${sample.ops} ops in ${sample.seconds.toFixed(2)} s${sample.errors ? `, ${sample.errors} errors` : ''}`);
        }
      }
    }

    const berthNames = servers.filter((s) => s.kind === 'berth').map((s) => s.name);
    const summaries = workloads.map((w) => summarize(w, samples, berthNames));
    const table = formatTable(summaries, servers.map((s) => s.name), berthNames, options.rounds);
    process.stdout.write(`\n${formatMachine(machine, limits)}\n\n`);
    process.stdout.write(`${options.rounds === 1 ? 'one round' : `median [min–max] of ${options.rounds} rounds`}; ratios are of medians\n\n${table}\n`);
    await mkdir(path.dirname(path.resolve(options.out)), { recursive: true });
    const { only, rounds, workers, quick } = options;
    await writeFile(options.out, `${JSON.stringify({ date: new Date().toISOString(), options: { quick, only, rounds, workers }, machine, limits, summaries, samples }, null, 2)}\n`);
    const markdown = options.out.replace(/(\.json)?$/, '.md');
    await writeFile(markdown, `${formatMachine(machine, limits)}\n\n${formatMarkdown(summaries, servers.map((s) => s.name), berthNames)}`);
    process.stdout.write(`\nresults: ${options.out}, tables for docs/performance.md: ${markdown}\n`);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    if (options.keep) progress(`kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
