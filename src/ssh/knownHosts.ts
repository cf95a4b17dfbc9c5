// The operator's known_hosts files, read as OpenSSH reads them (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
// the UserKnownHostsFile list, then the GlobalKnownHostsFile list; plain and hashed (|1|salt|hash) host
// patterns, name and address, [host]:port for ports other than 22; @revoked keys refused even where
// another line trusts them; @cert-authority lines never taken for host keys.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { knownHostsNames } from '../remote/sshFiles.js';
import { readIfAny, writeFileAtomic } from '../localFile.js';
import { globRegExp, patternListMatches } from './sshConfig.js';

/** "SHA256:…" as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

function hostTokens(name: string, ip: string, port: number): string[] {
  return [name, ip].map((host) => (port === 22 ? host : `[${host}]:${port}`));
}

const hmac = (salt: Buffer, token: string) => createHmac('sha1', salt).update(token).digest('base64');

/**
 * A plain or hashed pattern. Plain ones match ignoring case (ssh lowercases both). ssh hashes the
 * lowercased name; a hash of the name as written (ssh-keygen -H keeps case in older files) matches too.
 */
function patternMatches(pattern: string, token: string): boolean {
  if (!pattern.startsWith('|1|')) return globRegExp(pattern, 'i').test(token);
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  const key = Buffer.from(salt, 'base64');
  return hmac(key, token.toLowerCase()) === hash || hmac(key, token) === hash;
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`, as ssh writes with HashKnownHosts yes. */
export function hashedHost(token: string, salt: Buffer = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${hmac(salt, token.toLowerCase())}`;
}

export interface KnownHostLine {
  marker: 'revoked' | 'cert-authority' | null;
  patterns: string[];
  type: string;
  blob: Buffer;
  file: string;
  line: number;
}

