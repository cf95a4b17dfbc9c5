// Files of this machine (known_hosts, the inventory): replaced through an exclusive temp file beside
// them and a rename, so a reader sees the old file or the new, never half; the temp file and then its
// folder are fsynced around the rename, so power lost mid-write leaves the old file or the new, never an
// empty one. A symlink (a dotfiles repository) is written through: the link stays, its target changes.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** The file's text; empty when it cannot be read (not there yet). */
export function readIfAny(file: string) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const MAX_LINKS = 40; // as the kernel's ELOOP

/** The file a path ends at once every symlink of its last component is followed (it may not exist yet). */
export function linkTarget(file: string): string {
  let path = file;
  for (let hop = 0; hop < MAX_LINKS; hop++) {
    let link: string;
    try {
      link = readlinkSync(path);
    } catch {
      return path; // not a symlink, or not there yet
    }
    path = resolve(dirname(path), link);
  }
  throw Object.assign(new Error(`${file}: too many levels of symbolic links`), { code: 'ELOOP' });
}

/** Some systems cannot open or fsync a folder: the rename is then only as durable as they make it. */
function fsyncFolder(dir: string) {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function writeFileAtomic(file: string, content: string, mode: number) {
  const target = linkTarget(file);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      const bytes = Buffer.from(content, 'utf8');
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
      fsyncSync(fd); // the data on disk before the name points at it
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode); // the umask may have narrowed it
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncFolder(dir); // the rename itself on disk
}
