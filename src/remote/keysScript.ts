// `provision keys`' first remote command (gather-ssh.sh), its parser, and the mesh probe.
import { commandLine, remoteScript, type RemoteCommand } from './shell.js';
import { unexpectedAnswer } from './answer.js';
import { ROBOT_KEY_FILE } from './sshFiles.js';
import type { PathFacts, StrictModesFacts } from '../plan/strictModes.js';

export const MANAGED_SSH_FILES = ['authorized_keys', 'known_hosts', 'config'] as const;
export type ManagedSshFile = (typeof MANAGED_SSH_FILES)[number];

/**
 * The three files come back whole (base64): a user's known_hosts grown over years may be large, and
 * failing it would leave that robot unprovisioned, so this read may print more than other commands.
 */
export const SSH_FILES_OUTPUT_LIMIT = 64 * 1024 * 1024;

export function gatherSshCommand(keyComment: string, dryRun: boolean): RemoteCommand {
  const line = remoteScript('gather-ssh', [keyComment, dryRun ? '1' : '0', ROBOT_KEY_FILE, ...MANAGED_SSH_FILES]);
  return { line, readsSudoPassword: false, outputLimit: SSH_FILES_OUTPUT_LIMIT };
}

export interface GatheredSsh {
  actions: string[]; // mkdir, chmod, keygen, pubkey: done (or, in a dry run, needed)
  publicKey: string | null;
  /** Bytes as latin1 (a character a byte), so they are written back byte for byte whatever the encoding (fileBytes). */
  files: Record<ManagedSshFile, { content: string; mode: string | null }>;
  /** What sshd's StrictModes checks, keyed `home`, `.ssh` or the file's name. */
  strict: StrictModesFacts;
}

export function parseStrictModes(lines: readonly string[]): StrictModesFacts {
  const uidLine = lines.find((l) => l.startsWith('uid:'));
  const homeLine = lines.find((l) => l.startsWith('home:'));
  const uid = Number(uidLine?.slice('uid:'.length));
  if (!uidLine || !homeLine || !Number.isInteger(uid))
    throw unexpectedAnswer('reading ~/.ssh', 'a "uid:" and a "home:" line', lines.join('\n'));
  const perms: Record<string, PathFacts> = {};
  for (const line of lines.filter((l) => l.startsWith('perm:'))) {
    const m = /^perm:([^:]+):([0-7]{3,4}):(\d+)$/.exec(line);
    if (!m) throw unexpectedAnswer('reading ~/.ssh', 'perm:PATH:MODE:OWNER', line);
    const path = m[1] as string;
    const key = path === '.' ? 'home' : path.replace(/^\.ssh\/(?=.)/, '');
    perms[key] = { mode: parseInt(m[2] as string, 8), owner: Number(m[3]) };
  }
  return { uid, home: homeLine.slice('home:'.length), perms };
}

export function fileBytes(content: string): Buffer {
  return Buffer.from(content, 'latin1');
}

export function parseGatheredSsh(stdout: string): GatheredSsh {
  const lines = stdout.split('\n');
  const state = lines.find((l) => l.startsWith('state:'));
  if (state === undefined) throw unexpectedAnswer('reading ~/.ssh', 'a "state:" line', stdout);
  const read = (name: string) => {
    const line = lines.find((l) => l.startsWith(name + ':'));
    if (!line) throw unexpectedAnswer('reading ~/.ssh', `a line about ~/.ssh/${name}`, stdout);
    const [, mode, b64] = line.split(':');
    // Never merge into what cannot be read: the user's lines would be lost.
    if (mode === '!')
      throw new Error(
        `~/.ssh/${name} cannot be read or replaced by provision (${line.slice(name.length + 3)}): nothing was written; make it a regular file the login user can read`,
      );
    return mode === '-'
      ? { content: '', mode: null }
      : { content: Buffer.from(b64 ?? '', 'base64').toString('latin1'), mode: mode ?? null };
  };
  const pub = read('id_ed25519.pub');
  const files = Object.fromEntries(MANAGED_SSH_FILES.map((f) => [f, read(f)])) as GatheredSsh['files'];
  const keyLine = pub.content.trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    actions: state.slice('state:'.length).split(/\s+/).filter(Boolean),
    publicKey: keyLine || null,
    files,
    strict: parseStrictModes(lines),
  };
}

/**
 * A robot logs in to another by its Host alias in ~/.ssh/config, no prompt, host key checked.
 * UpdateHostKeys=no: a check must not write (ssh would add the target's other host keys to known_hosts).
 */
export function meshProbeCommand(target: string): string {
  const options = ['BatchMode=yes', 'StrictHostKeyChecking=yes', 'UpdateHostKeys=no', 'ConnectTimeout=5'];
  return commandLine(['ssh', ...options.flatMap((o) => ['-o', o]), target, 'true']);
}

/** ssh's last stderr line (the caller redacts), else its exit code. */
export function probeFailureReason(result: { code: number; stderr: string }): string {
  const last = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  return last ?? `ssh exited with ${result.code} and said nothing`;
}
