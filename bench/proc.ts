/**
 * What the kernel knows about a process tree: CPU time and resident memory, read from /proc. A server is
 * its main process plus its descendants (Berth's workers); Distribution's threads are counted in its process.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** `pid` and every live descendant. */
export function processTree(pid: number): number[] {
  const found = [pid];
  for (let i = 0; i < found.length; i += 1) {
    let tasks: string[];
    try {
      tasks = readFileSync(`/proc/${found[i]}/task/${found[i]}/children`, 'utf8').split(/\s+/).filter(Boolean);
    } catch {
      continue;
    }
    found.push(...tasks.map(Number));
  }
  return found;
}

/** Fields of /proc/<pid>/stat after the command name (which may itself hold spaces or parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) the tree has used, children included: live ones directly, and those that
 * exited and were waited for through cutime/cstime.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    const fields = statFields(member);
    // After the name: state(3) ppid ... utime(14) stime(15) cutime(16) cstime(17), numbered as in proc(5).
    if (fields) ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** CPU seconds of waited-for children of this process (e.g. wrk runs), for client-side accounting. */
export function childrenCpuSeconds(): number {
  const fields = statFields(process.pid);
  return fields ? (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND : 0;
}

/** Resets each process's peak RSS to its current RSS, so the next reading is the peak of what follows. */
export function resetPeakRss(pid: number): boolean {
  let all = true;
  for (const member of processTree(pid)) {
    try {
      writeFileSync(`/proc/${member}/clear_refs`, '5');
    } catch {
      all = false;
    }
  }
  return all;
}

/** Sum of VmHWM (peak resident set) over the tree, in bytes. */
export function treePeakRssBytes(pid: number): number {
  let kib = 0;
  for (const member of processTree(pid)) {
    try {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${member}/status`, 'utf8'));
      if (match) kib += Number(match[1]);
    } catch {
      // exited meanwhile
    }
  }
  return kib * 1024;
}

/**
 * Resident memory of the tree with shared pages counted once, in bytes: every process's private pages, plus
 * the largest shared part of any one process. The shared part is almost all file pages that every Node
 * process maps alike (the `node` binary, shared libraries), which summed RSS counts once per worker; PSS
 * would split them with unrelated processes too (the benchmark's own Node), so it is not used. For a
 * single process this equals its RSS.
 */
export function treeResidentBytes(pid: number): number {
  let privateKib = 0;
  let sharedKib = 0;
  for (const member of processTree(pid)) {
    try {
      const rollup = readFileSync(`/proc/${member}/smaps_rollup`, 'utf8');
      const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
      privateKib += field('Private_Clean') + field('Private_Dirty');
      sharedKib = Math.max(sharedKib, field('Shared_Clean') + field('Shared_Dirty'));
    } catch {
      // exited meanwhile
    }
  }
  return (privateKib + sharedKib) * 1024;
}

/**
 * The highest `treeResidentBytes` seen while sampling every `intervalMs` (the kernel keeps no such peak, so a
 * spike shorter than the interval can be missed; summed VmHWM is exact but counts shared pages repeatedly).
 */
export function samplePeakResident(pid: number, intervalMs = 100): () => number {
  let peak = treeResidentBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeResidentBytes(pid));
  }, intervalMs);
  return () => {
    clearInterval(timer);
    return Math.max(peak, treeResidentBytes(pid));
  };
}
