/** The `berth` command as a user runs it: a real process, real files, real HTTP on loopback. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../helpers/registry-process.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../../package.json', import.meta.url));

function berth(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return spawnSync(process.execPath, [BERTH, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: options.cwd,
    env: { PATH: process.env.PATH, ...options.env },
  });
}

describe('berth command line', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(PACKAGE, 'utf8')) as { version: string };
    const result = berth(['--version']);
    assert.equal(result.status, 0);
    assert.equal(result.stdout.trim(), version);
  });

  it('config check prints the effective config with secrets masked', async () => {
    const path = join(dir, 'ok.yml');
    await writeFile(
      path,
      ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /srv/registry', 'http:', '  addr: :5001', '  secret: s3cr3t-value'].join('\n'),
    );
    const result = berth(['config', 'check', path], { env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /rootdirectory: \/srv\/registry/);
    assert.match(result.stdout, /addr: :5001/);
    assert.match(result.stdout, /delete:\s*\n\s*enabled: true/);
    assert.doesNotMatch(result.stdout, /s3cr3t-value/);
  });

  it('config check names the bad key and exits non-zero', async () => {
    const path = join(dir, 'bad.yml');
    await writeFile(path, ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /x', '  maintenance:', '    uploadpurging:', '      age: 3 fortnights'].join('\n'));
    const result = berth(['config', 'check', path]);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /storage\.maintenance\.uploadpurging\.age/);
  });

  it('serve refuses to start with an option it does not implement yet, naming it', async () => {
    const path = join(dir, 'acme.yml');
    await writeFile(
      path,
      ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', '  addr: 127.0.0.1:0', '  tls:', '    letsencrypt:', '      cachefile: /etc/acme.json'].join('\n'),
    );
    const result = berth(['serve', path]);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /not supported yet: http\.tls\.letsencrypt/);
  });

  it('serve refuses an htpasswd file with a non-bcrypt entry, naming the file and line', async () => {
    const htpasswd = join(dir, 'htpasswd');
    await writeFile(htpasswd, '# users\nalice:$apr1$Vl2dhHf6$Zg8VQ0xZKX7JH4fhOyPSY/\n');
    const path = join(dir, 'auth.yml');
    await writeFile(
      path,
      ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', '  addr: 127.0.0.1:0', 'auth:', '  htpasswd:', '    realm: r', `    path: ${htpasswd}`].join('\n'),
    );
    const result = berth(['serve', path]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /htpasswd:2: user "alice" has a non-bcrypt password hash/);
  });

  it('serve reads REGISTRY_CONFIGURATION_PATH when no file is named', async () => {
    const path = join(dir, 'missing.yml');
    const result = berth(['config', 'check'], { env: { REGISTRY_CONFIGURATION_PATH: path } });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /missing\.yml/);
  });

  it('with no config, stores in ./data and listens on :5000', async () => {
    const result = berth(['config', 'check'], { cwd: dir });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`rootdirectory: ${join(dir, 'data')}`));
    assert.match(result.stdout, /addr: :5000/);
  });
});

describe('berth serve shutdown', () => {
  it('on SIGTERM stops accepting, lets an in-flight upload finish, and exits 0', async () => {
    const registry = await startRegistry({ kind: 'berth' });
    const post = await fetch(`${registry.url}/v2/drain/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = new URL(post.headers.get('location')!, registry.url);

    // A PATCH whose body is still arriving when the signal comes.
    const patch = request(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' } });
    const answered = new Promise<number>((resolve, reject) => {
      patch.once('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      patch.once('error', reject);
    });
    patch.write(Buffer.alloc(64 * 1024, 1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exited = new Promise<number | null>((resolve) => registry.process.once('exit', resolve));
    registry.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));

    await assert.rejects(fetch(`${registry.url}/v2/`), 'a stopping server accepts no new connections');
    patch.end(Buffer.alloc(64 * 1024, 2));
    assert.equal(await answered, 202);
    assert.equal(await exited, 0);
    await registry.stop();
  });
});

describe('berth serve with a drain timeout', () => {
  it('exits once http.draintimeout passes even with a request still in flight', async () => {
    const registry = await startRegistry({ kind: 'berth', config: { http: { draintimeout: '500ms' } } });
    const post = await fetch(`${registry.url}/v2/drain/app/blobs/uploads/`, { method: 'POST' });
    const location = new URL(post.headers.get('location')!, registry.url);
    const patch = request(location, { method: 'PATCH' });
    patch.on('error', () => undefined);
    patch.write('never finished');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => registry.process.once('exit', resolve));
    registry.process.kill('SIGTERM');
    assert.equal(await exited, 0);
    const waited = Date.now() - started;
    assert.ok(waited >= 400 && waited < 5000, `exited after ${waited} ms`);
    patch.destroy();
    await registry.stop();
  });
});

describe('berth serve on the zero-setup default', () => {
  it('serves from ./data in the working directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-default-'));
    // :5000 may be taken on a shared machine; the address is the one thing overridden, through the environment.
    const child = spawn(process.execPath, [BERTH, 'serve'], { cwd: dir, env: { PATH: process.env.PATH, REGISTRY_HTTP_ADDR: '127.0.0.1:0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let output = '';
      const address = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /address="?(http:\/\/[^\s"]+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.once('exit', () => reject(new Error(`exited early:\n${output}`)));
      });
      const post = await fetch(`${address}/v2/zero/setup/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const uploads = join(dir, 'data/docker/registry/v2/repositories/zero/setup/_uploads');
      assert.equal((await import('node:fs/promises').then((fs) => fs.readdir(uploads))).length, 1);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
