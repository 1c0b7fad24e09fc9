/**
 * Zero-copy blob bodies: on Linux, the in-tree addon (`native/socket.c`, see `socket-addon.ts`) hands a range
 * of a local file to the client's TCP socket with sendfile(2), so the bytes never pass through JavaScript.
 * It applies to HTTP/1.x on a plain TCP socket only: TLS must encrypt in userspace and HTTP/2 frames its
 * bodies. Without the addon (not built, or not Linux) every body is streamed as before.
 *
 * The body is a Readable that yields no bytes, handed to `reply.send` like any stream, so Fastify's hooks,
 * the access log and the HTTP metrics see an ordinary response. When first read it sends the headers, waits
 * until they are written to the socket (the file's bytes must follow them), runs the transfer on one of the addon's
 * threads, and then ends, which ends the response without a body write so that the connection stays usable.
 * If the response closes first (the client went away, or the server is closing connections), the transfer
 * is cancelled; the addon works on its own duplicates of both descriptors, so none of them is written to
 * after Node closes it.
 */
import { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import type { LocalFileRange } from '../storage/driver.js';
import { socketAddon as addon, socketFd } from './socket-addon.js';

/** Whether the addon loaded, so that blob bodies can be sent with sendfile(2). */
export const sendfileAvailable = addon !== undefined;

/** Errors that only mean the client went away: the response ends as when a streamed body's client leaves. */
const CLIENT_GONE = new Set(['EPIPE', 'ECONNRESET', 'ECANCELED']);

const NOTHING = Buffer.alloc(0);

/** Whether a body for `response` can be sent with sendfile: the addon loaded, HTTP/1.x, a plain socket. */
export function canSendfile(response: unknown): response is ServerResponse {
  return (
    addon !== undefined &&
    response instanceof ServerResponse &&
    response.req.httpVersionMajor === 1 &&
    socketFd(response.req.socket) !== undefined
  );
}

/**
 * A body that sends `file` with sendfile(2) when read. `source` is the stream that owns the file's descriptor:
 * it is destroyed (closing the file) when this body ends either way.
 */
export class SendfileBody extends Readable {
  readonly #response: ServerResponse;
  readonly #file: LocalFileRange;
  readonly #source: Readable;
  #started = false;
  #transfer: number | undefined;

  constructor(response: ServerResponse, file: LocalFileRange, source: Readable) {
    super();
    this.#response = response;
    this.#file = file;
    this.#source = source;
  }

  override _read(): void {
    if (this.#started) return;
    this.#started = true;
    // A response queued behind another on the same connection (pipelining) has no socket yet.
    if (this.#response.socket === null) this.#response.once('socket', () => process.nextTick(() => this.#begin()));
    else this.#begin();
  }

  #begin(): void {
    if (this.destroyed) return;
    const socket = this.#response.socket;
    if (socket === null) {
      this.destroy();
      return;
    }
    this.#response.flushHeaders();
    // Writes complete in order, so once this empty one has, the headers are in the kernel's socket buffer.
    socket.write(NOTHING, (err) => {
      if (this.destroyed) return;
      const fd = socketFd(socket);
      if (err || fd === undefined) {
        this.destroy();
        return;
      }
      try {
        this.#transfer = addon!.send(fd, this.#file.fd, this.#file.offset, this.#file.length, (errno, sent) => this.#ended(errno, sent));
      } catch (startErr) {
        this.destroy(startErr as Error);
      }
    });
  }

  #ended(errno: number, sent: number): void {
    this.#transfer = undefined;
    if (this.destroyed) return;
    if (errno === 0) {
      this.#source.destroy();
      this.push(null);
      return;
    }
    const code = getSystemErrorName(-errno);
    if (CLIENT_GONE.has(code)) {
      // Ended without an error, as a streamed body is when its client leaves: Fastify closes the response.
      this.destroy();
      return;
    }
    const error = new Error(`sendfile failed after ${sent} of ${this.#file.length} bytes: ${code}`) as NodeJS.ErrnoException;
    error.code = code;
    error.errno = errno;
    this.destroy(error);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#transfer !== undefined) addon!.cancel(this.#transfer);
    this.#source.destroy();
    callback(err);
  }
}
