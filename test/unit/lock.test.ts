import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_DIR, lockCommand, ownerIsDeadLocalRun, parseLock, unlockCommand } from '../../src/remote/lock.js';

// The lock scripts run here in a real sh with a temporary HOME, as they run on a robot.
const home = () => mkdtempSync(join(tmpdir(), 'provision-lock-'));
const run = (h: string, line: string) => execFileSync('sh', ['-c', line], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: h } });

describe('the run lock', () => {
  it('is taken once; a second run sees who holds it; the owner releases it', () => {
    const h = home();
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa')))).toEqual({ held: false, takenOverFrom: null });
    const second = parseLock(run(h, lockCommand('you@pc:2:bb')));
    expect(second).toMatchObject({ held: true, owner: 'me@laptop:1:aa' });
    run(h, unlockCommand('you@pc:2:bb')); // not the owner: nothing happens
    expect(parseLock(run(h, lockCommand('you@pc:2:bb'))).held).toBe(true);
    run(h, unlockCommand('me@laptop:1:aa'));
    expect(parseLock(run(h, lockCommand('you@pc:2:bb')))).toEqual({ held: false, takenOverFrom: null });
  });

  it('takes over a lock left by a crashed run once it is stale', () => {
    const h = home();
    run(h, lockCommand('crashed@laptop:9:cc'));
    const owner = join(h, LOCK_DIR, 'owner');
    writeFileSync(owner, `${Math.floor(Date.now() / 1000) - 3600} crashed@laptop:9:cc\n`);
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa')))).toEqual({ held: false, takenOverFrom: 'crashed@laptop:9:cc' });
    expect(readFileSync(owner, 'utf8')).toMatch(/ me@laptop:1:aa\n$/);
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
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa', 'me@laptop:4242:cc')))).toEqual({ held: false, takenOverFrom: 'me@laptop:4242:cc' });
  });

  it('tells a robot that is not Linux, and takes no lock there', () => {
    const h = home();
    const bin = mkdtempSync(join(tmpdir(), 'provision-uname-'));
    writeFileSync(join(bin, 'uname'), '#!/bin/sh\necho FreeBSD\n', { mode: 0o755 });
    const out = execFileSync('sh', ['-c', lockCommand('me@laptop:1:aa')], { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: h } });
    expect(parseLock(out)).toEqual({ held: false, notLinux: 'FreeBSD' });
    expect(existsSync(join(h, LOCK_DIR))).toBe(false);
  });

  it('refuses an answer it does not understand', () => {
    expect(() => parseLock('garbage')).toThrow(/unexpected answer/);
  });
});
