/**
 * `berth htpasswd add|delete FILE USER`: manages the bcrypt htpasswd file that `auth.htpasswd` and the
 * token service read. The password is prompted for (twice, not echoed) on a terminal, or read from stdin
 * (one line) otherwise, so that it never appears in argv or shell history. The file is replaced atomically
 * and a running Berth picks the change up on its own.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { editHtpasswd, hashPassword, parseHtpasswd, validateUserName } from '../auth/htpasswd.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return resolve(value);
        }
        if (char === '\u0003') {
          stdin.setRawMode(false);
          return reject(new Error('interrupted'));
        }
        if (char === '\u007f') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}

async function readPassword(user: string): Promise<string> {
  if (!process.stdin.isTTY) return readStdin();
  const first = await promptHidden(`New password for ${user}: `);
  const second = await promptHidden('Repeat password: ');
  if (first !== second) throw new Error('the passwords do not match');
  return first;
}

function readExisting(file: string): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  parseHtpasswd(text, file);
  return text;
}

function writeAtomically(file: string, text: string): void {
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o600;
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, text, { mode });
  chmodSync(temp, mode);
  renameSync(temp, file);
}

export async function htpasswdAdd(file: string, user: string): Promise<void> {
  validateUserName(user);
  const existing = readExisting(file);
  const password = await readPassword(user);
  if (password === '') throw new Error('empty password refused');
  const { text, found } = editHtpasswd(existing, user, await hashPassword(password));
  writeAtomically(file, text);
  process.stderr.write(`${found ? 'updated' : 'added'} ${user} in ${file}\n`);
}

export function htpasswdDelete(file: string, user: string): void {
  validateUserName(user);
  const { text, found } = editHtpasswd(readExisting(file), user, undefined);
  if (!found) throw new Error(`no user ${user} in ${file}`);
  writeAtomically(file, text);
  process.stderr.write(`deleted ${user} from ${file}\n`);
}
