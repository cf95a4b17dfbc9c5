import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileNeedsFix, judgeStrictModes, type StrictModesFacts } from '../../src/plan/strictModes.js';
import { gatherSshCommand, meshProbeCommand, parseGatheredSsh, parseStrictModes, probeFailureReason } from '../../src/remote/keysScript.js';

const facts = (perms: StrictModesFacts['perms'], uid = 1001, home = '/home/ida'): StrictModesFacts => ({ uid, home, perms });
const mine = (mode: number) => ({ mode, owner: 1001 });

describe('StrictModes verdict', () => {
  it('a safe home and ~/.ssh: nothing to refuse (root may own the home)', () => {
    expect(judgeStrictModes(facts({ home: mine(0o755), '.ssh': mine(0o700) }), 'ida')).toEqual({ refused: [], sshDirForeign: false });
    expect(judgeStrictModes(facts({ home: { mode: 0o755, owner: 0 } }), 'ida').refused).toEqual([]);
  });

  it('a home writable by others is named with the exact fix', () => {
    const v = judgeStrictModes(facts({ home: mine(0o757), '.ssh': mine(0o700) }), 'ida');
    expect(v.sshDirForeign).toBe(false);
    expect(v.refused).toEqual([
      {
        reason:
          "the home directory /home/ida is writable by others (mode 757): sshd ignores ~/.ssh/authorized_keys (StrictModes); provision does not change a home's mode",
        fix: 'chmod go-w /home/ida',
      },
    ]);
  });

  it('a group-writable home of root needs sudo for the fix; a hostile path is quoted in it', () => {
    const v = judgeStrictModes(facts({ home: { mode: 0o775, owner: 0 } }, 1001, "/home/i'da x"), 'ida');
    expect(v.refused[0]?.reason).toContain('writable by its group (mode 775)');
    expect(v.refused[0]?.fix).toBe("sudo chmod go-w '/home/i'\\''da x'");
  });

  it('a home or ~/.ssh of another user is named, never changed; a foreign ~/.ssh blocks the writes', () => {
    const v = judgeStrictModes(facts({ home: { mode: 0o755, owner: 1002 }, '.ssh': { mode: 0o700, owner: 0 } }), 'ida');
    expect(v.sshDirForeign).toBe(true);
    expect(v.refused.map((r) => r.fix)).toEqual(['sudo chown ida /home/ida', 'sudo chown -R ida /home/ida/.ssh']);
    expect(v.refused[0]?.reason).toContain('belongs to uid 1002, not to ida');
  });

  it('a managed file with the right content is still rewritten for a loose mode or another owner', () => {
    expect(fileNeedsFix(mine(0o600), 1001)).toBeNull();
    expect(fileNeedsFix(undefined, 1001)).toBeNull();
    expect(fileNeedsFix(mine(0o664), 1001)).toBe('mode 664 → 600');
    expect(fileNeedsFix(mine(0o400), 1001)).toBe('mode 400 → 600');
    expect(fileNeedsFix({ mode: 0o600, owner: 0 }, 1001)).toBeNull(); // sshd accepts root's
    expect(fileNeedsFix({ mode: 0o600, owner: 1002 }, 1001)).toBe('owner uid 1002 → 1001');
  });
});

