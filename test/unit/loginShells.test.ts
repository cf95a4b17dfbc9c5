// Commands as sshd runs them: through the user's login shell (`$SHELL -c LINE`), which may print
// greetings and may not be a POSIX shell. Real bash, zsh, fish and tcsh run here (scripts/setup.sh
// installs them), with start-up files that talk.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forAnyLoginShell, scriptWithArgs, splitAtMark } from '../../src/remote/shell.js';
import { parseWritten, writeFileCommand, writeFilesCommand, writeFilesPayload, type FileToWrite } from '../../src/remote/files.js';
import { findTalkersCommand, parseTalkers, talkativeShellNote } from '../../src/remote/loginShell.js';
import { unexpectedAnswer } from '../../src/remote/answer.js';
import { withManagedBlock, splitManagedBlock, BLOCK_BEGIN, BLOCK_END } from '../../src/remote/managedBlock.js';

const home = mkdtempSync(join(tmpdir(), 'provision-shells-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
mkdirSync(join(home, '.config', 'fish'), { recursive: true });
writeFileSync(join(home, '.bashrc'), 'echo "Welcome to $(hostname), ROS_DISTRO=humble"\n');
writeFileSync(join(home, '.zshenv'), 'print zsh says hello\n');
writeFileSync(join(home, '.config', 'fish', 'config.fish'), 'echo fish says hello; echo to stderr >&2\n');
writeFileSync(join(home, '.tcshrc'), 'echo tcsh says hello\n');

/** As sshd does it: the login shell with -c and the line; SSH_CLIENT makes bash read ~/.bashrc. */
function viaLoginShell(shell: string, line: string, input = '') {
  const r = spawnSync(shell, ['-c', forAnyLoginShell(line)], {
    input,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: home, SSH_CLIENT: '10.88.0.1 4000 22' },
  });
  const out = splitAtMark(r.stdout);
  const err = splitAtMark(r.stderr);
  return { code: r.status, out, err };
}

const SHELLS = ['sh', 'bash', 'zsh', 'fish', 'tcsh'];

describe('every command runs under /bin/sh whatever the login shell', () => {
  const hostile = ["a b'c", '$(id) `id` !! \\n %s', 'new\nline', '*'];
  const script = scriptWithArgs(`printf '[%s]\\n' "$@"; echo 'back\\slash'; read -r x; echo "stdin=$x"; echo err >&2; exit 3`, hostile);

  it.each(SHELLS)('%s: values, backslashes, stdin and the exit code arrive intact; the greeting is set aside', (shell) => {
    const r = viaLoginShell(shell, script, 'from stdin\n');
    expect(r.code).toBe(3);
    expect(r.out.marked).toBe(true);
    expect(r.out.output).toBe(`${hostile.map((h) => `[${h}]`).join('\n')}\nback\\slash\nstdin=from stdin\n`);
    expect(r.err.output).toBe('err\n');
    if (shell !== 'sh') expect(r.out.before + r.err.before).toMatch(/Welcome to|says hello/);
  });

  it('the line is one single-quoted word without characters that any of these shells reads inside quotes', () => {
    const line = forAnyLoginShell(script);
    const quoted = line.slice(line.indexOf("'") + 1, line.lastIndexOf("'"));
    expect(quoted).not.toMatch(/['\\!\n]/);
  });

  it('a login shell that cannot run it leaves no mark: provision knows the command never ran', () => {
    const r = spawnSync('sh', ['-c', 'echo "This account is currently not available."; exit 1'], { encoding: 'utf8' });
    expect(splitAtMark(r.stdout).marked).toBe(false);
  });
});

describe('where the greeting comes from', () => {
  it('names the start-up file of the login shell that prints', () => {
    const r = execFileSync('bash', ['-c', findTalkersCommand()], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: home } });
    const found = parseTalkers(r);
    expect(found.files).toContain('~/.bashrc');
    const note = talkativeShellNote('Welcome to Ida, ROS_DISTRO=humble\nmore', { shell: '/bin/bash', files: ['~/.bashrc'] });
    expect(note).toContain(
      'its login shell /bin/bash prints on non-interactive sessions (from ~/.bashrc), e.g. "Welcome to Ida, ROS_DISTRO=humble"',
    );
  });
});

describe('atomic file writes through exec', () => {
  const write = (path: string, content: string, mode: number, size = Buffer.byteLength(content)) =>
    spawnSync('sh', ['-c', writeFileCommand(path, mode, size)], {
      input: content,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: home },
    });

  it('replaces a file with the content and mode given, leaving no temp file', () => {
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'config'), 'old', { mode: 0o644 });
    const r = write('.ssh/config', 'Host a\r\n  User b', 0o600);
    expect(r.status).toBe(0);
    expect(readFileSync(join(home, '.ssh', 'config'), 'utf8')).toBe('Host a\r\n  User b');
    expect(statSync(join(home, '.ssh', 'config')).mode & 0o777).toBe(0o600);
    expect(execFileSync('ls', ['-A', join(home, '.ssh')], { encoding: 'utf8' }).trim()).toBe('config');
  });

  it('writes through a symlink into a dotfiles repository: the link stays a link', () => {
    mkdirSync(join(home, 'dotfiles'), { recursive: true });
    writeFileSync(join(home, 'dotfiles', 'known_hosts'), 'mine\n');
    symlinkSync('../dotfiles/known_hosts', join(home, '.ssh', 'known_hosts'));
    expect(write('.ssh/known_hosts', 'mine\nours\n', 0o600).status).toBe(0);
    expect(lstatSync(join(home, '.ssh', 'known_hosts')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(home, '.ssh', 'known_hosts'))).toBe('../dotfiles/known_hosts');
    expect(readFileSync(join(home, 'dotfiles', 'known_hosts'), 'utf8')).toBe('mine\nours\n');
  });

  it('a content cut short (the connection died mid-write) never replaces the file', () => {
    writeFileSync(join(home, '.ssh', 'config'), 'whole old file');
    const r = write('.ssh/config', 'the first half', 0o600, 1000);
    expect(r.status).not.toBe(0);
    expect(readFileSync(join(home, '.ssh', 'config'), 'utf8')).toBe('whole old file');
    expect(execFileSync('ls', ['-A', join(home, '.ssh')], { encoding: 'utf8' })).not.toMatch(/provision-tmp/);
  });

  /** write-file.sh with several files; `cut`: stdin ends after that many bytes. */
  const writeMany = (files: FileToWrite[], cut?: number) =>
    spawnSync('sh', ['-c', writeFilesCommand(files)], {
      input: writeFilesPayload(files).subarray(0, cut),
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: home },
    });

  it('several files in one call: each written on its own, one that fails named alone, the others still in place', () => {
    writeFileSync(join(home, '.ssh', 'authorized_keys'), 'old keys');
    const files = [
      { path: '.ssh/authorized_keys', mode: 0o600, content: 'key a\nkey b\n' },
      { path: '.ssh/nosuchdir/known_hosts', mode: 0o600, content: 'never\n' },
      { path: '.ssh/config', mode: 0o600, content: 'Host c\n' },
    ];
    const r = writeMany(files);
    expect(r.status).toBe(1);
    expect([...parseWritten(r.stdout)]).toEqual(['.ssh/authorized_keys', '.ssh/config']);
    expect(r.stdout).toContain('provision-not-written .ssh/nosuchdir/known_hosts');
    expect(readFileSync(join(home, '.ssh', 'authorized_keys'), 'utf8')).toBe('key a\nkey b\n');
    expect(readFileSync(join(home, '.ssh', 'config'), 'utf8')).toBe('Host c\n'); // its bytes, not the failed one's
    expect(execFileSync('ls', ['-A', join(home, '.ssh')], { encoding: 'utf8' })).not.toMatch(/provision-tmp/);
  });

  it('several files, stdin cut short in the second: the first is written, the second and third are not', () => {
    writeFileSync(join(home, '.ssh', 'config'), 'whole old config');
    const files = [
      { path: '.ssh/authorized_keys', mode: 0o600, content: 'first\n' },
      { path: '.ssh/known_hosts', mode: 0o600, content: 'second, whole\n' },
      { path: '.ssh/config', mode: 0o600, content: 'third\n' },
    ];
    const r = writeMany(files, 12);
    expect(r.status).toBe(1);
    expect([...parseWritten(r.stdout)]).toEqual(['.ssh/authorized_keys']);
    expect(readFileSync(join(home, '.ssh', 'config'), 'utf8')).toBe('whole old config');
    expect(execFileSync('ls', ['-A', join(home, '.ssh')], { encoding: 'utf8' })).not.toMatch(/provision-tmp/);
  });

  it('fails without touching the old file when the temp file cannot be made', () => {
    writeFileSync(join(home, '.ssh', 'authorized_keys'), 'keep me');
    const r = write('.ssh/nosuchdir/authorized_keys', 'x', 0o600);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/No such file or directory/);
    expect(readFileSync(join(home, '.ssh', 'authorized_keys'), 'utf8')).toBe('keep me');
  });
});

