/**
 * The in-tree addon that moves blob bytes between a TCP socket and the process on threads of its own
 * (`native/socket.c`, built by `npm install`): sendfile(2) for blob bodies (`sendfile.ts`) and socket reads
 * into reused buffers for large upload bodies (`receive.ts`); it also binds the listening sockets of worker
 * mode with SO_REUSEPORT. Linux only; undefined when it did not build.
 */
import { lookup } from 'node:dns/promises';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Called once per transfer: `errno` 0 or an errno value (ECANCELED after `cancel`), and the bytes moved. */
export type TransferDone = (errno: number, moved: number) => void;

export interface SocketAddon {
  send(socketFd: number, fileFd: number, offset: number, length: number, done: TransferDone): number;
  receive(socketFd: number, buffer: Buffer, offset: number, length: number, done: TransferDone): number;
  cancel(id: number): void;
  bindShared(address: string, port: number, exclusive: boolean): number;
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

/**
 * A TCP socket bound to `host:port` with SO_REUSEPORT, for `listen({ fd })`: every process of a server binds
 * its own and the kernel spreads new connections evenly over them. `exclusive` (the first process) fails
 * with EADDRINUSE if anything is bound there already, so two servers never share a port by accident. An
 * empty-host `::` falls back to `0.0.0.0` without IPv6, as Node's own listen does.
 */
export async function bindSharedPort(host: string, port: number, exclusive: boolean): Promise<number> {
  const { address } = await lookup(host);
  try {
    return socketAddon!.bindShared(address, port, exclusive);
  } catch (err) {
    const errno = (err as { errno?: number }).errno ?? 0;
    if (address === '::' && getSystemErrorName(-errno) === 'EAFNOSUPPORT') return bindSharedPort('0.0.0.0', port, exclusive);
    const code = getSystemErrorName(-errno);
    throw Object.assign(new Error(`bind ${code} ${address}:${port}`), { code, errno });
  }
}
