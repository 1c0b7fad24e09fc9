/**
 * Direct writes of upload data: whole write batches of an upload (1 MiB each, at aligned offsets) go to the disk
 * with O_DIRECT, from page-aligned buffers that the in-tree addon allocates (`native/aligned.c`, built by
 * `npm install`), a few at a time.
 *
 * Why: an upload must be synced before it is acknowledged anyway, so staging its bytes in the page cache only
 * adds a copy, the page cache's bookkeeping and a write-back that the sync then waits for. Measured on this
 * project's machines (a virtual disk), 512 MiB written through the page cache with a sync every 8 MiB took
 * 2.2 CPU-seconds per GiB at 455 MiB/s; with O_DIRECT from page-aligned buffers, 0.05-0.09 s/GiB at
 * 940-970 MiB/s. How much the page cache costs varies with how the virtual machine backs fresh pages: when
 * they are warm it took 32 MiB files at 1.2 GiB/s, but when they are not, copying into them cost 2.5 kernel
 * CPU-seconds per GiB: one after another, 32 MiB pushes ran at 318 MiB/s for 3.6 server CPU-seconds per GiB
 * cached, and at 576 MiB/s for 1.5 direct (4 MiB pushes: 167 against 217 MiB/s), so uploads of every size go
 * direct. The cost: a blob pulled right after its push is read from the disk once.
 *
 * Without the addon, or on a filesystem that refuses O_DIRECT (tmpfs, some network filesystems), uploads are
 * written through the page cache as before.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';

interface AlignedAddon {
  alignedBuffer(size: number): Buffer<ArrayBuffer>;
}

function load(): AlignedAddon | undefined {
  if (process.platform !== 'linux' || fs.constants.O_DIRECT === undefined) return undefined;
  try {
    // From dist/src/storage/drivers/ to the root's build/ (node-gyp's output).
    return createRequire(import.meta.url)('../../../../build/Release/berth_aligned.node') as AlignedAddon;
  } catch {
    return undefined;
  }
}

const addon = load();

/** Direct writes must start at, and be a whole number of, this many bytes (a page: the strictest case). */
export const DIRECT_ALIGNMENT = 4096;

/** Whether buffers from `batchBuffer` can be written with O_DIRECT. */
export const directWritesAvailable = addon !== undefined;

/** A buffer for write batches: page-aligned when the addon loaded. */
export function batchBuffer(size: number): Buffer<ArrayBuffer> {
  return addon?.alignedBuffer(size) ?? Buffer.allocUnsafe(size);
}

/** Flags to open a file for direct writes at chosen positions. */
export const DIRECT_WRITE_FLAGS = fs.constants.O_WRONLY | (fs.constants.O_DIRECT ?? 0);