describe('files as users have them', () => {
  it('a CRLF file keeps one managed block across runs, the user lines byte for byte', () => {
    const user = 'Include ~/.ssh/conf.d/*\r\nHost mine\r\n  User me\r\n';
    const once = withManagedBlock(user, ['Host a', 'Host *'], 'top');
    const crlf = once.replace(/\r?\n/g, '\r\n'); // the user's editor converts the whole file
    const twice = withManagedBlock(crlf, ['Host a', 'Host *'], 'top');
    expect(twice.split(BLOCK_BEGIN)).toHaveLength(2);
    expect(twice.endsWith(user)).toBe(true);
    expect(splitManagedBlock(twice).block).toEqual(['Host a', 'Host *']);
    expect(twice.startsWith(`${BLOCK_BEGIN}\nHost a\nHost *\n${BLOCK_END}\n`)).toBe(true);
  });
});

describe('answers that cannot be understood', () => {
  it('say what was expected and show the first bytes, secrets redacted', () => {
    const e = unexpectedAnswer(
      'reading facts',
      'an "arch=" line',
      'Welcome!\u0007 SWMTKN-1-abcdefghijklmnopqrstuvwxyz0123456789 ' + 'x'.repeat(200),
    );
    expect(e.message).toMatch(
      /^could not understand the robot's answer to reading facts: expected an "arch=" line, got "Welcome!\\u0007 SWMTKN-1-<redacted> x+"…$/,
    );
  });
});

describe('bytes that are not UTF-8', () => {
  it('a user line in another encoding survives the gather, the merge and the write byte for byte', async () => {
    const { parseGatheredSsh, fileBytes } = await import('../../src/remote/keysScript.js');
    const latin1Line = Buffer.from([0x23, 0x20, 0x4a, 0xfc, 0x72, 0x67, 0x65, 0x6e, 0x0a]); // "# Jürgen\n" in ISO-8859-1
    const b64 = latin1Line.toString('base64');
    const g = parseGatheredSsh(
      ['state:', 'uid:1', 'home:/h', `id_ed25519.pub:-:`, `authorized_keys:600:${b64}`, 'known_hosts:-:', 'config:-:'].join('\n'),
    );
    const merged = withManagedBlock(g.files.authorized_keys.content, ['ssh-ed25519 AAAA x'], 'bottom');
    expect(fileBytes(merged).subarray(0, latin1Line.length).equals(latin1Line)).toBe(true);
  });
});
