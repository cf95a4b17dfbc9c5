import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_DIR, NOT_LOCKED, lockCommand, ownerIsDeadLocalRun, parseLock, unlockCommand } from '../../src/remote/lock.js';
import { scriptWithArgs, type RemoteCommand } from '../../src/remote/shell.js';

// The lock scripts run here in a real sh with a temporary HOME, as they run on a robot.
const home = () => mkdtempSync(join(tmpdir(), 'provision-lock-'));
const exec = (h: string, command: string | RemoteCommand, path = process.env.PATH ?? '') => {
  const r = spawnSync('sh', ['-c', typeof command === 'string' ? command : command.line], {
    encoding: 'utf8',
    env: { PATH: path, HOME: h },
  });
  return { code: r.status, stdout: r.stdout };
};
const run = (h: string, command: string | RemoteCommand) => exec(h, command).stdout;
/** The lock of `owner`, last refreshed an hour ago. */
const expired = (h: string, owner: string) => {
  mkdirSync(join(h, LOCK_DIR));
  writeFileSync(join(h, LOCK_DIR, `owner.${Math.floor(Date.now() / 1000) - 3600}.${owner}`), '');
};

describe('the run lock', () => {
  it('is taken once; a second run sees who holds it; the owner releases it', () => {
    const h = home();
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa')))).toMatchObject({ held: false, takenOverFrom: null });
    const second = parseLock(run(h, lockCommand('you@pc:2:bb')));
    expect(second).toMatchObject({ held: true, owner: 'me@laptop:1:aa' });
    run(h, unlockCommand('you@pc:2:bb')); // not the owner: nothing happens
    expect(parseLock(run(h, lockCommand('you@pc:2:bb'))).held).toBe(true);
    run(h, unlockCommand('me@laptop:1:aa'));
    expect(parseLock(run(h, lockCommand('you@pc:2:bb')))).toMatchObject({ held: false, takenOverFrom: null });
  });

  it('takes over a lock left by a crashed run once it is stale', () => {
    const h = home();
    expired(h, 'crashed@laptop:9:cc');
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa')))).toMatchObject({ held: false, takenOverFrom: 'crashed@laptop:9:cc' });
    expect(readdirSync(join(h, LOCK_DIR))).toEqual([expect.stringMatching(/^owner\.\d+\.me@laptop:1:aa$/)]);
  });

  it('takes over at once the lock of a run of this machine whose process is gone, and only that', () => {
    const h = home();
    run(h, lockCommand('me@laptop:4242:cc'));
    const me = { user: 'me', host: 'laptop' };
    expect(ownerIsDeadLocalRun('me@laptop:4242:cc', me, () => false)).toBe(true);
    expect(ownerIsDeadLocalRun('me@laptop:4242:cc', me, () => true)).toBe(false); // still running: wait for it
    expect(ownerIsDeadLocalRun('me@other:4242:cc', me, () => false)).toBe(false); // another machine's run
    expect(ownerIsDeadLocalRun('you@laptop:4242:cc', me, () => false)).toBe(false);
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa', 'someone@else:1:dd')))).toMatchObject({ held: true });
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa', 'me@laptop:4242:cc')))).toMatchObject({
      held: false,
      takenOverFrom: 'me@laptop:4242:cc',
    });
  });

  it('tells a robot that is not Linux, and takes no lock there', () => {
    const h = home();
    const bin = mkdtempSync(join(tmpdir(), 'provision-uname-'));
    writeFileSync(join(bin, 'uname'), '#!/bin/sh\necho FreeBSD\n', { mode: 0o755 });
    const { code, stdout } = exec(h, lockCommand('me@laptop:1:aa', '', 'touch ran'), `${bin}:${process.env.PATH ?? ''}`);
    expect(parseLock(stdout)).toMatchObject({ held: false, notLinux: 'FreeBSD' });
    expect(code).toBe(NOT_LOCKED);
    expect(existsSync(join(h, 'ran'))).toBe(false);
    expect(existsSync(join(h, LOCK_DIR))).toBe(false);
  });

  it("runs the step's first command in the same call only once the lock is ours, its output after the lock line", () => {
    const h = home();
    const first = scriptWithArgs('echo "read $1"; touch "$HOME/ran"', ['facts']);
    const mine = exec(h, lockCommand('me@laptop:1:aa', '', first));
    expect(mine.code).toBe(0);
    expect(parseLock('Welcome to the robot\n' + mine.stdout)).toEqual({ held: false, takenOverFrom: null, after: 'read facts\n' });
    expect(existsSync(join(h, 'ran'))).toBe(true);
    // held by another run: the first command does not run, and the exit code says so
    const h2 = home();
    run(h2, lockCommand('you@pc:2:bb'));
    const refused = exec(h2, lockCommand('me@laptop:1:aa', '', first));
    expect(refused.code).toBe(NOT_LOCKED);
    expect(parseLock(refused.stdout)).toMatchObject({ held: true, owner: 'you@pc:2:bb', after: '' });
    expect(existsSync(join(h2, 'ran'))).toBe(false);
    // a failing first command keeps its own exit code, after the lock was taken
    const failing = exec(home(), lockCommand('me@laptop:1:aa', '', 'echo oops; exit 3'));
    expect(failing.code).toBe(3);
    expect(parseLock(failing.stdout)).toMatchObject({ held: false, after: 'oops\n' });
  });

  it('refuses an answer it does not understand', () => {
    expect(() => parseLock('garbage')).toThrow(/could not understand the robot.s answer/);
  });
});
