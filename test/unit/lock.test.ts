import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LOCK_DIR,
  NOT_LOCKED,
  STALE_LOCK_SECONDS,
  heldText,
  lockAnswerSoFar,
  lockCommand,
  ownerIsDeadLocalRun,
  parseLock,
  parseRefresh,
  refreshCommand,
  unlockCommand,
} from '../../src/remote/lock.js';
import { scriptWithArgs, type RemoteCommand } from '../../src/remote/shell.js';
import { script } from '../../src/remote/scripts.js';

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

  it('refreshes only its own lock, and never revives one taken over', () => {
    const h = home();
    expired(h, 'me@laptop:1:aa'); // this run, silent for an hour: its lock is stale
    const old = readdirSync(join(h, LOCK_DIR));
    expect(parseRefresh(run(h, refreshCommand('me@laptop:1:aa')))).toEqual({ refreshed: true });
    const now = readdirSync(join(h, LOCK_DIR));
    expect(now).toEqual([expect.stringMatching(/^owner\.\d+\.me@laptop:1:aa$/)]);
    expect(now).not.toEqual(old);
    const fresh = parseLock(run(h, lockCommand('you@pc:2:bb')));
    expect(fresh).toMatchObject({ held: true, owner: 'me@laptop:1:aa' });
    expect((fresh as { ageSeconds: number }).ageSeconds).toBeLessThanOrEqual(2); // refreshed just now (a second may tick under load)
    // taken over: the refresh says so and leaves the new holder's lock as it is
    const h2 = home();
    expired(h2, 'me@laptop:1:aa');
    expect(parseLock(run(h2, lockCommand('you@pc:2:bb')))).toMatchObject({ takenOverFrom: 'me@laptop:1:aa' });
    const theirs = readdirSync(join(h2, LOCK_DIR));
    expect(parseRefresh(run(h2, refreshCommand('me@laptop:1:aa')))).toEqual({ refreshed: false, holder: 'you@pc:2:bb' });
    run(h2, unlockCommand('me@laptop:1:aa'));
    expect(readdirSync(join(h2, LOCK_DIR))).toEqual(theirs);
    // released: nothing to refresh, nothing created
    run(h2, unlockCommand('you@pc:2:bb'));
    expect(parseRefresh(run(h2, refreshCommand('you@pc:2:bb')))).toEqual({ refreshed: false, holder: 'nobody' });
    expect(existsSync(join(h2, LOCK_DIR))).toBe(false);
  });

  it("is released also when this run's own refresh renamed it between the release's look and its rm", () => {
    const h = home();
    run(h, lockCommand('me@laptop:1:aa'));
    // rm as the robot's, then the refresh's rename lands: the lock is this run's under a new name.
    const bin = mkdtempSync(join(tmpdir(), 'provision-rm-'));
    writeFileSync(
      join(bin, 'rm'),
      `#!/bin/sh\n${spawnSync('sh', ['-c', 'command -v rm'], { encoding: 'utf8' }).stdout.trim()} "$@"; s=$?\n` +
        `[ -e "$HOME/renamed" ] || { : >"$HOME/renamed"; : >"$HOME/${LOCK_DIR}/owner.$(date +%s).me@laptop:1:aa"; }\nexit $s\n`,
      { mode: 0o755 },
    );
    exec(h, unlockCommand('me@laptop:1:aa'), `${bin}:${process.env.PATH ?? ''}`);
    expect(existsSync(join(h, 'renamed'))).toBe(true);
    expect(existsSync(join(h, LOCK_DIR))).toBe(false);
  });

  it('a robot whose mv has no -T: said so, not taken for another run taking the lock', () => {
    const h = home();
    const bin = mkdtempSync(join(tmpdir(), 'provision-mv-'));
    writeFileSync(join(bin, 'mv'), '#!/bin/sh\necho "mv: invalid option -- \'T\'" >&2\nexit 1\n', { mode: 0o755 });
    const r = exec(h, lockCommand('me@laptop:1:aa'), `${bin}:${process.env.PATH ?? ''}`);
    expect(r.code).toBe(NOT_LOCKED);
    expect(parseLock(r.stdout)).toMatchObject({
      held: true,
      ageSeconds: null,
      foreign: expect.stringMatching(/mv -T .* fails on this robot: mv: invalid option -- .T./),
    });
    expect(existsSync(join(h, LOCK_DIR))).toBe(false);
  });

  it('takes a lock whose directory a release left empty', () => {
    const h = home();
    mkdirSync(join(h, LOCK_DIR));
    expect(parseLock(run(h, lockCommand('me@laptop:1:aa')))).toMatchObject({ held: false, takenOverFrom: null });
  });
});

