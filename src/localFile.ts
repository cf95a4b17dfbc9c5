// Files of this machine (known_hosts, the inventory): replaced through an exclusive temp file beside
// them and a rename, so a reader sees the old file or the new, never half.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The file's text; empty when it cannot be read (not there yet). */
export function readIfAny(file: string) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function writeFileAtomic(file: string, content: string, mode: number) {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, content, { mode, flag: 'wx' });
    chmodSync(tmp, mode); // the umask may have narrowed it
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