describe("the gather script's StrictModes lines", () => {
  it('parses uid, home and perm lines; a home path keeps its colons', () => {
    const s = parseStrictModes([
      'state:',
      'uid:1001',
      'home:/srv/a:b',
      'perm:.:757:1001',
      'perm:.ssh:700:1001',
      'perm:.ssh/authorized_keys:664:0',
    ]);
    expect(s).toEqual({
      uid: 1001,
      home: '/srv/a:b',
      perms: { home: mine(0o757), '.ssh': mine(0o700), authorized_keys: { mode: 0o664, owner: 0 } },
    });
  });

  it('refuses an answer without them or with a garbled perm line', () => {
    expect(() => parseStrictModes(['state:'])).toThrow(/expected a "uid:" and a "home:" line/);
    expect(() => parseStrictModes(['uid:1', 'home:/h', 'perm:.:rwx:1'])).toThrow(
      /could not understand the robot's answer to reading ~\/\.ssh: expected perm:PATH:MODE:OWNER/,
    );
  });

  // The real script in a real sh, on a scratch home of this machine (no robot needed).
  const run = (home: string, dry: boolean) =>
    parseGatheredSsh(
      execFileSync('sh', ['-c', gatherSshCommand('t@T', dry).line], {
        encoding: 'utf8',
        env: { HOME: home, PATH: process.env.PATH ?? '' },
      }),
    );

  it("generates the robot's key pair with its comment (user@robot), and reads the public key back", () => {
    const home = mkdtempSync(join(tmpdir(), 'strict-home-'));
    try {
      const real = run(home, false);
      expect(real.actions).toContain('keygen');
      expect(readFileSync(join(home, '.ssh', 'id_ed25519.pub'), 'utf8')).toMatch(/^ssh-ed25519 AAAA\S+ t@T\n$/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('reports a loose home and fixes ~/.ssh to 700, but not in a dry run', () => {
    const home = mkdtempSync(join(tmpdir(), 'strict-home-'));
    try {
      check(home);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  function check(home: string): void {
    mkdirSync(join(home, '.ssh'));
    chmodSync(join(home, '.ssh'), 0o770);
    writeFileSync(join(home, '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAAx me', { mode: 0o664 });
    chmodSync(join(home, '.ssh', 'authorized_keys'), 0o664);
    chmodSync(home, 0o757);

    const dry = run(home, true);
    expect(dry.actions).toContain('chmod');
    expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o770);
    expect(dry.strict.perms['.ssh']?.mode).toBe(0o770);

    const real = run(home, false);
    expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o700);
    expect(statSync(home).mode & 0o777).toBe(0o757); // the home is the operator's to change
    expect(real.strict.home).toBe(realpathSync(home));
    expect(real.strict.perms['.ssh']).toEqual({ mode: 0o700, owner: process.getuid?.() });
    expect(real.strict.perms.authorized_keys?.mode).toBe(0o664);
    expect(real.strict.perms.known_hosts).toBeUndefined();
    expect(judgeStrictModes(real.strict, 'me').refused.map((r) => r.fix)).toEqual([`chmod go-w ${realpathSync(home)}`]);
    expect(fileNeedsFix(real.strict.perms.authorized_keys, real.strict.uid)).toBe('mode 664 → 600');
  }
});

// Needs root to give the scratch ~/.ssh another owner (the suite runs as root in CI and on the lab machine).
(process.getuid?.() === 0 ? describe : describe.skip)('a ~/.ssh of another owner', () => {
  it('is left alone by the gather script (no chmod, no key generated) and blocks the writes', () => {
    const home = mkdtempSync(join(tmpdir(), 'strict-home-'));
    try {
      mkdirSync(join(home, '.ssh'), { mode: 0o755 });
      chmodSync(join(home, '.ssh'), 0o755);
      execFileSync('chown', ['65534', join(home, '.ssh')]);
      const g = parseGatheredSsh(
        execFileSync('sh', ['-c', gatherSshCommand('t@T', false).line], {
          encoding: 'utf8',
          env: { HOME: home, PATH: process.env.PATH ?? '' },
        }),
      );
      expect(g.actions).toEqual([]);
      expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o755);
      expect(readdirSync(join(home, '.ssh'))).toEqual([]);
      const v = judgeStrictModes(g.strict, 'me');
      expect(v.sshDirForeign).toBe(true);
      expect(v.refused.map((r) => r.fix)).toEqual([`sudo chown -R me ${realpathSync(home)}/.ssh`]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('the mesh probe', () => {
  it('is ssh by the Host alias with BatchMode, the host key checked, nothing written and a connect timeout', () => {
    expect(meshProbeCommand('Ida')).toBe(
      'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o ConnectTimeout=5 Ida true',
    );
    expect(meshProbeCommand('x;y')).toBe(
      "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o ConnectTimeout=5 'x;y' true",
    );
  });

  it("takes ssh's last stderr line as the reason", () => {
    expect(probeFailureReason({ code: 255, stderr: 'debug stuff\nida@10.88.0.12: Permission denied (publickey,password).\n\n' })).toBe(
      'ida@10.88.0.12: Permission denied (publickey,password).',
    );
    expect(probeFailureReason({ code: 1, stderr: '' })).toBe('ssh exited with 1 and said nothing');
  });
});
