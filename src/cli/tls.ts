/**
 * `http.tls` → Node's TLS server options. Files are read and checked here, at start-up, so that a missing
 * certificate or a key that does not belong to it stops `berth serve` with a message naming the key, not
 * the first client's handshake.
 *
 * Cipher suites are configured by their Go names, as in Distribution; TLS 1.3 suites are not configurable in
 * Go, so Node's defaults for them stay on whatever TLS 1.2 suites are chosen.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, DEFAULT_CIPHERS, type SecureVersion, type TlsOptions } from 'node:tls';
import type { BerthConfig } from '../config/schema.js';

export type TlsConfig = BerthConfig['http']['tls'];


const VERSIONS: Record<NonNullable<TlsConfig['minimumtls']>, SecureVersion> = {
  'tls1.0': 'TLSv1',
  'tls1.1': 'TLSv1.1',
  'tls1.2': 'TLSv1.2',
  'tls1.3': 'TLSv1.3',
};

/** Go's names of the TLS 1.2 (and older) suites it implements, and OpenSSL's names for them. */
const GO_CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
};
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** Whether the configuration asks for TLS at all (a certificate, as Distribution decides). */
export function tlsEnabled(tls: TlsConfig): boolean {
  return tls.certificate !== undefined || tls.key !== undefined;
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function ciphers(names: string[]): string | undefined {
  if (names.length === 0) return undefined;
  const openssl = names.map((name) => {
    if (TLS13_SUITES.includes(name)) return name;
    const mapped = GO_CIPHER_SUITES[name];
    if (mapped === undefined) {
      throw new Error(`http.tls.ciphersuites: unknown cipher suite ${JSON.stringify(name)} (expected Go names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`);
    }
    return mapped;
  });
  if (!openssl.some((name) => name.startsWith('TLS_'))) openssl.unshift(...TLS13_SUITES);
  return openssl.join(':');
}

/** Reads and checks the files named by `http.tls`; throws a message naming the offending key. */
export function serverTlsOptions(tls: TlsConfig): TlsOptions {
  if (tls.certificate === undefined) throw new Error('http.tls.key is set but http.tls.certificate is not');
  if (tls.key === undefined) throw new Error('http.tls.certificate is set but http.tls.key is not');
  const options: TlsOptions = {
    cert: readPem('http.tls.certificate', tls.certificate),
    key: readPem('http.tls.key', tls.key),
    minVersion: VERSIONS[tls.minimumtls ?? 'tls1.2'],
  };
  const suites = ciphers(tls.ciphersuites);
  options.ciphers = suites ?? DEFAULT_CIPHERS;
  if (tls.clientcas.length > 0) {
    options.ca = tls.clientcas.map((file) => readPem('http.tls.clientcas', file));
    // Go's RequireAndVerifyClientCert: no certificate, or one from another CA, fails the handshake.
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  try {
    createSecureContext(options);
  } catch (err) {
    const message = (err as Error).message;
    if (/key values mismatch/i.test(message)) {
      throw new Error(`http.tls.key ${tls.key} does not match the certificate in ${tls.certificate}`);
    }
    throw new Error(`http.tls: cannot use certificate ${tls.certificate} with key ${tls.key}: ${message}`);
  }
  return options;
}
