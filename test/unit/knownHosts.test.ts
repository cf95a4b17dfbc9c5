// The operator's known_hosts as OpenSSH reads them: @revoked, @cert-authority, hashed lines, the
// user and global file lists of ~/.ssh/config. Hashed lines are checked against the real ssh-keygen.
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KnownHosts,
  fingerprint,
  hashedHost,
  hostKeyVerdict,
  isHashedFile,
  parseKnownHosts,
  recordLines,
} from '../../src/ssh/knownHosts.js';
import { hostKeyProblem } from '../../src/ssh/pool.js';
import { hostSettings, parseSshConfig } from '../../src/ssh/sshConfig.js';

/** A real ed25519 public key blob (a fresh one each call). */
function newKey(dir: string, name: string): { blob: Buffer; line: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  const [type, b64] = readFileSync(`${file}.pub`, 'utf8').split(' ');
  return { blob: Buffer.from(b64!, 'base64'), line: `${type} ${b64}` };
}

const dir = mkdtempSync(join(tmpdir(), 'known-hosts-'));
const ida = newKey(dir, 'ida');
const other = newKey(dir, 'other');
const ca = newKey(dir, 'ca');
const robot = { name: 'Ida', host: '10.0.0.2', port: 22, user: 'ida', identityFiles: [], identitiesOnly: false };

/** A scratch home with the given files (relative paths), and a KnownHosts over it. */
function home(files: Record<string, string>) {
  const h = mkdtempSync(join(tmpdir(), 'kh-home-'));
  for (const [path, text] of Object.entries(files)) {
    execFileSync('mkdir', ['-p', join(h, path, '..')]);
    writeFileSync(join(h, path), text);
  }
  return { h, kh: new KnownHosts(h) };
}

describe('parsing and the verdict', () => {
  it('reads markers, skips comments and blank lines, keeps file:line', () => {
    const text = [
      '# a comment',
      '',
      `@revoked * ${other.line}`,
      `@cert-authority *.fleet ${ca.line}`,
      `Ida,10.0.0.2 ${ida.line}`,
      '@unknown x y z',
    ].join('\n');
    const lines = parseKnownHosts(text, '/f');
    expect(lines.map((l) => [l.marker, l.patterns, l.line])).toEqual([
      ['revoked', ['*'], 3],
      ['cert-authority', ['*.fleet'], 4],
      [null, ['Ida', '10.0.0.2'], 5],
    ]);
  });

  it('a @revoked key is refused even where another line (another file) trusts it', () => {
    const { kh, h } = home({ '.ssh/known_hosts': `Ida ${ida.line}\n`, global: `# fleet-wide\n@revoked * ${ida.line}\n` });
    const files = { globalKnownHostsFiles: [join(h, 'global')] };
    const lines = kh.linesFor('Ida', '10.0.0.2', 22, files);
    expect(hostKeyVerdict(lines, ida.blob)).toMatchObject({ kind: 'revoked', at: { file: join(h, 'global'), line: 2 } });
    const problem = hostKeyProblem({ ...robot, ...files }, lines, ida.blob, kh);
    expect(problem).toContain(`Ida's host key ${fingerprint(ida.blob)} (ssh-ed25519) is marked @revoked at ~/global:2: refused`);
    // Another key of the same host is not touched by that line.
    expect(hostKeyVerdict(lines, other.blob).kind).toBe('changed');
  });

  it('a @revoked line for other hosts does not apply', () => {
    const lines = parseKnownHosts(`@revoked Otto ${ida.line}\nIda ${ida.line}\n`, '/f').filter((l) => l.patterns.includes('Ida'));
    expect(hostKeyVerdict(lines, ida.blob).kind).toBe('known');
  });

  it('@cert-authority lines are never host keys: a host named only by a CA is refused clearly; its key is not "known"', () => {
    const { kh } = home({ '.ssh/known_hosts': `@cert-authority Ida,*.fleet ${ida.line}\n` });
    const lines = kh.linesFor('Ida', '10.0.0.2', 22, { globalKnownHostsFiles: [] });
    expect(hostKeyVerdict(lines, ida.blob)).toMatchObject({ kind: 'ca-only', at: { line: 1 } });
    const problem = hostKeyProblem(robot, lines, ida.blob, kh);
    expect(problem).toContain('Ida is listed only through a CA (@cert-authority at ~/.ssh/known_hosts:1)');
    expect(problem).toContain('cannot check host certificates');
    // With a plain line for it too, the plain line decides.
    const both = parseKnownHosts(`@cert-authority Ida ${ca.line}\nIda ${ida.line}\n`, '/f');
    expect(hostKeyVerdict(both, ida.blob).kind).toBe('known');
    expect(hostKeyVerdict(both, ca.blob).kind).toBe('changed');
  });

  it('a changed key names both fingerprints, the old line, and ssh-keygen -R with -f for a file other than ~/.ssh/known_hosts', () => {
    const { kh } = home({ '.ssh/hosts_a': `\nida ${ida.line}\n` });
    const files = { userKnownHostsFiles: [join(kh.home, '.ssh/hosts_a')], globalKnownHostsFiles: [] };
    const lines = kh.linesFor('Ida', '10.0.0.2', 22, files);
    const problem = hostKeyProblem({ ...robot, ...files }, lines, other.blob, kh);
    expect(problem).toContain(
      `host key of Ida changed: known_hosts has ${fingerprint(ida.blob)}, it now presents ${fingerprint(other.blob)}`,
    );
    expect(problem).toContain('the old key is at ~/.ssh/hosts_a:2');
    expect(problem).toContain('`ssh-keygen -f ~/.ssh/hosts_a -R Ida && ssh-keygen -f ~/.ssh/hosts_a -R 10.0.0.2`');
    const onPort = hostKeyProblem(
      { ...robot, port: 2222 },
      parseKnownHosts(`[Ida]:2222 ${ida.line}`, `${kh.home}/.ssh/known_hosts`),
      other.blob,
      kh,
    );
    expect(onPort).toContain("`ssh-keygen -R '[Ida]:2222' && ssh-keygen -R '[10.0.0.2]:2222'`");
  });

  it('plain patterns match ignoring case, as ssh lowercases both', () => {
    const { kh } = home({ '.ssh/known_hosts': `IDA ${ida.line}\n` });
    expect(kh.linesFor('ida', '10.0.0.9', 22, { globalKnownHostsFiles: [] })).toHaveLength(1);
  });
});