/** The key lines of one file (comments, blank and unparsable lines skipped), each with its file:line. */
export function parseKnownHosts(text: string, file: string): KnownHostLine[] {
  return text.split('\n').flatMap((raw, i) => {
    const words = raw.trim().split(/\s+/);
    const marker = words[0] === '@revoked' ? 'revoked' : words[0] === '@cert-authority' ? 'cert-authority' : null;
    if (marker) words.shift();
    const [hosts = '', type, b64] = words;
    // A comment, an unknown @marker (ssh skips the line too), or a line without a key.
    if (/^[#@]/.test(hosts) || !hosts || !type || !b64) return [];
    return [{ marker, patterns: hosts.split(','), type, blob: Buffer.from(b64, 'base64'), file, line: i + 1 }];
  });
}

/** Whether a file's existing host lines are all hashed (a file the operator or ssh hashed). */
export function isHashedFile(text: string): boolean {
  const lines = parseKnownHosts(text, '').filter((l) => !l.marker);
  return lines.length > 0 && lines.every((l) => l.patterns.every((p) => p.startsWith('|1|')));
}

/** What the lines that name this host say about the key it presents, as ssh's check_key_in_hostkeys decides. */
export type HostKeyVerdict =
  | { kind: 'known'; at: KnownHostLine }
  | { kind: 'new' }
  | { kind: 'changed'; expected: KnownHostLine }
  | { kind: 'revoked'; at: KnownHostLine }
  /** Only @cert-authority lines name the host: its certificate cannot be checked here (ssh2 negotiates plain keys only). */
  | { kind: 'ca-only'; at: KnownHostLine };

export function hostKeyVerdict(lines: readonly KnownHostLine[], key: Buffer): HostKeyVerdict {
  const revoked = lines.find((l) => l.marker === 'revoked' && l.blob.equals(key));
  if (revoked) return { kind: 'revoked', at: revoked };
  const plain = lines.filter((l) => !l.marker);
  const same = plain.find((l) => l.blob.equals(key));
  if (same) return { kind: 'known', at: same };
  if (plain.length) return { kind: 'changed', expected: plain.find((l) => l.type === keyTypeOf(key)) ?? plain[0]! };
  const ca = lines.find((l) => l.marker === 'cert-authority');
  return ca ? { kind: 'ca-only', at: ca } : { kind: 'new' };
}

/** The lines ssh would write for a first-seen key: one plain line for name and address, or a hashed line each. */
export function recordLines(name: string, ip: string, port: number, blob: Buffer, hashed: boolean): string[] {
  const key = `${keyTypeOf(blob)} ${blob.toString('base64')}`;
  if (!hashed) return [`${knownHostsNames(name, ip, port)} ${key}`];
  return hostTokens(name, ip, port).map((token) => `${hashedHost(token)} ${key}`);
}

/** Which files an endpoint's keys are read from and recorded to (from the operator's ~/.ssh/config). */
export interface KnownHostsFiles {
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hashKnownHosts?: boolean;
}

/** OpenSSH's defaults when ~/.ssh/config names no file. */
const defaultUserFiles = (home: string) => [`${home}/.ssh/known_hosts`, `${home}/.ssh/known_hosts2`];
const DEFAULT_GLOBAL_FILES = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

export class KnownHosts {
  /** Each file's text as read, with this run's additions appended (so a later lookup sees them). */
  private texts = new Map<string, string>();
  private added = new Map<string, string[]>();
  /** Each file's parsed lines, until its text changes (remember, save): parsed once, not once per robot looked up. */
  private parsed = new Map<string, KnownHostLine[]>();
  constructor(readonly home: string) {}

  /** A path as the operator would write it: the home as ~. */
  shown(file: string): string {
    return file === this.home || file.startsWith(`${this.home}/`) ? `~${file.slice(this.home.length)}` : file;
  }

  userFiles(files: KnownHostsFiles = {}): string[] {
    return files.userKnownHostsFiles ?? defaultUserFiles(this.home);
  }

  private text(file: string): string {
    let text = this.texts.get(file);
    if (text === undefined) this.texts.set(file, (text = readIfAny(file)));
    const added = this.added.get(file) ?? [];
    return added.length ? `${text}${text && !text.endsWith('\n') ? '\n' : ''}${added.join('\n')}\n` : text;
  }

  /** Every line of the user files, then the global ones, that names the robot (by name or address). */
  linesFor(name: string, ip: string, port: number, files: KnownHostsFiles = {}): KnownHostLine[] {
    const tokens = hostTokens(name, ip, port);
    const all = [...this.userFiles(files), ...(files.globalKnownHostsFiles ?? DEFAULT_GLOBAL_FILES)];
    return [...new Set(all)].flatMap((file) => this.lines(file).filter((l) => patternListMatches(l.patterns, tokens, patternMatches)));
  }

  private lines(file: string): KnownHostLine[] {
    let lines = this.parsed.get(file);
    if (!lines) this.parsed.set(file, (lines = parseKnownHosts(this.text(file), file)));
    return lines;
  }

  /**
   * Record a first-seen key into the first user file, hashed if HashKnownHosts says so (or, unset, if
   * that file is hashed already), for save(). The file it goes to, or why it does not.
   */
  remember(name: string, ip: string, port: number, blob: Buffer, files: KnownHostsFiles = {}): { file: string } | { not: string } {
    const file = this.userFiles(files)[0];
    if (!file) return { not: 'UserKnownHostsFile none in ~/.ssh/config' };
    // /dev/null and the like: ssh appends there harmlessly; a rename would replace the device.
    let kind;
    try {
      kind = statSync(file, { throwIfNoEntry: false });
    } catch (err) {
      return { not: `${this.shown(file)}: ${(err as Error).message}` }; // ssh too goes on when it cannot record
    }
    if (kind && !kind.isFile()) return { not: `${this.shown(file)} is not a regular file` };
    const hashed = files.hashKnownHosts ?? isHashedFile(this.text(file));
    this.added.set(file, [...(this.added.get(file) ?? []), ...recordLines(name, ip, port, blob, hashed)]);
    this.parsed.delete(file);
    return { file: this.shown(file) };
  }

  /**
   * Append the newly recorded keys to each file (atomic rename). A file that cannot be written (a
   * read-only folder, a link into one) is returned with why, as shown(): like ssh, the run goes on.
   */
  save(): Map<string, string> {
    const unsaved = new Map<string, string>();
    for (const [file, lines] of this.added) {
      if (!lines.length) continue;
      // Saved or not, the additions are dropped below: a count of them cannot tell the texts apart.
      this.parsed.delete(file);
      const current = readIfAny(file);
      const text = current + (current && !current.endsWith('\n') ? '\n' : '') + lines.join('\n') + '\n';
      try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        writeFileAtomic(file, text, 0o600);
        this.texts.set(file, text);
      } catch (err) {
        unsaved.set(this.shown(file), (err as Error).message);
      }
    }
    this.added.clear();
    return unsaved;
  }
}

/**
 * known_hosts without the robot's lines (by name or address, plain or hashed), as `ssh-keygen -R`
 * removes them. Wildcard patterns and marker lines stay: they are about other hosts too.
 */
export function withoutHost(text: string, name: string, ip: string, port: number): { text: string; removed: number } {
  const tokens = hostTokens(name, ip, port);
  const lines = text.split('\n');
  const kept = lines.filter((line) => {
    const hosts = line.trim().split(/\s+/)[0] ?? '';
    return !hosts || /^[#@]/.test(hosts) || !hosts.split(',').some((p) => !/[*?!]/.test(p) && tokens.some((t) => patternMatches(p, t)));
  });
  return { text: kept.join('\n'), removed: lines.length - kept.length };
}

/** Remove the robot's lines from the known_hosts file; how many there were. */
export function forgetHost(file: string, name: string, ip: string, port: number, dryRun: boolean): number {
  const { text, removed } = withoutHost(readIfAny(file), name, ip, port);
  if (removed && !dryRun) writeFileAtomic(file, text, 0o600);
  return removed;
}
