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

/** `inParts`: the managed files as the user's lines and their block's sha256 (parseGatheredParts), not whole. */
export function gatherSshCommand(keyComment: string, dryRun: boolean, inParts = false): RemoteCommand {
  const line = remoteScript('gather-ssh', [keyComment, dryRun ? '1' : '0', inParts ? '1' : '0', ROBOT_KEY_FILE, ...MANAGED_SSH_FILES]);
  return { line, readsSudoPassword: false, outputLimit: SSH_FILES_OUTPUT_LIMIT };
}

export interface GatheredSsh extends GatheredFacts {
  /** Bytes as latin1 (a character a byte), so they are written back byte for byte whatever the encoding (fileBytes). */
  files: Record<ManagedSshFile, { content: string; mode: string | null }>;
}

/** A managed file in parts: the user's bytes before and after provision's block, and the sha256 of the block's bytes. */
export interface SshFileParts {
  mode: string | null;
  before: string;
  /** null: no block (the whole file is in `before`). */
  block: string | null;
  after: string;
}

export interface GatheredParts extends GatheredFacts {
  files: Record<ManagedSshFile, SshFileParts>;
}

interface GatheredFacts {
  actions: string[]; // mkdir, chmod, keygen, pubkey: done (or, in a dry run, needed)
  publicKey: string | null;
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
  const { facts, read } = parseGather(stdout);
  const files = Object.fromEntries(
    MANAGED_SSH_FILES.map((f) => {
      const { mode, fields } = read(f);
      return [f, { content: latin1(fields[0]), mode }];
    }),
  ) as GatheredSsh['files'];
  return { ...facts, files };
}

/** gather-ssh.sh's answer in parts (gatherSshCommand's inParts). */
export function parseGatheredParts(stdout: string): GatheredParts {
  const { facts, read } = parseGather(stdout);
  const files = Object.fromEntries(
    MANAGED_SSH_FILES.map((f) => {
      const { mode, fields } = read(f);
      if (mode === null) return [f, { mode, before: '', block: null, after: '' }];
      const [before, block, after] = fields;
      if (block === undefined || !(block === '-' || /^[0-9a-f]{64}$/.test(block)))
        throw unexpectedAnswer('reading ~/.ssh', `${f}:MODE:BASE64:SHA256:BASE64`, `${f}:${mode}:${fields.join(':')}`);
      return [f, { mode, before: latin1(before), block: block === '-' ? null : block, after: latin1(after) }];
    }),
  ) as GatheredParts['files'];
  return { ...facts, files };
}

const latin1 = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('latin1');

function parseGather(stdout: string) {
  const lines = stdout.split('\n');
  const state = lines.find((l) => l.startsWith('state:'));
  if (state === undefined) throw unexpectedAnswer('reading ~/.ssh', 'a "state:" line', stdout);
  const read = (name: string) => {
    const line = lines.find((l) => l.startsWith(name + ':'));
    if (!line) throw unexpectedAnswer('reading ~/.ssh', `a line about ~/.ssh/${name}`, stdout);
    const [, mode, ...fields] = line.split(':');
    // Never merge into what cannot be read: the user's lines would be lost.
    if (mode === '!')
      throw new Error(
        `~/.ssh/${name} cannot be read or replaced by provision (${line.slice(name.length + 3)}): nothing was written; make it a regular file the login user can read`,
      );
    return mode === '-' ? { mode: null, fields: [] } : { mode: mode ?? null, fields };
  };
  const keyLine = latin1(read('id_ed25519.pub').fields[0]).trim().split(/\s+/).slice(0, 2).join(' ');
  const facts: GatheredFacts = {
    actions: state.slice('state:'.length).split(/\s+/).filter(Boolean),
    publicKey: keyLine || null,
    strict: parseStrictModes(lines),
  };
  return { facts, read };
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