describe('hashed lines', () => {
  it('a file hashed by the real ssh-keygen -H is matched by name (any case) and address', () => {
    const { kh, h } = home({ '.ssh/known_hosts': `Ida,10.0.0.2 ${ida.line}\n[Otto]:2222 ${other.line}\n` });
    execFileSync('ssh-keygen', ['-q', '-H', '-f', join(h, '.ssh/known_hosts')], { stdio: 'ignore' });
    const text = readFileSync(join(h, '.ssh/known_hosts'), 'utf8');
    expect(text).not.toMatch(/Ida|Otto|10\.0\.0\.2/);
    expect(isHashedFile(text)).toBe(true);
    const files = { globalKnownHostsFiles: [] };
    expect(hostKeyVerdict(kh.linesFor('Ida', '10.9.9.9', 22, files), ida.blob).kind).toBe('known');
    expect(hostKeyVerdict(kh.linesFor('nobody', '10.0.0.2', 22, files), ida.blob).kind).toBe('known');
    expect(hostKeyVerdict(kh.linesFor('Otto', '10.0.0.3', 2222, files), other.blob).kind).toBe('known');
    expect(kh.linesFor('Otto', '10.0.0.3', 22, files)).toEqual([]);
  });

  it('a recorded hashed line is |1|salt|HMAC-SHA1(salt, lowercased host), one per name and address, found by the real ssh-keygen -F', () => {
    expect(hashedHost('Ida', Buffer.alloc(20, 1))).toBe(hashedHost('ida', Buffer.alloc(20, 1)));
    const lines = recordLines('Ida', '10.0.0.2', 2222, ida.blob, true);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 AAAA/);
    const file = join(dir, 'hashed');
    writeFileSync(file, lines.join('\n') + '\n');
    for (const host of ['[ida]:2222', '[10.0.0.2]:2222']) {
      const found = spawnSync('ssh-keygen', ['-F', host, '-f', file], { encoding: 'utf8' });
      expect(found.status).toBe(0);
      expect(found.stdout).toContain(ida.line);
    }
    expect(spawnSync('ssh-keygen', ['-F', '[otto]:2222', '-f', file]).status).toBe(1);
    expect(recordLines('Ida', '10.0.0.2', 22, ida.blob, false)).toEqual([`Ida,10.0.0.2 ${ida.line}`]);
  });
});

