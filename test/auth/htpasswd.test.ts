import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { editHtpasswd, hashPassword, HtpasswdFile, parseHtpasswd } from '../../src/auth/htpasswd.js';

describe('htpasswd files', () => {
  let dir: string;
  let aliceHash: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-htpasswd-'));
    aliceHash = await hashPassword('wonderland', 4);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads bcrypt entries of every prefix, skipping blank lines and comments', () => {
    const b = aliceHash.replace('$2y$', '$2b$');
    const a = aliceHash.replace('$2y$', '$2a$');
    const entries = parseHtpasswd(`# team\nalice:${aliceHash}\n\nbob:${b}\r\ncarol:${a}\n`, 'f');
    assert.deepEqual([...entries.keys()], ['alice', 'bob', 'carol']);
  });

  it('refuses MD5, SHA and crypt entries with the file and line number', () => {
    assert.throws(() => parseHtpasswd(`alice:${aliceHash}\nbob:$apr1$abc$def\n`, '/etc/htpasswd'), /^Error: \/etc\/htpasswd:2: user "bob" has a non-bcrypt password hash/);
    assert.throws(() => parseHtpasswd('\n\ncarol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n', 'f'), /f:3: user "carol"/);
    assert.throws(() => parseHtpasswd('dave:abJnggxhB/yWI\n', 'f'), /f:1: .*non-bcrypt/);
    assert.throws(() => parseHtpasswd('no separator here\n', 'f'), /f:1: expected user:hash/);
  });

  it('a missing file is refused when loading, naming it', () => {
    assert.throws(() => new HtpasswdFile(path.join(dir, 'absent')), /cannot read htpasswd file .*absent: ENOENT/);
  });

  it('verifies passwords; a wrong password or an unknown user fails', async () => {
    const file = path.join(dir, 'verify');
    writeFileSync(file, `alice:${aliceHash}\n`);
    const htpasswd = new HtpasswdFile(file);
    assert.equal(await htpasswd.verify('alice', 'wonderland'), true);
    assert.equal(await htpasswd.verify('alice', 'wonderland'), true, 'remembered checks still answer true');
    assert.equal(await htpasswd.verify('alice', 'Wonderland'), false);
    assert.equal(await htpasswd.verify('mallory', 'wonderland'), false);
  });

  it('re-reads the file when it changes, and keeps the last good entries when the new one is invalid', async () => {
    const file = path.join(dir, 'reload');
    writeFileSync(file, `alice:${aliceHash}\n`);
    let clock = 0;
    const errors: string[] = [];
    const htpasswd = new HtpasswdFile(file, { now: () => clock, onReloadError: (err) => errors.push(err.message) });
    assert.equal(await htpasswd.verify('alice', 'wonderland'), true);

    writeFileSync(file, `bob:${await hashPassword('builder', 4)}\n`);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    clock += 2000;
    assert.equal(await htpasswd.verify('bob', 'builder'), true);
    assert.equal(await htpasswd.verify('alice', 'wonderland'), false, 'removed users stop working, remembered or not');

    writeFileSync(file, 'bob:plaintext\n');
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    clock += 2000;
    assert.equal(await htpasswd.verify('bob', 'builder'), true);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /reload:1: user "bob" has a non-bcrypt/);
  });

  it('editing sets, replaces and deletes one user, keeping the other lines', () => {
    const added = editHtpasswd('# comment\nbob:x\n', 'alice', 'h1');
    assert.deepEqual(added, { text: '# comment\nbob:x\nalice:h1\n', found: false });
    assert.deepEqual(editHtpasswd(added.text, 'alice', 'h2'), { text: '# comment\nbob:x\nalice:h2\n', found: true });
    assert.deepEqual(editHtpasswd(added.text, 'bob', undefined), { text: '# comment\nalice:h1\n', found: true });
    assert.equal(editHtpasswd('', 'bob', undefined).found, false);
  });

  it('writes $2y$ hashes, as Apache htpasswd -B does', async () => {
    assert.match(await hashPassword('x', 4), /^\$2y\$04\$/);
  });
});
