/**
 * Secured Berth with real clients: skopeo and podman (own store) log in and push/pull over TLS with a test
 * CA made by openssl, first against `auth.htpasswd`, then against the built-in token service with mutual
 * TLS. Credentials go to a private auth file per client, never the machine's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { newPodman, requireCommand, skopeo, type Podman } from '../helpers/clients.js';
import { makeImage } from '../helpers/oci-layout.js';
import { newTestCA, type TestCA } from '../helpers/pki.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';

const BERTH = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));

/** `berth htpasswd add FILE USER` with the password on stdin, as a script would. */
function addUser(file: string, user: string, password: string): void {
  const result = spawnSync(process.execPath, [BERTH, 'htpasswd', 'add', file, user], { input: `${password}\n`, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
}

/** A containers-style cert dir: the CA, and optionally a client certificate. */
function certDir(dir: string, ca: TestCA, client?: { cert: string; key: string }): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(ca.cert, path.join(dir, 'ca.crt'));
  if (client) {
    copyFileSync(client.cert, path.join(dir, 'client.cert'));
    copyFileSync(client.key, path.join(dir, 'client.key'));
  }
  return dir;
}

describe('secured berth with real clients', () => {
  let ca: TestCA;
  let work: string;
  let layout: string;
  let podman: Podman;

  before(async () => {
    requireCommand('skopeo', 'skopeo');
    ca = newTestCA();
    work = mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-auth-'));
    layout = path.join(work, 'layout');
    await makeImage({ dir: layout, tag: 'app', layers: [{ size: 300_000 }, { bytes: 'secured\n' }] });
    podman = await newPodman();
  });
  after(async () => {
    await podman?.dispose();
    ca?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  describe('TLS + auth.htpasswd', () => {
    let registry: RunningRegistry;
    let certs: string;
    const authfile = () => path.join(work, 'htpasswd-auth.json');

    before(async () => {
      const server = ca.issue('htpasswd-server', { server: true });
      const htpasswd = path.join(work, 'htpasswd');
      addUser(htpasswd, 'alice', 'wonderland');
      certs = certDir(path.join(work, 'certs-htpasswd'), ca);
      registry = await startRegistry({
        kind: 'berth',
        config: { http: { tls: { certificate: server.cert, key: server.key } }, auth: { htpasswd: { realm: 'Berth', path: htpasswd } } },
      });
    });
    after(() => registry?.stop());

    test('skopeo: a wrong password fails login; the right one logs in, pushes and reads back', async () => {
      await assert.rejects(
        skopeo(['login', '--authfile', authfile(), '--cert-dir', certs, '-u', 'alice', '-p', 'guess', registry.host]),
        /invalid username\/password|unauthorized/i,
      );
      await skopeo(['login', '--authfile', authfile(), '--cert-dir', certs, '-u', 'alice', '-p', 'wonderland', registry.host]);
      await skopeo(['copy', '--authfile', authfile(), '--dest-cert-dir', certs, `oci:${layout}:app`, `docker://${registry.host}/team/app:v1`]);
      const tags = JSON.parse(await skopeo(['list-tags', '--authfile', authfile(), '--cert-dir', certs, `docker://${registry.host}/team/app`])) as { Tags: string[] };
      assert.deepEqual(tags.Tags, ['v1']);
      await assert.rejects(skopeo(['inspect', '--cert-dir', certs, '--no-creds', `docker://${registry.host}/team/app:v1`]), /unauthorized|authentication required/i);
    });

    test('podman: logs in, pulls what skopeo pushed, pushes it under another name', async () => {
      const podmanAuth = path.join(work, 'podman-auth.json');
      await assert.rejects(podman.run(['login', '--authfile', podmanAuth, '--cert-dir', certs, '-u', 'alice', '-p', 'nope', registry.host]), /invalid username\/password|unauthorized/i);
      await podman.run(['login', '--authfile', podmanAuth, '--cert-dir', certs, '-u', 'alice', '-p', 'wonderland', registry.host]);
      await podman.run(['pull', '-q', '--authfile', podmanAuth, '--cert-dir', certs, `${registry.host}/team/app:v1`]);
      await podman.run(['push', '--authfile', podmanAuth, '--cert-dir', certs, `${registry.host}/team/app:v1`, `docker://${registry.host}/team/copy:v1`]);
      assert.match(registry.logs(), /method=PUT path=\/v2\/team\/copy\/manifests\/v1 status=201 .*user=alice/);
    });
  });

  describe('mutual TLS + built-in token service', () => {
    let registry: RunningRegistry;
    let certs: string;
    let noClientCert: string;
    const authfile = (user: string) => path.join(work, `token-auth-${user}.json`);

    before(async () => {
      const server = ca.issue('token-server', { server: true });
      const client = ca.issue('token-client', { client: true });
      const accounts = path.join(work, 'accounts');
      addUser(accounts, 'alice', 'wonderland');
      addUser(accounts, 'bob', 'builder');
      certs = certDir(path.join(work, 'certs-token'), ca, client);
      noClientCert = certDir(path.join(work, 'certs-token-nocert'), ca);
      registry = await startRegistry({
        kind: 'berth',
        config: {
          http: { tls: { certificate: server.cert, key: server.key, clientcas: [ca.cert] } },
          auth: {
            token: {
              realm: '/auth/token',
              service: 'berth-e2e',
              issuer: 'berth-e2e',
              builtin: {
                signingkey: path.join(work, 'token-key.pem'),
                accounts,
                access: [
                  { accounts: ['alice'], repositories: ['team/**'], actions: ['pull', 'push'] },
                  { accounts: ['bob'], repositories: ['team/**'], actions: ['pull'] },
                  { accounts: ['*'], anonymous: true, repositories: ['public/**'], actions: ['pull'] },
                ],
              },
            },
          },
        },
      });
    });
    after(() => registry?.stop());

    test('skopeo: alice logs in and pushes; bob may pull but not push; anonymous pulls only public', async () => {
      await assert.rejects(skopeo(['login', '--authfile', authfile('x'), '--cert-dir', certs, '-u', 'alice', '-p', 'guess', registry.host]), /unauthorized|invalid username\/password/i);
      await skopeo(['login', '--authfile', authfile('alice'), '--cert-dir', certs, '-u', 'alice', '-p', 'wonderland', registry.host]);
      await skopeo(['copy', '--authfile', authfile('alice'), '--dest-cert-dir', certs, `oci:${layout}:app`, `docker://${registry.host}/team/app:v1`]);
      await skopeo(['copy', '--authfile', authfile('alice'), '--src-cert-dir', certs, '--dest-cert-dir', certs, `docker://${registry.host}/team/app:v1`, `docker://${registry.host}/team/mounted:v1`]);

      await skopeo(['login', '--authfile', authfile('bob'), '--cert-dir', certs, '-u', 'bob', '-p', 'builder', registry.host]);
      await skopeo(['inspect', '--authfile', authfile('bob'), '--cert-dir', certs, `docker://${registry.host}/team/app:v1`]);
      await assert.rejects(
        skopeo(['copy', '--authfile', authfile('bob'), '--dest-cert-dir', certs, `oci:${layout}:app`, `docker://${registry.host}/team/bobs:v1`]),
        /unauthorized|denied|authentication required/i,
      );
      await assert.rejects(skopeo(['inspect', '--no-creds', '--cert-dir', certs, `docker://${registry.host}/team/app:v1`]), /unauthorized|authentication required/i);
    });

    test('podman: logs in with the token service and pulls over mutual TLS', async () => {
      const podmanAuth = path.join(work, 'podman-token-auth.json');
      await podman.run(['login', '--authfile', podmanAuth, '--cert-dir', certs, '-u', 'alice', '-p', 'wonderland', registry.host]);
      await podman.run(['pull', '-q', '--authfile', podmanAuth, '--cert-dir', certs, `${registry.host}/team/app:v1`]);
      await podman.run(['push', '--authfile', podmanAuth, '--cert-dir', certs, `${registry.host}/team/app:v1`, `docker://${registry.host}/team/podman:v1`]);
    });

    test('a client without a certificate from the CA is refused at the handshake', async () => {
      await assert.rejects(
        skopeo(['login', '--authfile', authfile('nocert'), '--cert-dir', noClientCert, '-u', 'alice', '-p', 'wonderland', registry.host]),
        /certificate|tls|handshake/i,
      );
    });
  });
});