describe('which files are read and which one records', () => {
  it('the global file is read besides the user file: a host listed only there is known, nothing is recorded', () => {
    const { kh, h } = home({ 'etc/ssh_known_hosts': `10.0.0.2 ${ida.line}\n` });
    const files = { globalKnownHostsFiles: [join(h, 'etc/ssh_known_hosts')] };
    expect(hostKeyVerdict(kh.linesFor('Ida', '10.0.0.2', 22, files), ida.blob).kind).toBe('known');
  });

  it('every UserKnownHostsFile is read; a new key goes into the first, plain by default', () => {
    const { kh, h } = home({ '.ssh/second': `Otto ${other.line}\n` });
    const files = { userKnownHostsFiles: [join(h, '.ssh/first'), join(h, '.ssh/second')], globalKnownHostsFiles: [] };
    expect(hostKeyVerdict(kh.linesFor('Otto', '10.0.0.3', 22, files), other.blob).kind).toBe('known');
    expect(kh.remember('Ida', '10.0.0.2', 22, ida.blob, files)).toEqual({ file: '~/.ssh/first' });
    // Seen by later lookups of this run before it is saved.
    expect(hostKeyVerdict(kh.linesFor('Ida', '10.0.0.2', 22, files), ida.blob).kind).toBe('known');
    kh.save();
    expect(readFileSync(join(h, '.ssh/first'), 'utf8')).toBe(`Ida,10.0.0.2 ${ida.line}\n`);
    expect(statSync(join(h, '.ssh/first')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(h, '.ssh/second'), 'utf8')).toBe(`Otto ${other.line}\n`);
  });

  it('a save that failed, then a key recorded (provision ui reconnects with one KnownHosts): a lookup sees the new key', () => {
    const { kh, h } = home({});
    const file = join(h, '.ssh/known_hosts');
    const files = { userKnownHostsFiles: [file], globalKnownHostsFiles: [] };
    kh.remember('Ida', '10.0.0.2', 22, ida.blob, files);
    expect(hostKeyVerdict(kh.linesFor('Ida', '10.0.0.2', 22, files), ida.blob).kind).toBe('known');
    mkdirSync(join(file, 'in-the-way'), { recursive: true }); // the rename onto a folder fails
    expect([...kh.save().keys()]).toEqual(['~/.ssh/known_hosts']);
    rmSync(file, { recursive: true });
    kh.remember('Otto', '10.0.0.3', 22, other.blob, files);
    // As many additions as before the save: the parsed lines must not be the old ones.
    expect(hostKeyVerdict(kh.linesFor('Otto', '10.0.0.3', 22, files), other.blob).kind).toBe('known');
  });

  it('HashKnownHosts yes records hashed; unset, a file already hashed gets hashed lines; HashKnownHosts no keeps it plain', () => {
    const { kh, h } = home({ '.ssh/known_hosts': `Otto ${other.line}\n` });
    const user = join(h, '.ssh/known_hosts');
    kh.remember('Ida', '10.0.0.2', 22, ida.blob, { hashKnownHosts: true });
    kh.save();
    const text = readFileSync(user, 'utf8');
    expect(text.startsWith(`Otto ${other.line}\n|1|`)).toBe(true);
    expect(text).not.toMatch(/Ida|10\.0\.0\.2/);
    expect(spawnSync('ssh-keygen', ['-F', 'ida', '-f', user]).status).toBe(0);
    expect(spawnSync('ssh-keygen', ['-F', '10.0.0.2', '-f', user]).status).toBe(0);

    const hashed = home({ '.ssh/known_hosts': recordLines('Otto', '10.0.0.3', 22, other.blob, true).join('\n') + '\n' });
    hashed.kh.remember('Ida', '10.0.0.2', 22, ida.blob);
    hashed.kh.save();
    expect(readFileSync(join(hashed.h, '.ssh/known_hosts'), 'utf8')).not.toContain('Ida');
    const plain = home({ '.ssh/known_hosts': recordLines('Otto', '10.0.0.3', 22, other.blob, true).join('\n') + '\n' });
    plain.kh.remember('Ida', '10.0.0.2', 22, ida.blob, { hashKnownHosts: false });
    plain.kh.save();
    expect(readFileSync(join(plain.h, '.ssh/known_hosts'), 'utf8')).toContain(`Ida,10.0.0.2 ${ida.line}`);
  });

  it('UserKnownHostsFile none: nothing read, nothing recorded; /dev/null is read as empty and never replaced', () => {
    const { kh, h } = home({ '.ssh/known_hosts': `Ida ${ida.line}\n` });
    expect(kh.linesFor('Ida', '10.0.0.2', 22, { userKnownHostsFiles: [], globalKnownHostsFiles: [] })).toEqual([]);
    expect(kh.remember('Ida', '10.0.0.2', 22, ida.blob, { userKnownHostsFiles: [] })).toEqual({
      not: 'UserKnownHostsFile none in ~/.ssh/config',
    });
    expect(kh.remember('Ida', '10.0.0.2', 22, ida.blob, { userKnownHostsFiles: ['/dev/null'] })).toEqual({
      not: '/dev/null is not a regular file',
    });
    kh.save();
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(readFileSync(join(h, '.ssh/known_hosts'), 'utf8')).toBe(`Ida ${ida.line}\n`);
  });

  it('a file that cannot be written or read is reported, not thrown: like ssh, the key is accepted unrecorded', () => {
    const { kh, h } = home({ plainfile: 'not a folder\n' });
    // A folder where a file is expected: stat and mkdir both fail (ENOTDIR, EEXIST), also for root.
    const blocked = { userKnownHostsFiles: [join(h, 'plainfile/known_hosts')] };
    expect(kh.remember('Ida', '10.0.0.2', 22, ida.blob, blocked)).toEqual({ not: expect.stringContaining('ENOTDIR') });
    // A link to a regular file in a folder no one can add to, not even root (a read-only dotfiles store).
    const linked = { userKnownHostsFiles: [join(h, 'link')] };
    execFileSync('ln', ['-s', '/proc/version', join(h, 'link')]);
    expect(kh.remember('Ida', '10.0.0.2', 22, ida.blob, linked)).toEqual({ file: '~/link' });
    expect(kh.save()).toEqual(new Map([['~/link', expect.any(String)]]));
    expect(readFileSync(join(h, 'plainfile'), 'utf8')).toBe('not a folder\n');
  });

  it("with no file named, ssh's defaults: ~/.ssh/known_hosts and known_hosts2, then /etc/ssh/ssh_known_hosts and ssh_known_hosts2", () => {
    const { kh, h } = home({ '.ssh/known_hosts2': `Ida ${ida.line}\n` });
    expect(kh.userFiles()).toEqual([join(h, '.ssh/known_hosts'), join(h, '.ssh/known_hosts2')]);
    expect(hostKeyVerdict(kh.linesFor('Ida', '10.0.0.2', 22), ida.blob).kind).toBe('known');
    expect(existsSync(join(h, '.ssh/known_hosts'))).toBe(false);
  });
});

