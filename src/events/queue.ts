/**
 * A durable FIFO of text records on the local disk: one queue per notification endpoint.
 *
 * Layout of a queue directory:
 *   <16-digit n>.log   segments: records appended as lines (JSON never contains a raw newline); the highest
 *                      n is the one being appended to, a new one starts past SEGMENT_BYTES.
 *   cursor             `{"segment":n,"offset":bytes}`: where the first undelivered record starts.
 *
 * Protocol:
 *   - append: records waiting at the same moment are written together and made durable with one fdatasync
 *     (group commit); `append` resolves only after that, so a record that was acknowledged survives a crash.
 *     A crash mid-write can leave an unacknowledged partial line at the end of the last segment: it is cut
 *     off when the queue is opened.
 *   - consume: `next()` returns the oldest undelivered record (waiting for one if needed), `ack()` moves the
 *     cursor past it. The cursor is replaced atomically (temp file, fsync, rename), after delivery, so a
 *     crash between the two delivers the record again: at least once, always in order. A fully consumed
 *     segment is deleted once the cursor has moved to the next one.
 * One process owns a queue directory at a time.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

const SEGMENT_BYTES = 4 << 20;
const READ_BYTES = 256 << 10;
const SEGMENT_NAME = /^(\d{16})\.log$/;

interface Cursor {
  segment: number;
  offset: number;
}

interface Pending {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const segmentName = (n: number) => `${String(n).padStart(16, '0')}.log`;

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function countLines(file: string, from: number): Promise<number> {
  const content = await fsp.readFile(file);
  let count = 0;
  for (let i = from; i < content.length; i++) if (content[i] === 0x0a) count++;
  return count;
}

export class DiskQueue {
  readonly dir: string;
  #cursor: Cursor;
  #writeSegment: number;
  #writeSize: number;
  #writer: FileHandle;
  #pending: number;
  #batch: Pending[] = [];
  #flushing = false;
  /** Records read ahead of the cursor, with their sizes in bytes (newline included). */
  #readAhead: { record: string; bytes: number }[] = [];
  #wake: (() => void) | undefined;
  /** Bumped by every durable append, so a consumer never sleeps past records written while it was reading. */
  #generation = 0;
  #closed = false;

  private constructor(dir: string, cursor: Cursor, writeSegment: number, writeSize: number, writer: FileHandle, pending: number) {
    this.dir = dir;
    this.#cursor = cursor;
    this.#writeSegment = writeSegment;
    this.#writeSize = writeSize;
    this.#writer = writer;
    this.#pending = pending;
  }

  static async open(dir: string): Promise<DiskQueue> {
    await fsp.mkdir(dir, { recursive: true });
    const segments = (await fsp.readdir(dir))
      .map((name) => SEGMENT_NAME.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    if (segments.length === 0) segments.push(1);
    const last = segments.at(-1)!;
    const lastFile = path.join(dir, segmentName(last));

    // Cut a torn, never-acknowledged last line.
    const content = await fsp.readFile(lastFile).catch(() => Buffer.alloc(0));
    const end = content.lastIndexOf(0x0a) + 1;
    const writer = await fsp.open(lastFile, 'a');
    if (end !== content.length) {
      await writer.truncate(end);
      await writer.sync();
    }
    await syncDirectory(dir);

    let cursor: Cursor = { segment: segments[0]!, offset: 0 };
    try {
      const saved = JSON.parse(await fsp.readFile(path.join(dir, 'cursor'), 'utf8')) as Cursor;
      if (segments.includes(saved.segment)) cursor = saved;
    } catch {
      // No cursor yet: everything queued is undelivered.
    }
    let pending = 0;
    for (const n of segments.filter((s) => s >= cursor.segment)) {
      pending += await countLines(path.join(dir, segmentName(n)), n === cursor.segment ? cursor.offset : 0);
    }
    return new DiskQueue(dir, cursor, last, end, writer, pending);
  }

  /** Records queued and not yet acknowledged. */
  get pending(): number {
    return this.#pending;
  }

  /** Resolves once `record` is durably on disk. */
  append(record: string): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`queue ${this.dir} is closed`));
    return new Promise((resolve, reject) => {
      this.#batch.push({ line: `${record}\n`, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#batch.length > 0) {
      const batch = this.#batch.splice(0);
      try {
        const bytes = Buffer.from(batch.map((p) => p.line).join(''));
        await this.#writer.write(bytes);
        await this.#writer.datasync();
        this.#writeSize += bytes.length;
        this.#pending += batch.length;
        this.#generation++;
        for (const p of batch) p.resolve();
        this.#wake?.();
        if (this.#writeSize >= SEGMENT_BYTES) await this.#rotate();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.#flushing = false;
  }

  async #rotate(): Promise<void> {
    const next = this.#writeSegment + 1;
    const writer = await fsp.open(path.join(this.dir, segmentName(next)), 'a');
    await syncDirectory(this.dir);
    await this.#writer.close();
    this.#writer = writer;
    this.#writeSegment = next;
    this.#writeSize = 0;
  }

  /** The oldest unacknowledged record; waits for one. Undefined once the queue is closed. */
  async next(): Promise<string | undefined> {
    while (!this.#closed) {
      const head = this.#readAhead[0];
      if (head) return head.record;
      const seen = this.#generation;
      if (await this.#readMore()) continue;
      if (this.#cursor.segment < this.#writeSegment) {
        await this.#advanceSegment();
        continue;
      }
      if (this.#generation !== seen || this.#closed) continue;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    return undefined;
  }

  /** Marks the record `next()` returned as delivered. */
  async ack(): Promise<void> {
    const head = this.#readAhead.shift();
    if (!head) throw new Error('ack without a record');
    this.#pending--;
    await this.#saveCursor({ segment: this.#cursor.segment, offset: this.#cursor.offset + head.bytes });
  }

  /** Stops `next()` waiters and closes the file; appends still being written finish first. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    while (this.#flushing) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.#writer.close();
  }

  async #readMore(): Promise<boolean> {
    const from = this.#cursor.offset + this.#readAhead.reduce((sum, r) => sum + r.bytes, 0);
    const handle = await fsp.open(path.join(this.dir, segmentName(this.#cursor.segment)), 'r');
    try {
      // A record longer than the read (an event listing a huge index's references) doubles the read.
      for (let size = READ_BYTES; ; size *= 2) {
        const buffer = Buffer.alloc(size);
        const { bytesRead } = await handle.read(buffer, 0, size, from);
        const chunk = buffer.subarray(0, bytesRead);
        let start = 0;
        for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
          this.#readAhead.push({ record: chunk.subarray(start, newline).toString('utf8'), bytes: newline + 1 - start });
          start = newline + 1;
        }
        if (start > 0 || bytesRead < size) return start > 0;
      }
    } finally {
      await handle.close();
    }
  }

  async #advanceSegment(): Promise<void> {
    const done = this.#cursor.segment;
    await this.#saveCursor({ segment: done + 1, offset: 0 });
    await fsp.rm(path.join(this.dir, segmentName(done)), { force: true });
  }

  async #saveCursor(cursor: Cursor): Promise<void> {
    const file = path.join(this.dir, 'cursor');
    const temporary = `${file}.tmp`;
    const handle = await fsp.open(temporary, 'w');
    try {
      await handle.writeFile(JSON.stringify(cursor));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temporary, file);
    this.#cursor = cursor;
  }
}
