/**
 * Disk faults for tests, injected below Node with an LD_PRELOAD shim (faults/fail-fdatasync.c): the server
 * under test runs unchanged and meets the failure where a real disk would report it, in a system call.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../../test/helpers/faults/fail-fdatasync.c', import.meta.url));
let built: string | undefined;

/** Environment for a child process whose fdatasync(2) fails with EIO on files whose path contains `marker`. */
export function failingFdatasync(marker: string): Record<string, string> {
  if (built === undefined) {
    const directory = mkdtempSync(join(tmpdir(), 'berth-faults-'));
    process.on('exit', () => rmSync(directory, { recursive: true, force: true }));
    const library = join(directory, 'fail-fdatasync.so');
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', library, SOURCE, '-ldl']);
    built = library;
  }
  return { LD_PRELOAD: built, FAIL_FDATASYNC_PATH: marker };
}
