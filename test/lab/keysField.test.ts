// `provision keys` in the field: sshd's StrictModes (a loose ~/.ssh is fixed, a home writable by
// others is named with its fix) and the mesh check after writing (robots log in to each other by
// name; a failure is pinned on the robot to blame). Real sshd, real users, real files.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendFileSync } from 'node:fs';
import {
  LAB_DIR,
  assertLabRoute,
  finishLab,
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
const IPS = ['10.88.0.11', '10.88.0.12', '10.88.0.13'];

let inventory: string;
let op: Operator;
let userKey: string;

beforeAll(() => {
  labDown();
  inventory = labUp(3);
  for (const ip of IPS) assertLabRoute(ip);
  op = newOperator();
  // Anton's user: a group-writable ~/.ssh, and an authorized_keys of their own whose last line has no newline.
  userKey = join(op.home, 'anton-own-key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'anton-own', '-f', userKey]);
  const pub = readFileSync(`${userKey}.pub`, 'utf8').trim();
  onRobot(
    'Anton',
    `mkdir -p ~/.ssh && chmod 770 ~/.ssh && printf '%s' '${pub}' > ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys`,
  );
  // Ida's home is writable by others: sshd (StrictModes) ignores her authorized_keys.
  lab('rexec', 'Ida', 'chmod', 'o+w', '/home/ida');
  // Otto's sshd gets a second host key (ecdsa), as real robots have: a probe must not add it to anyone's known_hosts.
  const ecdsa = join(LAB_DIR, 'Otto', 'ssh_host_ecdsa_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ecdsa]);
  appendFileSync(join(LAB_DIR, 'Otto', 'sshd_config'), `HostKey ${ecdsa}\n`);
  lab('sshd', 'Otto', 'stop');
  lab('sshd', 'Otto', 'start');
}, 120_000);

afterAll(() => finishLab(op), 120_000);

describe('provision keys in the field', () => {
  it('fixes a group-writable ~/.ssh; names a home writable by others with the fix; the mesh check shows who cannot be reached and why', async () => {
    const run = await provision(op, ['keys', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(reportRows(run.stdout, 'Anton')).toMatch(/^ {2}Anton\s+changed\s.*\n(.*\n)*.*set ~\/\.ssh to 700/);
    expect(onRobot('Anton', 'stat -c %a ~/.ssh').trim()).toBe('700');

    const ida = reportRows(run.stdout, 'Ida');
    expect(ida).toMatch(/^ {2}Ida\s+failed/);
    expect(ida).toContain(
      'the home directory /home/ida is writable by others (mode 757): sshd ignores ~/.ssh/authorized_keys (StrictModes)',
    );
    expect(ida).toContain('Fix: chmod go-w /home/ida');
    expect(ida).toMatch(
      /SSH mesh check: no robot could log in to it by name \(ssh Ida from Anton, Otto\): ida@10\.88\.0\.12: Permission denied \(publickey/,
    );
    expect(onRobot('Ida', 'stat -c %a /home/ida').trim()).toBe('757'); // the home is the operator's to change

    for (const r of ['Anton', 'Otto']) expect(reportRows(run.stdout, r)).toMatch(new RegExp(`^  ${r}\\s+changed`));
    expect(run.stdout).toContain('note: SSH mesh: 2 of 3 robots verified');
  }, 120_000);

  it("the user's own key, on a last line without a newline, still logs in after keys", () => {
    expect(onRobot('Anton', 'head -c 200 ~/.ssh/authorized_keys')).toMatch(/^ssh-ed25519 \S+ anton-own\n# BEGIN provision/);
    assertLabRoute(IPS[0] as string);
    const out = execFileSync(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-i',
        userKey,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'LogLevel=ERROR',
        'anton@10.88.0.11',
        'hostname',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(out.trim()).toBe('Anton');
  });

  it('after the home is fixed a re-run exits 0 with the mesh verified; a managed file with a loose mode is set back to 600', async () => {
    lab('rexec', 'Ida', 'chmod', 'go-w', '/home/ida');
    onRobot('Otto', 'chmod 644 ~/.ssh/authorized_keys');
    const run = await provision(op, ['keys', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(reportRows(run.stdout, 'Otto')).toMatch(/^ {2}Otto\s+changed\s+updated ~\/\.ssh\/authorized_keys \(mode 644 → 600\)/);
    expect(onRobot('Otto', 'stat -c %a ~/.ssh/authorized_keys').trim()).toBe('600');
    expect(reportRows(run.stdout, 'Ida')).toMatch(/^ {2}Ida\s+ok/);
    expect(run.stdout).toMatch(/note: SSH mesh verified: each of the 3 robots reached logs in to another by name and is logged in to/);
    // Ida's probe of Otto wrote nothing: no ecdsa line appended after the managed block (ssh's UpdateHostKeys).
    expect(onRobot('Ida', 'cat ~/.ssh/known_hosts')).toMatch(/^# BEGIN provision[^\n]*\n(\S+ ssh-ed25519 \S+\n){3}# END provision\n$/);
    for (const from of ROBOTS)
      for (const to of ROBOTS) expect(onRobot(from, `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes ${to} hostname`).trim()).toBe(to);
  }, 120_000);

  it('a pair that cannot talk is pinned on its source; --no-verify and a dry run skip the check', async () => {
    // Otto's packets to Anton are refused by a route inside Otto (lab addresses only): Otto → Anton fails, the rest works.
    lab('rexec', 'Otto', 'ip', 'route', 'add', 'prohibit', '10.88.0.11/32');
    try {
      const run = await provision(op, ['keys', '-i', inventory]);
      expect(run.code).toBe(1);
      const otto = reportRows(run.stdout, 'Otto');
      expect(otto).toMatch(
        /^ {2}Otto\s+failed\s+SSH mesh check: ssh Anton failed here \(Anton is reachable from others, and this robot reaches others\): .*10\.88\.0\.11/,
      );
      for (const r of ['Anton', 'Ida']) expect(reportRows(run.stdout, r)).toMatch(new RegExp(`^  ${r}\\s+ok`));

      const skipped = await provision(op, ['keys', '-i', inventory, '--no-verify']);
      expect(skipped.code).toBe(0);
      expect(skipped.stdout).not.toMatch(/SSH mesh/);
      expect(skipped.stdout).toContain('nothing to change');

      const dry = await provision(op, ['keys', '-i', inventory, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).not.toMatch(/SSH mesh/);
    } finally {
      lab('rexec', 'Otto', 'ip', 'route', 'del', 'prohibit', '10.88.0.11/32');
    }
  }, 120_000);
});
