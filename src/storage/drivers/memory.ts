/**
 * A driver that keeps a tree of files in memory, for tests and throw-away registries. Files hold their bytes
 * as the list of chunks they were written in, so appends never copy what is already there. Directories
 * exist while they hold something: removing a directory's last entry removes the directory too.
 *
 * Every operation changes the tree synchronously, so each is atomic with respect to the others.
 */
import { Readable } from 'node:stream';
import type { FileInfo, FileWriter, PutOptions, StorageDriver, WalkDecision } from '../driver.js';
import { InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { walkFallback } from './walk.js';
import { WriterState } from './writer-state.js';

interface MemoryFile {
  kind: 'file';
  chunks: Buffer[];
  size: number;
  modTime: Date;
}

interface MemoryDirectory {
  kind: 'directory';
  children: Map<string, MemoryNode>;
  modTime: Date;
}

type MemoryNode = MemoryFile | MemoryDirectory;

export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory';
  readonly #root: MemoryDirectory = newDirectory();

  async getContent(path: string): Promise<Buffer> {
    const file = this.#fileAt(path);
    return Buffer.concat(file.chunks, file.size);
  }

  async putContent(path: string, content: Uint8Array, options: PutOptions = {}): Promise<void> {
    await options.publishAfter;
    this.#place(path, newFile([Buffer.from(content)]));
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    const file = this.#fileAt(path);
    if (offset > file.size) throw new InvalidOffsetError(path, this.name, offset);
    const end = length === undefined ? file.size : Math.min(file.size, offset + length);
    return Readable.from(slices([...file.chunks], offset, end), { objectMode: false });
  }

  async writer(path: string, options: { append: boolean }): Promise<FileWriter> {
    const existing = this.#find(path);
    let file: MemoryFile;
    if (existing?.kind === 'file') {
      file = existing;
      if (!options.append) truncate(file);
    } else {
      file = newFile([]);
      this.#place(path, file);
    }
    return new MemoryWriter(file, () => {
      if (this.#find(path) === file) this.#remove(path);
    });
  }

  async stat(path: string): Promise<FileInfo> {
    const node = this.#nodeAt(path);
    const isDir = node.kind === 'directory';
    return { path, size: isDir ? 0 : node.size, modTime: node.modTime, isDir };
  }

  async list(path: string): Promise<string[]> {
    const node = this.#nodeAt(path);
    if (node.kind !== 'directory') throw new PathNotFoundError(path, this.name);
    const prefix = path === '/' ? '' : path;
    return [...node.children.keys()].sort().map((name) => `${prefix}/${name}`);
  }

  async move(source: string, destination: string): Promise<void> {
    const node = this.#nodeAt(source);
    if (source === destination) return;
    if (destination.startsWith(`${source}/`)) throw new Error(`cannot move ${source} into itself`);
    this.#place(destination, node);
    this.#remove(source, node);
  }

  async delete(path: string): Promise<void> {
    this.#nodeAt(path);
    this.#remove(path);
  }

  walk(path: string, visit: (info: FileInfo) => WalkDecision | Promise<WalkDecision>): Promise<void> {
    return walkFallback(this, path, visit);
  }

  #find(path: string): MemoryNode | undefined {
    let node: MemoryNode = this.#root;
    for (const name of components(path)) {
      if (node.kind !== 'directory') return undefined;
      const child: MemoryNode | undefined = node.children.get(name);
      if (child === undefined) return undefined;
      node = child;
    }
    return node;
  }

  #nodeAt(path: string): MemoryNode {
    const node = this.#find(path);
    if (node === undefined) throw new PathNotFoundError(path, this.name);
    return node;
  }

  #fileAt(path: string): MemoryFile {
    const node = this.#find(path);
    if (node?.kind !== 'file') throw new PathNotFoundError(path, this.name);
    return node;
  }

  /** Puts `node` at `path`, creating parent directories and replacing a file already there. */
  #place(path: string, node: MemoryNode): void {
    const names = components(path);
    const name = names.pop();
    if (name === undefined) throw new Error('the root is a directory');
    let directory = this.#root;
    for (const part of names) {
      let child = directory.children.get(part);
      if (child === undefined) {
        child = newDirectory();
        setChild(directory, part, child);
      }
      if (child.kind !== 'directory') throw new Error(`not a directory: ${part}`);
      directory = child;
    }
    if (directory.children.get(name)?.kind === 'directory') throw new Error('is a directory');
    setChild(directory, name, node);
  }

  /**
   * Removes what is at `path` (only if it is still `expected`, when given) and then every ancestor left empty.
   * The root itself is emptied, never removed.
   */
  #remove(path: string, expected?: MemoryNode): void {
    const names = components(path);
    if (names.length === 0) {
      this.#root.children.clear();
      return;
    }
    const chain: MemoryDirectory[] = [this.#root];
    for (const name of names.slice(0, -1)) {
      const child = chain[chain.length - 1]!.children.get(name);
      if (child?.kind !== 'directory') return;
      chain.push(child);
    }
    const parent = chain[chain.length - 1]!;
    const name = names[names.length - 1]!;
    if (expected !== undefined && parent.children.get(name) !== expected) return;
    deleteChild(parent, name);
    for (let depth = chain.length - 1; depth > 0 && chain[depth]!.children.size === 0; depth--) {
      deleteChild(chain[depth - 1]!, names[depth - 1]!);
    }
  }
}

