// `provision keys` against a lab of real robots: real sshd, real users, real files.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertLabRoute,
  assertNoSecrets,
  editInventory,
  finishLab,
  fileHashes,
  LAB_DIR,
  lab,
  labDown,
  labUp,
  newOperator,
  onRobot,
  provision,
  reportRows,
  type Operator,
} from './harness.js';

const ROBOTS = ['Anton', 'Ida', 'Otto'];
const USER_CONFIG = 'ServerAliveInterval 42\nHost my-own-box\n    User someone\n';
const USER_AUTH = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeepThisUserKeyExactlyAsItWas user@elsewhere\n';
const USER_KNOWN = 'example.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserKnownHostLine\n';

let inventory: string;
let op: Operator;

beforeAll(() => {
  labDown();
  inventory = labUp(3);
  for (const ip of ['10.88.0.11', '10.88.0.12', '10.88.0.13']) assertLabRoute(ip);
  op = newOperator();
  // Anton's user already has SSH files of their own: they must survive byte for byte.
  onRobot(
    'Anton',
    `umask 077; mkdir -p ~/.ssh && printf '%s' '${USER_CONFIG}' > ~/.ssh/config && printf '%s' '${USER_AUTH}' > ~/.ssh/authorized_keys && printf '%s' '${USER_KNOWN}' > ~/.ssh/known_hosts`,
  );
}, 120_000);

afterAll(() => finishLab(op), 120_000);

