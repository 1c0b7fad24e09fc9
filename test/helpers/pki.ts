/**
 * A throwaway PKI made with the openssl CLI, for TLS, mTLS and token-signing tests: a CA, and certificates
 * it signs (server certificates for 127.0.0.1/localhost, client certificates, token-signing certificates).
 * Everything lives in one temp dir that `dispose()` removes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
  /** The certificate as PEM text. */
  certPem: string;
  keyPem: string;
}

export interface TestCA extends CertFiles {
  dir: string;
  /** A certificate signed by this CA. `ec` gives a P-256 key (ES256), otherwise RSA 2048 (RS256). */
  issue(name: string, options?: { server?: boolean; client?: boolean; ec?: boolean }): CertFiles;
  /** An intermediate CA signed by this one. */
  intermediate(name: string): TestCA;
  dispose(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  return { cert, key, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

function makeCA(dir: string, name: string, signer?: CertFiles): TestCA {
  const keyArgs = ['-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`];
  if (signer) {
    openssl(['req', '-new', ...keyArgs, '-subj', `/CN=${name}`, '-out', `${name}.csr`], dir);
    writeFileSync(path.join(dir, `${name}.ext`), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n');
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', signer.cert, '-CAkey', signer.key, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  } else {
    openssl(['req', '-x509', ...keyArgs, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-out', `${name}.crt`], dir);
  }
  const own = files(dir, name);
  return {
    dir,
    ...own,
    intermediate: (name) => makeCA(dir, name, own),
    issue(leaf, options = {}) {
      const keyOpt = options.ec ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
      openssl(['req', '-new', ...keyOpt, '-nodes', '-keyout', `${leaf}.key`, '-subj', `/CN=${leaf}`, '-out', `${leaf}.csr`], dir);
      const ext = ['basicConstraints=CA:FALSE'];
      if (options.server) ext.push('subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth');
      if (options.client) ext.push('extendedKeyUsage=clientAuth');
      writeFileSync(path.join(dir, `${leaf}.ext`), ext.join('\n') + '\n');
      openssl(['x509', '-req', '-in', `${leaf}.csr`, '-CA', own.cert, '-CAkey', own.key, '-CAcreateserial', '-days', '2', '-extfile', `${leaf}.ext`, '-out', `${leaf}.crt`], dir);
      return files(dir, leaf);
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function newTestCA(name = 'berth-test-ca'): TestCA {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-pki-'));
  return makeCA(dir, name);
}
