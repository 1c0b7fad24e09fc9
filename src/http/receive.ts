/**
 * Large upload bodies read from the socket by the addon's threads (`socket-addon.ts`) instead of by Node.
 *
 * Why: Node hands a request body to JavaScript as one new Buffer per socket read, at most 64 KiB each. At
 * hundreds of MiB/s these allocations dominated a push: V8 counts them as external memory and ran a full
 * garbage collection about every 64 MiB, and with its helper threads that cost more CPU than hashing the
 * bytes. Here the rest of the body is read into two reused 1 MiB buffers, one filling on an addon thread
 * while the registry hashes and copies the other.
 *
 * How: the HTTP server is told to keep the socket paused (its own flag for a connection it must not read,
 * which makes it pause the socket again whenever anything resumes it); the bytes Node had already parsed are
 * taken from the request stream, and the addon reads exactly what remains of Content-Length. Node's HTTP
 * parser never sees those bytes, so the connection cannot carry another request: the response says
 * `Connection: close` and Node closes it once the response is sent. Clients open a new connection for
 * their next request, a small price next to what Node's path costs for the body.
 *
 * It applies to HTTP/1.x bodies with a Content-Length of at least DIRECT_RECEIVE_MIN_BYTES on a plain TCP
 * socket; anything else (TLS, HTTP/2, chunked transfer encoding, small bodies, no addon) is read by Node.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { socketAddon as addon, socketFd } from './socket-addon.js';

/**
 * Bodies at least this long are read by the addon. On this VM Node's path cost about 2.6 ms of CPU per MiB
 * beyond it (copying each piece into a fresh Buffer, the page faults on that fresh memory, and the garbage
 * collections it triggers), against about 0.25 ms for the new connection each such request needs: a 1 MiB
 * push took 11 ms of server CPU through Node and 8.4 ms through the addon.
 */
export const DIRECT_RECEIVE_MIN_BYTES = 256 * 1024;
/** Bytes per read into a buffer: what the registry hashes and the storage driver copies in one go. */
const RECEIVE_BYTES = 1024 * 1024;
/** Buffers kept for the next upload: two per upload in flight, up to four at once. */
const SPARE_BUFFERS = 8;

/** Whether the addon loaded, so that large upload bodies can be read off the main thread. */
export const directReceiveAvailable = addon !== undefined;

/**
 * The body of `request` as chunks, each valid until the next is asked for. Read by the addon when `direct`
 * and the request qualifies (see above); otherwise the request stream itself.
 */
export function requestBody(request: IncomingMessage, response: ServerResponse, direct: boolean): AsyncIterable<Uint8Array> {
  if (!direct || addon === undefined || request.httpVersionMajor !== 1 || request.headers['transfer-encoding'] !== undefined) return request;
  const length = Number(request.headers['content-length']);
  if (!Number.isSafeInteger(length) || length < DIRECT_RECEIVE_MIN_BYTES) return request;
  if (request.complete || request.readableDidRead || socketFd(request.socket) === undefined) return request;
  return receiveDirectly(request, response, length);
}

const spareBuffers: Buffer[] = [];

function takeBuffer(): Buffer {
  return spareBuffers.pop() ?? Buffer.allocUnsafeSlow(RECEIVE_BYTES);
}

function giveBack(buffer: Buffer): void {
  if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(buffer);
}

interface Internals {
  /** The HTTP server's flag: while set, it pauses the socket again whenever it is resumed. */
  _paused?: boolean;
  _handle?: { reading?: boolean } | null;
}

/**
 * Keeps Node from reading the socket: answers a function that checks it still does not, or undefined if
 * this Node's HTTP server does not stop reading as expected (the body is then left to Node).
 */
function holdReads(socket: Socket): (() => void) | undefined {
  const internals = socket as unknown as Internals;
  if (internals._paused === true) return undefined;
  internals._paused = true;
  socket.pause();
  if (internals._handle?.reading !== false) {
    internals._paused = false;
    socket.resume();
    return undefined;
  }
  // Only a response written meanwhile clears the flag (the server resumes a connection whose output
  // drained); none is written while the body is read, but should one be, pause again before any read.
  const rehold = () => {
    internals._paused = true;
    socket.pause();
  };
  socket.on('resume', rehold);
  return () => socket.off('resume', rehold);
}

function aborted(): Error {
  return Object.assign(new Error('aborted: the client closed the connection before sending the whole body'), { code: 'ECONNRESET' });
}

interface Receive {
  id: number;
  /** Settles with the bytes read; rejects on an error, including cancellation. */
  done: Promise<number>;
}

function receive(socket: Socket, buffer: Buffer, length: number): Receive {
  const fd = socketFd(socket);
  if (fd === undefined) throw aborted();
  let id = 0;
  const done = new Promise<number>((resolve, reject) => {
    id = addon!.receive(fd, buffer, 0, length, (errno, moved) => {
      if (errno === 0) return resolve(moved);
      const code = getSystemErrorName(-errno);
      if (code === 'ECANCELED') return reject(aborted());
      reject(Object.assign(new Error(`reading the request body failed: ${code}`), { code, errno }));
    });
  });
  return { id, done };
}

async function* receiveDirectly(request: IncomingMessage, response: ServerResponse, length: number): AsyncGenerator<Uint8Array> {
  const socket = request.socket;
  const release = holdReads(socket);
  if (release === undefined) {
    yield* request;
    return;
  }
  response.setHeader('Connection', 'close');
  let received = 0;
  let pending: Receive | undefined;
  const cancel = () => {
    if (pending) addon!.cancel(pending.id);
  };
  socket.once('close', cancel);
  // One buffer fills while the consumer works on the other. (Reading further ahead did not help: the
  // socket's own buffer already holds several MiB.)
  const buffers = [takeBuffer(), takeBuffer()];
  try {
    // What Node parsed before the hold; request.read() does not resume a held socket.
    for (let chunk: Buffer | null; (chunk = request.read() as Buffer | null) !== null; ) {
      received += chunk.length;
      yield chunk;
    }
    let filling = 0;
    let requested = received;
    const next = (): number => {
      const want = Math.min(length - requested, RECEIVE_BYTES);
      requested += want;
      pending = want > 0 ? receive(socket, buffers[filling]!, want) : undefined;
      return want;
    };
    let wanted = next();
    while (pending !== undefined) {
      const got = await pending.done;
      if (got < wanted) throw aborted();
      received += got;
      const filled = buffers[filling]!;
      filling ^= 1;
      wanted = next();
      yield filled.subarray(0, got);
    }
    if (request.readableLength > 0) throw new Error('the request body was read by Node as well as by the addon');
  } finally {
    socket.off('close', cancel);
    release();
    // The addon may still be writing into a buffer: both are reused only once its read has ended.
    if (pending !== undefined) {
      addon!.cancel(pending.id);
      await pending.done.catch(() => undefined);
    }
    for (const buffer of buffers) giveBack(buffer);
  }
}
