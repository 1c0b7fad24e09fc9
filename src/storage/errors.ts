/** Errors every storage driver throws, so the layers above can tell "absent" from "broken". */

export class StorageError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly driver: string,
  ) {
    super(`${driver}: ${message}: ${path}`);
    this.name = new.target.name;
  }
}

export class PathNotFoundError extends StorageError {
  constructor(path: string, driver: string) {
    super('path not found', path, driver);
  }
}

/** A path outside the driver's grammar: relative, containing `..`, empty components, or odd characters. */
export class InvalidPathError extends StorageError {
  constructor(path: string, driver: string) {
    super('invalid path', path, driver);
  }
}

export class InvalidOffsetError extends StorageError {
  constructor(
    path: string,
    driver: string,
    readonly offset: number,
  ) {
    super(`invalid offset ${offset}`, path, driver);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof PathNotFoundError;
}
