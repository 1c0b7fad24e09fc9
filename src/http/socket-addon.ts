/**
 * The in-tree addon that moves blob bytes between a TCP socket and the process on threads of its own
 * (`native/socket.c`, built by `npm install`): sendfile(2) for blob bodies (`sendfile.ts`) and socket reads
 * into reused buffers for large upload bodies (`receive.ts`). Linux only; undefined when it did not build.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** Called once per transfer: `errno` 0 or an errno value (ECANCELED after `cancel`), and the bytes moved. */
export type TransferDone = (errno: number, moved: number) => void;

export interface SocketAddon {
  send(socketFd: number, fileFd: number, offset: number, length: number, done: TransferDone): number;
  receive(socketFd: number, buffer: Buffer, offset: number, length: number, done: TransferDone): number;
  cancel(id: number): void;
}

function load(): SocketAddon | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // From dist/src/http/ to the root's build/ (node-gyp's output).
    return createRequire(import.meta.url)('../../../build/Release/berth_socket.node') as SocketAddon;
  } catch {
    return undefined;
  }
}

export const socketAddon = load();

/** The descriptor of a plain TCP (or Unix) socket, from Node's handle; undefined for TLS or a closed socket. */
export function socketFd(socket: Socket | null): number | undefined {
  if (socket === null || 'encrypted' in socket || socket.destroyed) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
