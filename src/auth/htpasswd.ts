/**
 * Apache htpasswd files with bcrypt entries (`user:$2y$...`), as `auth.htpasswd` reads them in Distribution:
 * blank lines and `#` comments are skipped; any other hash kind (MD5 `$apr1$`, SHA `{SHA}`, crypt) is
 * refused at load time with its line number, because accepting weak hashes silently is worse than not
 * starting.
 *
 * The file is re-read when its modification time or size changes (checked at most once a second), so
 * `berth htpasswd add` takes effect without a restart; a file that turns unreadable or invalid keeps the
 * last good entries and reports the problem once.
 *
 * Passwords never leave this module: they are compared by bcrypt (whose final comparison is constant-time),
 * a missing user costs the same bcrypt round as a wrong password, and successful checks are remembered
 * for a while under a keyed hash of the credentials so that a client sending Basic auth on every request
 * does not pay a bcrypt round each time.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import bcrypt from 'bcryptjs';

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export class HtpasswdError extends Error {}

/** Parses the file's text into user → bcrypt hash; throws HtpasswdError naming the file and line. */
export function parseHtpasswd(text: string, file: string): Map<string, string> {
  const entries = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(`${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash)) {
      throw new HtpasswdError(`${where}: user ${JSON.stringify(user)} has a non-bcrypt password hash; only bcrypt ($2y$, $2a$, $2b$) is accepted (create entries with \`berth htpasswd add\` or \`htpasswd -B\`)`);
    }
    entries.set(user, hash);
  });
  return entries;
}

/** A valid user name for the file: no colon (the separator) and nothing that breaks a line. */
export function validateUserName(user: string): void {
  if (user === '' || /[:\r\n]/.test(user)) throw new HtpasswdError(`invalid user name ${JSON.stringify(user)}: must be non-empty, without ':' or line breaks`);
}

/** A `$2y$` bcrypt hash (the prefix Apache's `htpasswd -B` writes) of the password. */
export async function hashPassword(password: string, cost = 10): Promise<string> {
  const hash = await bcrypt.hash(password, cost);
  return `$2y$${hash.slice(4)}`;
}

/** Sets or removes one user in the file's text, keeping every other line as it was. */
export function editHtpasswd(text: string, user: string, hash: string | undefined): { text: string; found: boolean } {
  let found = false;
  const lines = text.split(/\r?\n/).filter((line) => line !== '');
  const out: string[] = [];
  for (const line of lines) {
    if (line.slice(0, line.indexOf(':')) === user && !line.startsWith('#')) {
      found = true;
      if (hash !== undefined) out.push(`${user}:${hash}`);
    } else {
      out.push(line);
    }
  }
  if (!found && hash !== undefined) out.push(`${user}:${hash}`);
  return { text: out.length > 0 ? `${out.join('\n')}\n` : '', found };
}

export interface HtpasswdOptions {
  /** Called when a changed file cannot be used; the previous entries stay in force. */
  onReloadError?: (err: Error) => void;
  /** How long a successful check is remembered. */
  cacheMs?: number;
  now?: () => number;
}

// A fixed hash to spend a bcrypt round on when the user does not exist.
const DUMMY_HASH = '$2y$10$L6iKnfu7stPp6e5E4HT/aOWe3e9L11hjKsvs/BpqX0MwTzzOwFUiK';

export class HtpasswdFile {
  private entries: Map<string, string>;
  private signature: string;
  private checkedAt = 0;
  private reportedSignature?: string;
  private readonly verified = new Map<string, { hash: string; until: number }>();
  private readonly cacheKey = randomBytes(32);
  private readonly now: () => number;

  /** Loads the file now; throws HtpasswdError if it is missing or invalid. */
  constructor(
    readonly path: string,
    private readonly options: HtpasswdOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    try {
      this.signature = this.stat();
      this.entries = parseHtpasswd(readFileSync(path, 'utf8'), path);
    } catch (err) {
      if (err instanceof HtpasswdError) throw err;
      throw new HtpasswdError(`cannot read htpasswd file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private stat(): string {
    const stats = statSync(this.path);
    return `${stats.mtimeMs}:${stats.size}:${stats.ino}`;
  }

  private refresh(): void {
    const now = this.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    try {
      const signature = this.stat();
      if (signature === this.signature) return;
      this.entries = parseHtpasswd(readFileSync(this.path, 'utf8'), this.path);
      this.signature = signature;
      this.verified.clear();
    } catch (err) {
      const signature = (() => {
        try {
          return this.stat();
        } catch {
          return 'missing';
        }
      })();
      if (signature !== this.reportedSignature) {
        this.reportedSignature = signature;
        this.options.onReloadError?.(err as Error);
      }
    }
  }

  has(user: string): boolean {
    this.refresh();
    return this.entries.has(user);
  }

  /** Whether the password is the user's. Unknown users cost the same bcrypt round as known ones. */
  async verify(user: string, password: string): Promise<boolean> {
    this.refresh();
    const hash = this.entries.get(user);
    const key = createHmac('sha256', this.cacheKey).update(user).update('\0').update(password).digest('base64');
    const remembered = this.verified.get(key);
    if (hash !== undefined && remembered && remembered.hash === hash && remembered.until > this.now()) return true;
    const ok = await bcrypt.compare(password, hash ?? DUMMY_HASH);
    if (!ok || hash === undefined) return false;
    if (this.verified.size > 1000) this.verified.clear();
    this.verified.set(key, { hash, until: this.now() + (this.options.cacheMs ?? 5 * 60_000) });
    return true;
  }
}
