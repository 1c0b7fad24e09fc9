/**
 * The built-in token service's signing key: read from a PEM file, or generated (EC P-256, ES256) and
 * written there on first start, with mode 0600. Creation is exclusive, so replicas starting together on a
 * shared volume end up with the same key. The key's id is its RFC 7638 thumbprint, which is also the `kid`
 * tokens carry and the JWKS publishes.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  alg: string;
  kid: string;
  /** The public half, as published in the JWKS. */
  publicJwk: JWK;
}

function algorithmOf(key: KeyObject, file: string): string {
  const { asymmetricKeyType: type, asymmetricKeyDetails: details } = key;
  if (type === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'ec' && details?.namedCurve === 'secp384r1') return 'ES384';
  if (type === 'rsa') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  throw new Error(`${file}: unsupported signing key type ${type}${details?.namedCurve ? ` (${details.namedCurve})` : ''}; use EC P-256/P-384, RSA or Ed25519`);
}

function readOrCreate(file: string): { pem: string; created: boolean } {
  try {
    return { pem: readFileSync(file, 'utf8'), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read signing key ${file}: ${(err as Error).message}`);
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    return { pem, created: true };
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { pem: readFileSync(file, 'utf8'), created: false };
    throw new Error(`cannot write signing key ${file}: ${(err as Error).message}`);
  }
}

export async function loadSigningKey(file: string): Promise<SigningKey & { created: boolean }> {
  const { pem, created } = readOrCreate(file);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${file}: not a PEM private key: ${(err as Error).message}`);
  }
  const alg = algorithmOf(privateKey, file);
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, publicKey, alg, kid, publicJwk: { ...jwk, kid, alg, use: 'sig' }, created };
}
