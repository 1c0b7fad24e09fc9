/**
 * Byte ranges in both directions: `Range` on blob GETs (RFC 9110, one range only) and `Content-Range` on
 * upload PATCHes (the distribution spec's bare `<start>-<end>`, also in the RFC's `bytes ` form).
 */
import type { ByteRange } from '../registry/types.js';

export type RequestedRange = ByteRange | 'unsatisfiable' | undefined;

/**
 * Resolves `Range: bytes=a-b | a- | -n` against a blob of `size` bytes. Undefined means "serve it whole":
 * RFC 9110 lets a server ignore a Range it cannot parse, and several ranges are served whole too.
 */
export function resolveRange(header: string | undefined, size: number): RequestedRange {
  if (header === undefined) return undefined;
  const match = /^bytes=\s*(\d*)-(\d*)\s*$/.exec(header);
  if (!match) return undefined;
  const [, first = '', second = ''] = match;
  if (first === '' && second === '') return undefined;
  if (first === '') {
    const suffix = Number(second);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = second === '' ? size - 1 : Math.min(Number(second), size - 1);
  if (second !== '' && Number(second) < start) return undefined; // invalid: ignored, per the RFC
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * Reads a chunk's `Content-Range`: `<start>-<end>`, tolerating `bytes=` / `bytes ` prefixes and a
 * trailing `/<total>`. Undefined when the value is unreadable or backwards.
 */
export function parseContentRange(header: string): ByteRange | undefined {
  const match = /^(?:bytes[= ]\s*)?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}

/** The `Range` header of an upload holding `size` bytes: `0-<last byte>`, and `0-0` when empty, as Distribution sends. */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}
