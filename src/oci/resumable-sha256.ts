/**
 * SHA-256 whose state can be saved and restored, from the in-tree addon (`native/hash.c`, built by
 * `npm install`): it lets an upload's running hash continue in another process. The saved form is
 * Distribution's (Go's crypto/sha256 marshalling, 108 bytes), so either registry can continue an upload the
 * other started. Undefined when the addon did not build.
 */
import { createRequire } from 'node:module';

interface HashAddon {
  sha256New(): Buffer;
  sha256Update(context: Buffer, bytes: Uint8Array): void;
  sha256Digest(context: Buffer): Buffer;
  sha256Save(context: Buffer): Buffer;
  sha256Restore(saved: Uint8Array): Buffer;
}

function load(): HashAddon | undefined {
  try {
    // From dist/src/oci/ to the root's build/ (node-gyp's output).
    return createRequire(import.meta.url)('../../../build/Release/berth_hash.node') as HashAddon;
  } catch {
    return undefined;
  }
}

const addon = load();

/** The bytes a saved state covers: its last eight bytes, big-endian. */
function savedLength(saved: Uint8Array): number {
  const view = new DataView(saved.buffer, saved.byteOffset, saved.byteLength);
  return Number(view.getBigUint64(saved.byteLength - 8));
}

export class ResumableSha256 {
  private constructor(private readonly context: Buffer) {}

  static create(): ResumableSha256 | undefined {
    return addon && new ResumableSha256(addon.sha256New());
  }

  /** The hash continued from `saved`, or undefined if it is not a saved SHA-256 state of `length` bytes. */
  static restore(saved: Uint8Array, length: number): ResumableSha256 | undefined {
    if (addon === undefined || saved.byteLength < 8 || savedLength(saved) !== length) return undefined;
    try {
      return new ResumableSha256(addon.sha256Restore(saved));
    } catch {
      return undefined;
    }
  }

  update(bytes: Uint8Array): void {
    addon!.sha256Update(this.context, bytes);
  }

  /** The hex digest of the bytes so far; hashing may go on. */
  hex(): string {
    return addon!.sha256Digest(this.context).toString('hex');
  }

  save(): Buffer {
    return addon!.sha256Save(this.context);
  }
}