describe('provision keys on a fresh lab of three', () => {
  it('a dry run changes nothing and says what it would do', async () => {
    const run = await provision(op, ['keys', '-i', inventory, '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Ida\s+changed/);
    expect(run.stdout).toMatch(/would have created ~\/\.ssh/);
    expect(run.stdout).toMatch(/first contact: host key SHA256:/);
    expect(run.stdout).toMatch(/would update ~\/\.ssh\/authorized_keys/);
    expect(onRobot('Ida', 'test -e ~/.ssh && echo exists || echo absent').trim()).toBe('absent');
  });

  it('first run: every robot changed, every robot reaches every other with ssh <Name>', async () => {
    const run = await provision(op, ['keys', '-i', inventory]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const r of ROBOTS) expect(run.stdout).toMatch(new RegExp(`${r}\\s+changed`));
    for (const from of ROBOTS) {
      for (const to of ROBOTS) {
        expect(onRobot(from, `ssh -o BatchMode=yes ${to} hostname`).trim()).toBe(to);
      }
    }
  }, 120_000);

  it('writes the files with mode 600 in a 700 ~/.ssh', () => {
    expect(
      onRobot('Ida', 'cd && stat -c "%n %a" .ssh .ssh/authorized_keys .ssh/known_hosts .ssh/config .ssh/id_ed25519').trim().split('\n'),
    ).toEqual(['.ssh 700', '.ssh/authorized_keys 600', '.ssh/known_hosts 600', '.ssh/config 600', '.ssh/id_ed25519 600']);
  });

  it('keeps the user lines byte for byte', () => {
    expect(onRobot('Anton', 'cat ~/.ssh/config')).toContain(USER_CONFIG);
    expect(onRobot('Anton', 'cat ~/.ssh/authorized_keys').startsWith(USER_AUTH)).toBe(true);
    expect(onRobot('Anton', 'cat ~/.ssh/known_hosts').startsWith(USER_KNOWN)).toBe(true);
  });

  it('a second run needs no password, changes nothing and leaves every file byte-identical', async () => {
    const before = ROBOTS.map((r) => fileHashes(r, '.ssh'));
    const run = await provision(op, ['keys', '-i', inventory], { PROVISION_PASSWORD: '' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('nothing to change');
    expect(run.stdout).not.toMatch(/changed/);
    expect(ROBOTS.map((r) => fileHashes(r, '.ssh'))).toEqual(before);
  }, 60_000);

  it('a robot whose link is down is unreachable within seconds; the others are done; a re-run completes it', async () => {
    labUp(4); // Emil joins the lab and the inventory
    lab('link', 'Ida', 'down');
    try {
      const run = await provision(op, ['keys', '-i', inventory, '--connect-timeout', '3']);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/Ida\s+unreachable\s+.*no answer from 10\.88\.0\.12:22 within 3 s/);
      expect(run.stdout).toMatch(/Emil\s+changed/);
      expect(run.ms).toBeLessThan(15_000);
      expect(onRobot('Emil', 'ssh -o BatchMode=yes Otto hostname').trim()).toBe('Otto');
    } finally {
      lab('link', 'Ida', 'up');
    }
    const again = await provision(op, ['keys', '-i', inventory]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Ida\s+changed/);
    expect(onRobot('Ida', 'ssh -o BatchMode=yes Emil hostname').trim()).toBe('Emil');
    expect(onRobot('Emil', 'ssh -o BatchMode=yes Ida hostname').trim()).toBe('Ida');
  }, 120_000);

  it('a robot whose host key changed is refused with both fingerprints; the others are done', async () => {
    lab('rekey', 'Otto');
    const run = await provision(op, ['keys', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Otto\s+failed\s+.*host key of Otto changed: known_hosts has SHA256:\S+, it now presents SHA256:\S+/);
    expect(run.stdout).toMatch(/ssh-keygen -R Otto/);
    for (const r of ['Anton', 'Ida', 'Emil']) expect(run.stdout).toMatch(new RegExp(`${r}\\s+ok`));
  }, 60_000);

  it('hostile names and addresses are refused before any connection', async () => {
    const fresh = newOperator();
    for (const [field, value] of [
      ['name', 'x;touch /tmp/p'],
      ['ip', '1.2.3.4 -oProxyCommand=x'],
      ['user', '$(reboot)'],
    ] as const) {
      const bad = editInventory(inventory, join(fresh.home, 'bad.yaml'), (doc) => doc.setIn(['robots', 1, field], value));
      const run = await provision(fresh, ['keys', '-i', bad]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`robots[1]`);
      expect(run.stderr).toContain(`field "${field}"`);
      expect(run.stdout).toBe('');
    }
    // Nothing connected: the log of every remote contact was never even created.
    expect(existsSync(join(fresh.logDir, 'provision.log'))).toBe(false);
    expect(existsSync('/tmp/p')).toBe(false);
  }, 60_000);

  it('no password, token or private key in any output or log', () => {
    assertNoSecrets(op);
    expect(readFileSync(join(op.logDir, 'provision.log'), 'utf8')).toMatch(/\[Ida\] \$ /);
  });
});

describe("the operator's known_hosts files, as OpenSSH reads them", () => {
  const labFile = (robot: string, file: string) => readFileSync(join(LAB_DIR, robot, file), 'utf8').trim();
  const hostKey = (robot: string) => labFile(robot, 'ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ');

  it('trusted from the GlobalKnownHostsFile or a second UserKnownHostsFile; new keys recorded hashed into the first, which real ssh accepts; a @revoked key refused', async () => {
    const fresh = newOperator();
    const sshDir = join(fresh.home, '.ssh');
    mkdirSync(sshDir, { mode: 0o700 });
    // The machine's /etc/ssh/ssh_known_hosts stays untouched: the test operator's config names its own global file.
    writeFileSync(
      join(sshDir, 'config'),
      'UserKnownHostsFile ~/.ssh/recorded ~/.ssh/team_hosts\nGlobalKnownHostsFile ~/global_known_hosts\nHashKnownHosts yes\n',
    );
    const global = `Anton ${hostKey('Anton')}\n`;
    const team = `10.88.0.12 ${hostKey('Ida')}\n`;
    writeFileSync(join(fresh.home, 'global_known_hosts'), global);
    writeFileSync(join(sshDir, 'team_hosts'), team);

    const run = await provision(fresh, ['keys', '-i', inventory, '--dry-run']);
    expect(run.code).toBe(0);
    for (const r of ['Otto', 'Emil'])
      expect(reportRows(run.stdout, r)).toMatch(/first contact: host key SHA256:\S+ recorded in ~\/\.ssh\/recorded/);
    for (const r of ['Anton', 'Ida']) expect(reportRows(run.stdout, r)).not.toMatch(/first contact/);
    expect(readFileSync(join(fresh.home, 'global_known_hosts'), 'utf8')).toBe(global);
    expect(readFileSync(join(sshDir, 'team_hosts'), 'utf8')).toBe(team);
    const recorded = join(sshDir, 'recorded');
    const lines = readFileSync(recorded, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4); // Otto and Emil, by name and by address, one hashed line each
    for (const l of lines) expect(l).toMatch(/^\|1\|\S+\|\S+ ssh-ed25519 AAAA\S+$/);
    for (const host of ['otto', '10.88.0.13', 'emil', '10.88.0.14'])
      expect(spawnSync('ssh-keygen', ['-F', host, '-f', recorded]).status).toBe(0);

    // Real OpenSSH, host key checked strictly against that file alone: by address, and by name (HostKeyAlias).
    for (const alias of [[], ['-o', 'HostKeyAlias=otto']]) {
      const ssh = spawnSync(
        'ssh',
        [
          ...['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=5'],
          ...['-o', `UserKnownHostsFile=${recorded}`, '-o', 'GlobalKnownHostsFile=/dev/null', ...alias],
          ...['-o', 'IdentitiesOnly=yes', '-i', join(op.home, '.ssh', 'id_ed25519')],
          `${labFile('Otto', 'user')}@10.88.0.13`,
          'hostname',
        ],
        { encoding: 'utf8' },
      );
      expect(ssh.stderr).not.toMatch(/Host key verification failed/);
      expect(ssh.stdout.trim()).toBe('Otto');
    }

    // Revoked in a user file while the global file still trusts it: refused, naming robot, key and file:line.
    appendFileSync(join(sshDir, 'team_hosts'), `@revoked * ${hostKey('Anton')}\n`);
    const revoked = await provision(fresh, ['keys', '-i', inventory, '--dry-run']);
    expect(revoked.code).toBe(1);
    expect(reportRows(revoked.stdout, 'Anton')).toMatch(
      /failed[\s\S]*Anton's host key SHA256:\S+ \(ssh-ed25519\) is marked @revoked at ~\/\.ssh\/team_hosts:2: refused, nothing was run on it/,
    );
    for (const r of ['Ida', 'Otto', 'Emil']) expect(reportRows(revoked.stdout, r)).toMatch(new RegExp(`^  ${r}\\s+(ok|changed)`));
    expect(readFileSync(recorded, 'utf8').trim().split('\n')).toHaveLength(4);
  }, 60_000);
});
