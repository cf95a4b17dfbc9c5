// A fleet reached only through one jump robot: Ida's and Otto's addresses are not routed from this
// host (lab.sh hide), only from Anton. The operator's own ~/.ssh/config says so, as for ssh itself.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_DIR, assertLabRoute, finishLab, lab, labDown, labUp, newOperator, onRobot, provision, type Operator } from './harness.js';

let inventory: string;
let op: Operator;

beforeAll(() => {
  labDown();
  inventory = labUp(3);
  assertLabRoute(lab('ip', 'Anton').trim());
  lab('hide', 'Ida', 'on');
  lab('hide', 'Otto', 'on');
  op = newOperator();
}, 120_000);

afterAll(() => finishLab(op), 120_000);

function writeSshConfig(text: string): void {
  mkdirSync(join(op.home, '.ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(join(op.home, '.ssh', 'config'), text, { mode: 0o600 });
}

describe('a fleet behind a jump robot', () => {
  it('StrictHostKeyChecking yes in ~/.ssh/config: a robot whose key is not known is refused, nothing recorded', async () => {
    writeSshConfig('Host Anton\n  StrictHostKeyChecking yes\n');
    const run = await provision(op, ['status', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /Anton: failed: Anton's host key SHA256:\S+ is not in ~\/\.ssh\/known_hosts, and ~\/\.ssh\/config says StrictHostKeyChecking yes/,
    );
    expect(existsSync(join(op.home, '.ssh', 'known_hosts'))).toBe(false);
    rmSync(join(op.home, '.ssh', 'config'));
  }, 60_000);

  it("without the operator's ProxyJump the hidden robots are not contacted at all", async () => {
    const run = await provision(op, ['keys', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Ida\s+failed\s+refused: no route to 10\.88\.0\.12/);
    expect(run.stdout).toMatch(/Otto\s+failed\s+refused: no route to 10\.88\.0\.13/);
  }, 60_000);

  it('keys and a swarm through the jump host named in ~/.ssh/config (matched by robot name and by address)', async () => {
    writeSshConfig(['Host gate', '  HostName 10.88.0.11', '  User anton', '', 'Host Ida 10.88.0.13', '  ProxyJump gate', ''].join('\n'));
    const keys = await provision(op, ['keys', '-i', inventory]);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toMatch(/Ida\s+changed/);
    expect(keys.stdout).toMatch(/Otto\s+changed/);
    expect(onRobot('Anton', 'ssh -o BatchMode=yes Otto hostname').trim()).toBe('Otto');
    const swarm = await provision(op, ['swarm', '-i', inventory]);
    expect(swarm.code).toBe(0);
    const nodes = onRobot('Anton', "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'").trim().split('\n').sort();
    expect(nodes).toEqual(['Anton Leader', 'Ida Reachable', 'Otto Reachable']);
    // Ida's sshd saw every login come from Anton, the jump host, never from this host (the bridge, .1).
    const logins = readFileSync(join(LAB_DIR, 'Ida', 'sshd.log'), 'utf8')
      .split('\n')
      .filter((l) => /Accepted \S+ for ida from/.test(l));
    expect(logins.length).toBeGreaterThan(0);
    for (const l of logins) expect(l).toMatch(/from 10\.88\.0\.11 /);
    const again = await provision(op, ['swarm', '-i', inventory]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to change/);
  }, 240_000);

  it('a jump host that cannot be reached names itself in every robot behind it, within its ConnectTimeout', async () => {
    writeSshConfig(
      ['Host gate', '  HostName 10.88.0.99', '  User anton', '  ConnectTimeout 1', '', 'Host Ida Otto', '  ProxyJump gate', ''].join('\n'),
    );
    const run = await provision(op, ['status', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /Ida: unreachable: via jump host gate \(anton@10\.88\.0\.99:22\): no answer from 10\.88\.0\.99:22 within 1 s/,
    );
    expect(run.stdout).toMatch(/Otto: unreachable: via jump host gate/);
  }, 60_000);
});
