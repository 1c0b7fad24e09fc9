/** `berth garbage-collect` as a user runs it, and the online GC keys as `berth config check` validates them. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { normalizeBooleanFlags } from '../../src/cli/gc.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));

function berth(args: string[]) {
  return spawnSync(process.execPath, [BERTH, ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH } });
}

describe('berth garbage-collect', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cli-gc-'));
    config = join(dir, 'config.yml');
    await writeFile(config, stringify({ version: 0.1, storage: { filesystem: { rootdirectory: join(dir, 'root') } } }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('on an empty store prints Distribution\'s summary line and what it freed', () => {
    const result = berth(['garbage-collect', config, '--dry-run=true', '-m']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^0 blobs marked, 0 blobs and 0 manifests eligible for deletion$/m);
    assert.match(result.stdout, /^dry run: would delete 0 blobs \(0 bytes\) and 0 manifests$/m);
  });

  it('refuses a flag value Go would refuse, naming the flag', () => {
    const result = berth(['garbage-collect', config, '--delete-untagged=maybe']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /invalid value "maybe" for --delete-untagged: expected true or false/);
  });

  it('reads Go boolean flag forms as Distribution does', () => {
    assert.deepEqual(normalizeBooleanFlags(['gc', 'c.yml', '--dry-run=true', '-m=false', '-d=1', '--delete-untagged=F']), [
      'gc',
      'c.yml',
      '--dry-run',
      '-d',
    ]);
  });

  it('config check refuses an online GC interval or grace period of zero', async () => {
    const bad = join(dir, 'bad.yml');
    await writeFile(bad, stringify({ version: 0.1, storage: { inmemory: {}, maintenance: { gc: { interval: '0s', graceperiod: '0s' } } } }));
    const result = berth(['config', 'check', bad]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /storage\.maintenance\.gc\.interval: must be longer than 0s/);
    assert.match(result.stderr, /storage\.maintenance\.gc\.graceperiod: must be longer than 0s/);
  });
});
