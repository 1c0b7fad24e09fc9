/** Figures from raw samples: per-run values, median [min–max] over rounds, ratios, and the text table. */
import type { ClientResult } from './load.js';
import type { Workload } from './workloads.js';

/** One run of one workload on one server. */
export interface Sample extends ClientResult {
  workload: string;
  server: string;
  round: number;
  serverCpuSeconds: number;
  /** Peak resident memory of the server's processes during the run (since start if it could not be reset). */
  peakRssBytes: number;
  /** Highest resident memory of the server's processes with shared pages counted once, sampled (`proc.ts`). */
  peakSharedOnceBytes: number;
}

export interface Figure {
  key: 'throughput' | 'p50' | 'p99' | 'serverCpu' | 'clientCpu' | 'rss' | 'resident';
  label: string;
  /** Undefined when the run has nothing to say (no request completed, so no latency). */
  value(sample: Sample): number | undefined;
}

const GiB = 2 ** 30;

export function figuresFor(per: Workload['per']): Figure[] {
  const cpu = (seconds: number, s: Sample) =>
    per === 'GiB' ? (s.bytes > 0 ? seconds / (s.bytes / GiB) : undefined) : s.ops > 0 ? (seconds * 1000) / s.ops : undefined;
  const cpuUnit = per === 'GiB' ? 's/GiB' : 'ms/op';
  return [
    per === 'GiB'
      ? { key: 'throughput', label: 'MiB/s', value: (s) => s.bytes / 2 ** 20 / s.seconds }
      : { key: 'throughput', label: 'ops/s', value: (s) => s.ops / s.seconds },
    { key: 'p50', label: 'p50 ms', value: (s) => (s.ops > 0 ? s.p50Ms : undefined) },
    { key: 'p99', label: 'p99 ms', value: (s) => (s.ops > 0 ? s.p99Ms : undefined) },
    { key: 'serverCpu', label: `server CPU ${cpuUnit}`, value: (s) => cpu(s.serverCpuSeconds, s) },
    { key: 'clientCpu', label: `client CPU ${cpuUnit}`, value: (s) => cpu(s.clientCpuSeconds, s) },
    { key: 'rss', label: 'server peak RSS MiB', value: (s) => s.peakRssBytes / 2 ** 20 },
    { key: 'resident', label: 'server peak MiB, shared once', value: (s) => s.peakSharedOnceBytes / 2 ** 20 },
  ];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: Array<number | undefined>): Spread | undefined {
  const sorted = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

export interface Summary {
  workload: string;
  per: Workload['per'];
  /** figure key → server name → spread over rounds. */
  figures: Record<string, Record<string, Spread>>;
  /** figure key → `<berth variant>/distribution` → ratio of medians. */
  ratios: Record<string, Record<string, number>>;
  errors: Record<string, number>;
}

export function summarize(workload: Workload, samples: Sample[], berthNames: string[]): Summary {
  const mine = samples.filter((s) => s.workload === workload.id);
  const servers = [...new Set(mine.map((s) => s.server))];
  const summary: Summary = { workload: workload.id, per: workload.per, figures: {}, ratios: {}, errors: {} };
  for (const server of servers) summary.errors[server] = mine.filter((s) => s.server === server).reduce((n, s) => n + s.errors, 0);
  for (const figure of figuresFor(workload.per)) {
    const byServer: Record<string, Spread> = {};
    for (const server of servers) {
      const values = spread(mine.filter((s) => s.server === server).map(figure.value));
      if (values) byServer[server] = values;
    }
    summary.figures[figure.key] = byServer;
    const base = byServer['distribution']?.median;
    const ratios: Record<string, number> = {};
    for (const name of berthNames) {
      const mineMedian = byServer[name]?.median;
      if (base !== undefined && mineMedian !== undefined && base > 0) ratios[`${name}/distribution`] = mineMedian / base;
    }
    summary.ratios[figure.key] = ratios;
  }
  return summary;
}

export function formatNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toString();
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

const cell = (s: Spread | undefined, single: boolean) =>
  s === undefined ? '—' : single ? formatNumber(s.median) : `${formatNumber(s.median)} [${formatNumber(s.min)}–${formatNumber(s.max)}]`;

/** One block per workload: a row per figure, a column per server, then Berth ÷ Distribution. */
export function formatTable(summaries: Summary[], servers: string[], berthNames: string[], rounds: number): string {
  const ratioColumns = berthNames.map((name) => `${name}/distribution`);
  const header = ['', ...servers, ...ratioColumns.map((c) => c.replace('/distribution', ' ÷ dist'))];
  const rows: string[][] = [];
  for (const summary of summaries) {
    rows.push([summary.workload, ...servers.map(() => ''), ...ratioColumns.map(() => '')]);
    for (const figure of figuresFor(summary.per)) {
      const byServer = summary.figures[figure.key] ?? {};
      rows.push([
        `  ${figure.label}`,
        ...servers.map((server) => cell(byServer[server], rounds === 1)),
        ...ratioColumns.map((column) => {
          const ratio = summary.ratios[figure.key]?.[column];
          return ratio === undefined ? '—' : `${ratio.toFixed(2)}×`;
        }),
      ]);
    }
    const failed = Object.entries(summary.errors).filter(([, n]) => n > 0);
    if (failed.length > 0) rows.push([`  ! errors: ${failed.map(([server, n]) => `${server} ${n}`).join(', ')}`]);
  }
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.filter((r) => r.length > 1).map((r) => (r[i] ?? '').length)));
  const line = (row: string[]) =>
    row.length === 1 ? row[0]! : row.map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** Markdown for docs/performance.md: one table per figure (medians), a row per workload, a column per server. */
export function formatMarkdown(summaries: Summary[], servers: string[], berthNames: string[]): string {
  const ratioColumns = berthNames.map((name) => `${name}/distribution`);
  const tables: string[] = [];
  const keys: Array<[Figure['key'], string]> = [
    ['throughput', 'Throughput (ops/s, or MiB/s for blobs; higher is better)'],
    ['p99', 'p99 latency, ms'],
    ['serverCpu', 'Server CPU (ms per operation, or s per GiB for blobs)'],
    ['clientCpu', 'Client CPU (same units): the load generator on the same cores'],
    ['rss', 'Server peak RSS, MiB (summed VmHWM of all processes of the server)'],
    ['resident', 'Server peak resident memory, MiB, with pages shared between its processes counted once (sampled every 100 ms)'],
  ];
  for (const [key, title] of keys) {
    const head = ['workload', ...servers, ...ratioColumns.map((c) => c.replace('/distribution', ' ÷ dist'))];
    const lines = [`**${title}**`, '', `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
    for (const summary of summaries) {
      const byServer = summary.figures[key] ?? {};
      const cells = servers.map((server) => (byServer[server] ? formatNumber(byServer[server]!.median) : '—'));
      const ratios = ratioColumns.map((column) => {
        const ratio = summary.ratios[key]?.[column];
        return ratio === undefined ? '—' : `${ratio.toFixed(2)}×`;
      });
      lines.push(`| \`${summary.workload}\` | ${[...cells, ...ratios].join(' | ')} |`);
    }
    tables.push(lines.join('\n'));
  }
  return `${tables.join('\n\n')}\n`;
}