// Names a robot user could plant in ~/.provision-lock; each one would run `touch` if anything evaluated it.
const HOSTILE_NAMES = [
  'owner.a[$(touch${IFS}pwned-N)].me@laptop:1:aa',
  'owner.1$(touch${IFS}pwned-N).x',
  'owner.`touch${IFS}pwned-N`.x',
  'owner.0x10.x',
  'owner.0777.x',
  'owner.9999999999999.x',
  'owner.1700000000.x;touch${IFS}pwned-N',
  'owner.1700000000.x y',
  'owner.1700000000.',
  'owner..x',
  'owner.1700000000.x\n1 y',
  'owner.1700000000.\u001b]0;title\u0007',
];
// The file of the previous lock format (read with `read since who`, then `$((now - since))`): the first one ran
// `touch` there under bash.
const LEGACY_CONTENT = [
  'a[$(touch${IFS}pwned-N)] x\n',
  'x[$(touch${IFS}pwned-N)]+1 y\n',
  '$(touch${IFS}pwned-N) z\n',
  '1700000000 me@laptop:1:aa\n',
];

/** lock.sh as `shell` runs it (sh -c SCRIPT provision ARG…). */
const lockIn = (shell: string, h: string, action: string, runId: string) =>
  spawnSync(shell, ['-c', script('lock'), 'provision', action, runId, String(STALE_LOCK_SECONDS), '', LOCK_DIR, String(NOT_LOCKED)], {
    encoding: 'utf8',
    cwd: h,
    env: { PATH: process.env.PATH ?? '', HOME: h },
  });

