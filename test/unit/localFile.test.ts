// The one local atomic write (src/localFile.ts): the content and mode land, no temp file stays behind;
// through a symlink the link stays and its target changes.
import { describe, expect, it } from '@jest/globals';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../src/localFile.js';
import { saveRoles } from '../../src/inventory/save.js';

describe('writeFileAtomic', () => {
  it('replaces the file with the content and mode given, leaving nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    const file = join(dir, 'known_hosts');
    writeFileSync(file, 'old\n', { mode: 0o644 });
    writeFileAtomic(file, 'new\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['known_hosts']);
  });

  it('on a failed rename, the old file stays and the temp file is removed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    mkdirSync(join(dir, 'robots.yaml'));
    writeFileSync(join(dir, 'robots.yaml', 'inside'), 'x');
    expect(() => writeFileAtomic(join(dir, 'robots.yaml'), 'y', 0o600)).toThrow();
    expect(readdirSync(dir)).toEqual(['robots.yaml']);
  });

  it('writes through a symlink: the link stays, its target (in another folder) gets the content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    mkdirSync(join(dir, 'dotfiles'));
    mkdirSync(join(dir, '.ssh'));
    writeFileSync(join(dir, 'dotfiles', 'known_hosts'), 'old\n', { mode: 0o600 });
    symlinkSync('../dotfiles/known_hosts', join(dir, '.ssh', 'known_hosts'));
    writeFileAtomic(join(dir, '.ssh', 'known_hosts'), 'new\n', 0o600);
    expect(lstatSync(join(dir, '.ssh', 'known_hosts')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, '.ssh', 'known_hosts'))).toBe('../dotfiles/known_hosts');
    expect(readFileSync(join(dir, 'dotfiles', 'known_hosts'), 'utf8')).toBe('new\n');
    expect(readdirSync(join(dir, 'dotfiles'))).toEqual(['known_hosts']);
    expect(readdirSync(join(dir, '.ssh'))).toEqual(['known_hosts']);
  });

  it('follows a chain of links, and a link whose target is not there yet creates the target', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    symlinkSync('b', join(dir, 'a'));
    symlinkSync(join(dir, 'c'), join(dir, 'b'));
    writeFileAtomic(join(dir, 'a'), 'x', 0o600);
    expect(lstatSync(join(dir, 'a')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'b')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'c'), 'utf8')).toBe('x');
  });

  it('a loop of links is refused, nothing written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    symlinkSync('b', join(dir, 'a'));
    symlinkSync('a', join(dir, 'b'));
    expect(() => writeFileAtomic(join(dir, 'a'), 'x', 0o600)).toThrow(/too many levels of symbolic links/);
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
  });

  it("the wizard's save writes the inventory through its symlink, keeping the target's mode", () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    mkdirSync(join(dir, 'repo'));
    writeFileSync(join(dir, 'repo', 'robots.yaml'), 'robots:\n  - name: Ida\n    ip: 10.0.0.2\n', { mode: 0o640 });
    symlinkSync('repo/robots.yaml', join(dir, 'robots.yaml'));
    saveRoles(join(dir, 'robots.yaml'), { Ida: 'manager' }, 'Ida');
    expect(lstatSync(join(dir, 'robots.yaml')).isSymbolicLink()).toBe(true);
    const text = readFileSync(join(dir, 'repo', 'robots.yaml'), 'utf8');
    expect(text).toContain('role: manager');
    expect(text).toContain('leader: Ida');
    expect(statSync(join(dir, 'repo', 'robots.yaml')).mode & 0o777).toBe(0o640);
  });
});

// The system calls themselves, watched with strace (where it is installed) on the built module.
const DIST = fileURLToPath(new URL('../../dist/localFile.js', import.meta.url));
const strace = spawnSync('strace', ['-V']).status === 0;
(strace ? describe : describe.skip)('writeFileAtomic on disk (strace)', () => {
  it('fsyncs the temp file before the rename and its folder after it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provision-atomic-'));
    writeFileSync(join(dir, 'f'), 'old');
    const script = `import { writeFileAtomic } from ${JSON.stringify(DIST)}; writeFileAtomic(${JSON.stringify(join(dir, 'f'))}, 'new', 0o600);`;
    const r = spawnSync(
      'strace',
      ['-f', '-e', 'trace=openat,fsync,rename,renameat,renameat2', process.execPath, '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(0);
    const calls = r.stderr.split('\n').filter((l) => l.includes(dir) || /\bfsync\(/.test(l));
    const fdOf = (line: string | undefined) => /= (\d+)$/.exec(line ?? '')?.[1];
    const openTmp = calls.findIndex((l) => /openat\(.*\.f\.\d+\.[0-9a-f]+\.tmp".*O_EXCL/.test(l));
    const rename = calls.findIndex((l) => /rename(at2?)?\(.*\.tmp".*\/f"/.test(l));
    const openDir = calls.findIndex((l, i) => i > rename && l.includes(`"${dir}"`) && /O_RDONLY/.test(l));
    const fsyncOf = (fd: string | undefined, from: number, to: number) =>
      calls.findIndex((l, i) => i > from && i < to && new RegExp(`\\bfsync\\(${fd}\\)`).test(l));
    expect(openTmp).toBeGreaterThanOrEqual(0);
    expect(rename).toBeGreaterThan(openTmp);
    expect(fsyncOf(fdOf(calls[openTmp]), openTmp, rename)).toBeGreaterThan(openTmp);
    expect(openDir).toBeGreaterThan(rename);
    expect(fsyncOf(fdOf(calls[openDir]), openDir, calls.length)).toBeGreaterThan(openDir);
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('new');
  });
});