class MemoryWriter implements FileWriter {
  readonly #file: MemoryFile;
  readonly #removeFile: () => void;
  readonly #state = new WriterState();

  constructor(file: MemoryFile, removeFile: () => void) {
    this.#file = file;
    this.#removeFile = removeFile;
  }

  get size(): number {
    return this.#file.size;
  }

  async append(source: AsyncIterable<Uint8Array>): Promise<number> {
    this.#state.beginAppend();
    let appended = 0;
    try {
      for await (const chunk of source) {
        if (chunk.byteLength === 0) continue;
        // Copied: the producer may reuse its buffer once it has been consumed.
        this.#file.chunks.push(Buffer.from(chunk));
        this.#file.size += chunk.byteLength;
        this.#file.modTime = new Date();
        appended += chunk.byteLength;
      }
      return appended;
    } finally {
      this.#state.endAppend();
    }
  }

  async commit(): Promise<void> {
    this.#state.finish();
  }

  async close(): Promise<void> {
    this.#state.finish();
  }

  async cancel(): Promise<void> {
    if (this.#state.beginCancel()) this.#removeFile();
  }
}

function* slices(chunks: Buffer[], start: number, end: number): Generator<Buffer> {
  let chunkStart = 0;
  for (const chunk of chunks) {
    const chunkEnd = chunkStart + chunk.byteLength;
    if (chunkEnd > start && chunkStart < end) {
      yield chunk.subarray(Math.max(0, start - chunkStart), Math.min(chunk.byteLength, end - chunkStart));
    }
    if (chunkEnd >= end) return;
    chunkStart = chunkEnd;
  }
}

function components(path: string): string[] {
  return path.split('/').filter((name) => name !== '');
}

function newFile(chunks: Buffer[]): MemoryFile {
  const size = chunks.reduce((total, chunk) => total + chunk.byteLength, 0);
  return { kind: 'file', chunks, size, modTime: new Date() };
}

function newDirectory(): MemoryDirectory {
  return { kind: 'directory', children: new Map(), modTime: new Date() };
}

function truncate(file: MemoryFile): void {
  file.chunks = [];
  file.size = 0;
  file.modTime = new Date();
}

function setChild(directory: MemoryDirectory, name: string, node: MemoryNode): void {
  directory.children.set(name, node);
  directory.modTime = new Date();
}

function deleteChild(directory: MemoryDirectory, name: string): void {
  directory.children.delete(name);
  directory.modTime = new Date();
}