describe('an owner file is data', () => {
  const shells = ['dash', 'bash', 'sh'].filter((s) => spawnSync(s, ['-c', 'true']).status === 0);
  it.each(shells)('a crafted name or legacy owner file runs nothing under %s, and is named', (shell) => {
    expect(shells).toEqual(expect.arrayContaining(['dash', 'bash']));
    const cases = [
      ...HOSTILE_NAMES.map((name, i) => ({ name: name.replace('N', String(i)), content: '' })),
      ...LEGACY_CONTENT.map((content, i) => ({ name: 'owner', content: content.replace('N', `l${i}`) })),
    ];
    for (const { name, content } of cases) {
      const h = home();
      mkdirSync(join(h, LOCK_DIR));
      writeFileSync(join(h, LOCK_DIR, name), content);
      const fresh = parseLock(lockIn(shell, h, 'take', 'me@laptop:1:aa').stdout);
      lockIn(shell, h, 'refresh', 'me@laptop:1:aa');
      lockIn(shell, h, 'release', 'me@laptop:1:aa');
      expect({ name, fresh }).toMatchObject({ name, fresh: { held: true, foreign: expect.stringMatching(/not in provision's format/) } });
      expect(heldText('Ida', fresh as never)).toMatch(
        /^Ida \(~\/\.provision-lock not in provision's format \(it holds: owner.*changed \d s ago: taken over once unchanged for 15 min\)$/,
      );
      // unchanged for an hour: taken over, by one rename of that very file
      const hourAgo = Date.now() / 1000 - 3600;
      utimesSync(join(h, LOCK_DIR, name), hourAgo, hourAgo);
      const taken = parseLock(lockIn(shell, h, 'take', 'me@laptop:1:aa').stdout);
      expect({ name, taken }).toMatchObject({ name, taken: { held: false, foreign: expect.stringMatching(/unchanged for 3\d\d\d s/) } });
      expect(readdirSync(join(h, LOCK_DIR))).toEqual([expect.stringMatching(/^owner\.\d+\.me@laptop:1:aa$/)]);
      expect(readdirSync(h).filter((f) => f.startsWith('pwned'))).toEqual([]);
      expect(existsSync('/tmp/pwned')).toBe(false);
    }
  });

  it('shows what it holds printable and bounded, and refuses shapes provision never makes', () => {
    const h = home();
    mkdirSync(join(h, LOCK_DIR));
    writeFileSync(join(h, LOCK_DIR, 'owner'), `SWMTKN-1-abcdefghijklmnopqrstuvwxyz0123456789 \u001b[2J${'x'.repeat(5000)}`);
    const foreign = parseLock(run(h, lockCommand('me@laptop:1:aa')));
    expect(foreign).toMatchObject({ held: true, foreign: expect.stringContaining('owner="SWMTKN-1-<redacted> ?[2Jxxx') });
    expect(JSON.stringify(foreign).length).toBeLessThan(600);
    // two files, a directory, a symlink, a file in the lock's place: refused every time, with the fix
    const shapes: Array<(dir: string) => void> = [
      (d) => (mkdirSync(d), writeFileSync(join(d, 'a'), ''), writeFileSync(join(d, 'b'), '')),
      (d) => (mkdirSync(d), mkdirSync(join(d, 'owner.1700000000.x'))),
      (d) => (mkdirSync(d), spawnSync('ln', ['-s', '/etc/passwd', join(d, 'owner.1700000000.x')])),
      (d) => writeFileSync(d, 'a file'),
      (d) => spawnSync('ln', ['-s', tmpdir(), d]),
    ];
    for (const make of shapes) {
      const s = home();
      make(join(s, LOCK_DIR));
      const r = exec(s, lockCommand('me@laptop:1:aa', '', 'touch ran'));
      const lock = parseLock(r.stdout);
      expect(r.code).toBe(NOT_LOCKED);
      expect(lock).toMatchObject({ held: true, ageSeconds: null });
      expect(heldText('Ida', lock as never)).toMatch(/will not guess; once no run works there, remove it: rm -r ~\/\.provision-lock\)$/);
      expect(existsSync(join(s, 'ran'))).toBe(false);
    }
  });
});

/** `count` copies of lock.sh started at once on the home `h` (real sh, real processes). */
async function race(h: string, count: number, line: (i: number) => string) {
  return Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<string>((resolve) => {
          const child = spawn('sh', ['-c', line(i)], { env: { PATH: process.env.PATH ?? '', HOME: h } });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.on('close', () => resolve(out));
        }),
    ),
  );
}

describe('runs racing for one lock', () => {
  it('200 takeovers of one expired lock at once: exactly one wins; the others name it', async () => {
    const h = home();
    expired(h, 'crashed@laptop:9:cc');
    const answers = (await race(h, 200, (i) => lockCommand(`run${i}@pc:${i}:aa`).line)).map(parseLock);
    const winners = answers.flatMap((a, i) => (a.held ? [] : [i]));
    expect(winners).toHaveLength(1);
    expect(answers[winners[0] as number]).toMatchObject({ takenOverFrom: 'crashed@laptop:9:cc' });
    const holder = `run${winners[0]}@pc:${winners[0]}:aa`;
    for (const a of answers) if (a.held) expect(a).toMatchObject({ owner: holder });
    expect(readdirSync(join(h, LOCK_DIR))).toEqual([expect.stringMatching(new RegExp(`^owner\\.\\d+\\.${holder}$`))]);
  }, 60_000);

  it('200 runs taking a free lock at once: exactly one gets it', async () => {
    const h = home();
    const answers = (await race(h, 200, (i) => lockCommand(`run${i}@pc:${i}:aa`).line)).map(parseLock);
    expect(answers.filter((a) => !a.held)).toHaveLength(1);
  }, 60_000);

  it("the holder's refresh racing 100 takeovers of its expired lock: either it keeps the lock and none wins, or exactly one wins and the refresh says lost", async () => {
    for (let round = 0; round < 3; round++) {
      const h = home();
      expired(h, 'slow@laptop:1:aa');
      const outs = await race(h, 101, (i) => (i === 50 ? refreshCommand('slow@laptop:1:aa') : lockCommand(`run${i}@pc:${i}:aa`).line));
      const refresh = parseRefresh(outs[50] as string);
      const winners = outs.filter((o, i) => i !== 50 && !parseLock(o).held);
      expect(winners).toHaveLength(refresh?.refreshed ? 0 : 1);
      expect(readdirSync(join(h, LOCK_DIR))).toHaveLength(1);
    }
  }, 60_000);
});

describe("the gate's answer read as it comes (the others start before its opening has answered)", () => {
  it('the lock line comes before what runs after the lock, and says ours; the rest is still running', async () => {
    const h = home();
    const take = lockCommand('me@laptop:1:aa', '', 'sleep 1; echo after');
    const child = spawn('sh', ['-c', take.line], { env: { PATH: process.env.PATH, HOME: h } });
    let soFar = '';
    let oursAt: string | null = null;
    child.stdout.on('data', (d: Buffer) => {
      soFar += d.toString();
      if (oursAt === null && lockAnswerSoFar(soFar) === 'ours') oursAt = soFar;
    });
    const code = await new Promise((done) => child.on('close', done));
    expect(code).toBe(0);
    expect(oursAt).toBe('provision-lock locked\n'); // said while `then` still slept
    expect(soFar).toBe('provision-lock locked\nafter\n');
  });

  it('held, foreign or not-linux: not ours; a line not yet whole: no answer yet', () => {
    expect(lockAnswerSoFar('')).toBeNull();
    expect(lockAnswerSoFar('provision-lock lock')).toBeNull();
    expect(lockAnswerSoFar('motd\nprovision-lock locked')).toBeNull();
    expect(lockAnswerSoFar('motd\nprovision-lock locked\nfacts')).toBe('ours');
    expect(lockAnswerSoFar('provision-lock taken-over a@b:2:ff\n')).toBe('ours');
    expect(lockAnswerSoFar('provision-lock held 3 a@b:2:ff\n')).toBe('not ours');
    expect(lockAnswerSoFar('provision-lock foreign 3 x\n')).toBe('not ours');
    expect(lockAnswerSoFar('provision-lock not-linux Darwin\n')).toBe('not ours');
    expect(lockAnswerSoFar('provision-lock what\n')).toBe('not ours');
  });
});
