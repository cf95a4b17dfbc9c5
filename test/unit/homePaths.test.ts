// Every folder between the home and a file provision writes on a robot is checked, not only the file:
// the real scripts (write-file, gather-ssh, sync-tokens, remove-tokens) in a real sh on scratch homes.
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WRITTEN, writeFileCommand } from '../../src/remote/files.js';
import { gatherSshCommand } from '../../src/remote/keysScript.js';
import { removeTokensCommand, syncTokensCommand, tokenFilesPayload } from '../../src/remote/docker.js';

const scratch: string[] = [];
const dir = (prefix: string) => {
  const d = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  scratch.push(d);
  return d;
};
afterEach(() => {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sh = (home: string, line: string, stdin = '') =>
  spawnSync('sh', ['-c', line], { input: stdin, encoding: 'utf8', env: { HOME: home, PATH: process.env.PATH ?? '' } });

const write = (home: string, path: string, content: string) => sh(home, writeFileCommand(path, 0o600, Buffer.byteLength(content)), content);

describe('write-file.sh', () => {
  it('writes a plain ~/.ssh file', () => {
    const home = dir('home-');
    mkdirSync(join(home, '.ssh'));
    const r = write(home, '.ssh/known_hosts', 'new\n');
    expect(r.stdout.trim()).toBe(`${WRITTEN} .ssh/known_hosts`);
    expect(readFileSync(join(home, '.ssh/known_hosts'), 'utf8')).toBe('new\n');
    expect(statSync(join(home, '.ssh/known_hosts')).mode & 0o777).toBe(0o600);
  });

  it('refuses a ~/.ssh that is a symlink out of the home, and writes nothing there', () => {
    const home = dir('home-');
    const outside = dir('outside-');
    writeFileSync(join(outside, 'known_hosts'), 'theirs\n');
    symlinkSync(outside, join(home, '.ssh'));
    const r = write(home, '.ssh/known_hosts', 'new\n');
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain(WRITTEN);
    expect(r.stderr).toContain(`~/.ssh is a symlink to ${outside}, outside the home: provision does not write through it`);
    expect(readFileSync(join(outside, 'known_hosts'), 'utf8')).toBe('theirs\n');
    expect(readdirSync(outside)).toEqual(['known_hosts']); // no temp file either
  });

  it('refuses a chain that leaves the home further along (~/.ssh → ~/a → outside)', () => {
    const home = dir('home-');
    const outside = dir('outside-');
    symlinkSync(outside, join(home, 'a'));
    symlinkSync('a', join(home, '.ssh'));
    const r = write(home, '.ssh/config', 'x\n');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('~/.ssh is a symlink to');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('writes through a ~/.ssh linked into a dotfiles folder of the home; the link stays', () => {
    const home = dir('home-');
    mkdirSync(join(home, 'dotfiles', 'ssh'), { recursive: true });
    symlinkSync('dotfiles/ssh', join(home, '.ssh'));
    const r = write(home, '.ssh/config', 'Host *\n');
    expect(r.stdout.trim()).toBe(`${WRITTEN} .ssh/config`);
    expect(lstatSync(join(home, '.ssh')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(home, 'dotfiles/ssh/config'), 'utf8')).toBe('Host *\n');
  });

  it('a symlinked file: written through inside the home, refused out of it, named when it does not resolve', () => {
    const home = dir('home-');
    const outside = dir('outside-');
    mkdirSync(join(home, '.ssh'));
    mkdirSync(join(home, 'dotfiles'));
    writeFileSync(join(home, 'dotfiles/known_hosts'), 'old\n');
    symlinkSync('../dotfiles/known_hosts', join(home, '.ssh/known_hosts'));
    expect(write(home, '.ssh/known_hosts', 'new\n').stdout.trim()).toBe(`${WRITTEN} .ssh/known_hosts`);
    expect(lstatSync(join(home, '.ssh/known_hosts')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(home, 'dotfiles/known_hosts'), 'utf8')).toBe('new\n');

    writeFileSync(join(outside, 'config'), 'team\n');
    symlinkSync(join(outside, 'config'), join(home, '.ssh/config'));
    const out = write(home, '.ssh/config', 'x\n');
    expect(out.stderr).toContain(`~/.ssh/config is a symlink to ${outside}/config, outside the home`);
    expect(readFileSync(join(outside, 'config'), 'utf8')).toBe('team\n');

    symlinkSync('/nonexistent-dir/x', join(home, '.ssh/authorized_keys'));
    expect(write(home, '.ssh/authorized_keys', 'x\n').stderr).toContain('~/.ssh/authorized_keys is a symlink that does not resolve');
  });
});

describe('the other scripts that write under the home', () => {
  it('gather-ssh refuses a ~/.ssh linked out of the home before making a key or changing a mode', () => {
    const home = dir('home-');
    const outside = dir('outside-');
    chmodSync(outside, 0o755);
    symlinkSync(outside, join(home, '.ssh'));
    const r = sh(home, gatherSshCommand('t@T', false).line);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('~/.ssh is a symlink to');
    expect(readdirSync(outside)).toEqual([]);
    expect(statSync(outside).mode & 0o777).toBe(0o755); // no chmod 700 ran there
  });

  it('sync-tokens and remove-tokens refuse a ~/swarm_tokens linked out of the home; one inside is written through', () => {
    const home = dir('home-');
    const outside = dir('outside-');
    writeFileSync(join(outside, 'worker_token'), 'theirs');
    symlinkSync(outside, join(home, 'swarm_tokens'));
    const payload = tokenFilesPayload({ join_addresses: '10.0.0.1:2377\n' });
    const sync = sh(home, syncTokensCommand(false), payload);
    expect(sync.status).not.toBe(0);
    expect(sync.stderr).toContain('~/swarm_tokens is a symlink to');
    const remove = sh(home, removeTokensCommand(false));
    expect(remove.status).not.toBe(0);
    expect(readdirSync(outside)).toEqual(['worker_token']);

    rmSync(join(home, 'swarm_tokens'));
    mkdirSync(join(home, 'private', 'tokens'), { recursive: true, mode: 0o700 });
    symlinkSync('private/tokens', join(home, 'swarm_tokens'));
    expect(sh(home, syncTokensCommand(false), payload).status).toBe(0);
    expect(readFileSync(join(home, 'private/tokens/join_addresses'), 'utf8')).toBe('10.0.0.1:2377\n');
    expect(existsSync(join(outside, 'join_addresses'))).toBe(false);
  });
});
