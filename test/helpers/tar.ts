/**
 * Just enough of a ustar writer to make image layers: one regular file per archive, streamed, so a layer of
 * any size never sits in memory. Layers only have to be valid tar for clients to accept them.
 */
import { createCipheriv, createHash } from 'node:crypto';

const BLOCK = 512;
const CHUNK = 1 << 20;

/** Deterministic pseudo-random bytes: AES-128-CTR over zeros, keyed by the seed (fast, and never compressible). */
export async function* pseudoRandomBytes(seed: string, size: number): AsyncGenerator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  for (let left = size; left > 0; left -= CHUNK) {
    yield cipher.update(zeros.subarray(0, Math.min(CHUNK, left)));
  }
}

function octal(value: number, width: number): string {
  // width - 1 octal digits followed by a NUL, as ustar numeric fields are written by GNU tar.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** The 512-byte ustar header of a regular file owned by root, mode 0644, mtime 0 (so layers are reproducible). */
export function ustarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  if (size >= 8 ** 11) throw new Error(`tar entry too large for a ustar size field: ${size}`);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(0, 12), 136, 'ascii');
  header.write(' '.repeat(8), 148, 'ascii'); // the checksum is computed with its own field read as spaces
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  header.write('root', 265, 'ascii');
  header.write('root', 297, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(octal(sum, 7) + ' ', 148, 'ascii');
  return header;
}

/** A tar archive holding one file whose content is `body` (exactly `size` bytes). */
export async function* tarOneFile(name: string, size: number, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield ustarHeader(name, size);
  let written = 0;
  for await (const chunk of body) {
    written += chunk.length;
    yield chunk;
  }
  if (written !== size) throw new Error(`tar entry ${name}: declared ${size} bytes, got ${written}`);
  const padding = (BLOCK - (size % BLOCK)) % BLOCK;
  yield Buffer.alloc(padding + 2 * BLOCK); // pad the entry, then the two zero blocks ending the archive
}