describe('~/.ssh/config: UserKnownHostsFile, GlobalKnownHostsFile, HashKnownHosts', () => {
  const ctx = { localUser: 'op', home: '/home/op' };
  const settings = (text: string, names = ['Ida', '10.0.0.2']) => {
    const config = parseSshConfig(text, '/home/op/.ssh/config');
    return { ...hostSettings(config, names, ctx), warnings: config.warnings };
  };

  it('${VAR} in a file is the environment variable, as ssh reads it (not a file of that literal name)', () => {
    process.env.PROVISION_TEST_KH = '/srv/pins';
    const s = settings('Host *\n  UserKnownHostsFile ${PROVISION_TEST_KH}/known_hosts ${HOME}/kh');
    expect(s.userKnownHostsFiles).toEqual(['/srv/pins/known_hosts', `${process.env.HOME}/kh`]);
    delete process.env.PROVISION_TEST_KH;
  });

  it('a list of files, ~ and %-tokens expanded; the first line that applies wins whole', () => {
    const s = settings(
      [
        'Host Ida',
        '  UserKnownHostsFile ~/.ssh/fleet_hosts "~/with space" /abs/%n_%p',
        '  GlobalKnownHostsFile /etc/fleet_known_hosts',
        '  HashKnownHosts yes',
        'Host *',
        '  UserKnownHostsFile ~/.ssh/other',
        '  HashKnownHosts no',
      ].join('\n'),
    );
    expect(s.userKnownHostsFiles).toEqual(['/home/op/.ssh/fleet_hosts', '/home/op/with space', '/abs/Ida_22']);
    expect(s.globalKnownHostsFiles).toEqual(['/etc/fleet_known_hosts']);
    expect(s.hashKnownHosts).toBe(true);
    expect(s.warnings).toEqual([]);
  });

  it('none is no file at all; none beside other files, or an unknown token, is ignored with a warning', () => {
    expect(settings('UserKnownHostsFile none\nGlobalKnownHostsFile NONE\n')).toMatchObject({
      userKnownHostsFiles: [],
      globalKnownHostsFiles: [],
    });
    const bad = settings('UserKnownHostsFile none ~/.ssh/x\nGlobalKnownHostsFile /etc/%C\nHashKnownHosts maybe\n');
    expect(bad.userKnownHostsFiles).toBeUndefined();
    expect(bad.globalKnownHostsFiles).toBeUndefined();
    expect(bad.hashKnownHosts).toBeUndefined();
    expect(bad.warnings).toEqual([
      '/home/op/.ssh/config:1: UserKnownHostsFile "none ~/.ssh/x": "none" must appear alone; ignored',
      '/home/op/.ssh/config:2: GlobalKnownHostsFile "/etc/%C": "%C" is not supported here; ignored',
      '/home/op/.ssh/config:3: HashKnownHosts "maybe": expected yes or no; ignored',
    ]);
  });

  it('unset: left to the defaults', () => {
    const s = settings('Host Otto\n  UserKnownHostsFile /x\n');
    expect(s.userKnownHostsFiles).toBeUndefined();
    expect(s.hashKnownHosts).toBeUndefined();
  });
});
