// The operator's ~/.ssh/known_hosts, read as OpenSSH reads it: plain and hashed (|1|salt|hash)
// host patterns, name and address, [host]:port for ports other than 22.
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
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

/** A plain (case-sensitive) or hashed pattern. */
function patternMatches(pattern: string, token: string): boolean {
  if (!pattern.startsWith('|1|')) return globRegExp(pattern).test(token);
  const [, , salt, hash] = pattern.split('|');
  return !!salt && !!hash && createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64') === hash;
}

export class KnownHosts {
  private lines: string[];
  private added: string[] = [];
  constructor(readonly file: string) {
    this.lines = readIfAny(file).split('\n');
  }

  /** Every key recorded for the robot, by name or address. */
  lookup(name: string, ip: string, port: number) {
    const tokens = hostTokens(name, ip, port);
    return [...this.lines, ...this.added].flatMap((line) => {
      const [hosts = '', type, b64] = line.trim().split(/\s+/);
      // A comment, or @revoked / @cert-authority (not used for robots).
      if (/^[#@]/.test(hosts) || !type || !b64 || !patternListMatches(hosts.split(','), tokens, patternMatches)) return [];
      return [{ type, blob: Buffer.from(b64, 'base64') }];
    });
  }

  /** Record a first-seen key, under name and address, for save(). */
  remember(name: string, ip: string, port: number, blob: Buffer): void {
    this.added.push(`${knownHostsNames(name, ip, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}`);
  }

  /** Append the newly recorded keys (atomic rename). */
  save(): void {
    if (!this.added.length) return;
    const current = readIfAny(this.file);
    const text = current + (current && !current.endsWith('\n') ? '\n' : '') + this.added.join('\n') + '\n';
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, text, 0o600);
    this.lines = text.split('\n');
    this.added = [];
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
