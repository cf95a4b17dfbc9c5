// The boot-time join on a lab of real robots: a robot that left the swarm runs the installed
// provision-join.sh and is back in, as the manager it was, advertising its static address. Then no join
// token in any process's arguments during swarm, up, rotate --token and the boot-time join.
// The installer runs on Ida into a folder of Ida's home (the lab's robots share the host's /usr and
// /etc, and run no systemd), through the same command and stdin the CLI sends.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { quote } from '../../src/remote/shell.js';
import { installServiceCommand, parseInstallOutput, SCRIPT_PATH, UNIT_PATH, type InstallResult } from '../../src/steps/service.js';
import { sampleArgv } from './argv.js';
import { assertLabRoute, finishLab, labDown, labUp, newOperator, onRobot, provision, reportRows, type Operator } from './harness.js';

const ROOT = '/home/ida/provision-root'; // Ida's home in the lab: /home/<lowercase name>
let inventory: string;
let op: Operator;
const tokens: string[] = [];

const swarmState = (on: string) => onRobot(on, "docker info --format '{{.Swarm.LocalNodeState}}'").trim();
interface NodeRow {
  ID: string;
  Hostname: string;
  Status: string;
  ManagerStatus: string;
}
const nodeLs = (on: string) =>
  onRobot(on, "docker node ls --format '{{json .}}'")
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as NodeRow);

/** Run the installer on Ida as Ida's user, its stdin carried inside the command line (lab exec has none). */
function installOnIda(): InstallResult {
  const plan = installServiceCommand('ida', false, { root: ROOT, advertiseAddr: '10.88.0.12' });
  const stdin = Buffer.from(plan.stdin, 'utf8').toString('base64');
  return parseInstallOutput(onRobot('Ida', `printf %s ${quote(stdin)} | base64 -d | ${plan.command}`));
}

/**
 * Ida leaves the swarm. A manager that leaves with --force stays a (down) Raft member, so the node it
 * was is removed on Anton first, keeping three live managers of three and the quorum safe.
 */
function idaLeaves(): void {
  const old = onRobot('Ida', "docker info --format '{{.Swarm.NodeID}}'").trim();
  onRobot('Ida', 'docker swarm leave --force');
  expect(swarmState('Ida')).toBe('inactive');
  onRobot('Anton', `docker node demote ${quote(old)} >/dev/null; docker node rm --force ${quote(old)} >/dev/null`);
}

/** Run the installed script on Ida; returns its exit code and what it said (stderr and stdout). */
function joinOnIda(env: string): { code: number; out: string } {
  const out = onRobot('Ida', `${env} ${ROOT}${SCRIPT_PATH} 2>&1; echo "exit=$?"`);
  const code = Number(/exit=(\d+)\s*$/.exec(out)?.[1] ?? -1);
  return { code, out };
}

beforeAll(async () => {
  labDown();
  inventory = labUp(3);
  for (const ip of ['10.88.0.11', '10.88.0.12', '10.88.0.13']) assertLabRoute(ip);
  op = newOperator();
  expect((await provision(op, ['keys', '-i', inventory])).code).toBe(0);
  const swarm = await provision(op, ['swarm', '-i', inventory]);
  expect(swarm.stderr).toBe('');
  expect(swarm.code).toBe(0);
  tokens.push(onRobot('Ida', 'cat ~/swarm_tokens/manager_token').trim());
}, 300_000);

afterAll(() => finishLab(op, tokens), 120_000);

describe('boot-time join on a lab of three', () => {
  it('installs the script and the unit (root-owned, user substituted) and advertise_addr, idempotently', () => {
    expect(installOnIda()).toEqual({ changed: ['script', 'unit'], systemd: true, enabled: false });
    expect(installOnIda().changed).toEqual([]);
    expect(onRobot('Ida', `stat -c '%a %u' ${ROOT}${SCRIPT_PATH} ${ROOT}${UNIT_PATH}`).trim().split('\n')).toEqual(['755 0', '644 0']);
    expect(onRobot('Ida', `grep '^User=' ${ROOT}${UNIT_PATH}`).trim()).toBe('User=ida');
    expect(onRobot('Ida', 'cd && stat -c "%a" swarm_tokens/advertise_addr && cat swarm_tokens/advertise_addr')).toBe('600\n10.88.0.12\n');
  }, 60_000);

  it('does nothing on a robot that is in the swarm', () => {
    const run = joinOnIda('PROVISION_JOIN_ATTEMPTS=3');
    expect(run.code).toBe(0);
    expect(run.out).toContain('in a swarm already (state: active): nothing to do');
  }, 60_000);

  it('brings a robot that left the swarm back in, as a manager, advertising its static address', () => {
    idaLeaves();
    const run = joinOnIda('PROVISION_JOIN_ATTEMPTS=3 PROVISION_JOIN_SLEEP=2');
    expect(run.out).toContain('joined the swarm as manager via 10.88.0.11:2377 (advertising 10.88.0.12)');
    expect(run.code).toBe(0);
    expect(run.out).not.toMatch(/SWMTKN-1-[0-9a-z]{20,}/);
    expect(swarmState('Ida')).toBe('active');
    expect(onRobot('Ida', "docker info --format '{{.Swarm.NodeAddr}} {{.Swarm.ControlAvailable}}'").trim()).toBe('10.88.0.12 true');
    const ida = nodeLs('Anton').filter((n) => n.Hostname === 'Ida');
    expect(ida.some((n) => n.Status === 'Ready' && n.ManagerStatus === 'Reachable')).toBe(true);
  }, 120_000);

  it('skips a manager that is down (its join left pending is cancelled) and joins via the next', () => {
    idaLeaves();
    // A lab address with no robot behind it, listed first: docker's join to it times out, pending.
    onRobot('Ida', 'cd && { echo 10.88.0.99:2377; cat swarm_tokens/join_addresses; } > j && cat j > swarm_tokens/join_addresses && rm j');
    const run = joinOnIda('PROVISION_JOIN_ATTEMPTS=2 PROVISION_JOIN_SLEEP=1 PROVISION_JOIN_PENDING_WAIT=2');
    expect(run.out).toContain('still pending after 2s via 10.88.0.99:2377: cancelling that attempt');
    expect(run.out).toContain('joined the swarm as manager via 10.88.0.11:2377');
    expect(run.code).toBe(0);
    expect(swarmState('Ida')).toBe('active');
  }, 120_000);

  it('says what to do, and fails, when no manager takes it', () => {
    idaLeaves();
    onRobot('Ida', 'cd && echo 10.88.0.13:2999 > swarm_tokens/join_addresses'); // Otto is up, nothing listens there
    const run = joinOnIda('PROVISION_JOIN_ATTEMPTS=2 PROVISION_JOIN_SLEEP=1 PROVISION_JOIN_PENDING_WAIT=1');
    expect(run.code).toBe(1);
    expect(run.out).toContain('round 2/2: joining via 10.88.0.13:2999 failed');
    expect(run.out).toContain('could not join the swarm as manager after 2 round(s) over 1 manager address(es)');
    expect(swarmState('Ida')).toBe('inactive');
  }, 180_000);
});

// The whole machine's processes sampled every few ms (test/lab/argv.ts): the robots share its PID namespace,
// and the operator's provision runs on it. A canary process on Otto with a token-like argument must be
// seen, and each step's own processes (witnesses), so that no finding can come from looking at nothing.
describe("no join token in any process's arguments, on a robot or the laptop", () => {
  const JOIN = /^docker system dial-stdio$/; // the join's only process (src/remote/scripts/engine-join.sh)
  async function sampled(witnesses: Record<string, RegExp>, work: () => Promise<void> | void): Promise<void> {
    const sample = await sampleArgv('Otto', witnesses, work);
    expect(Object.keys(sample.witnessed).sort()).toEqual(Object.keys(witnesses).sort());
    expect(sample.tokens).toEqual([sample.canary]);
    expect(sample.msPerRound).toBeLessThan(50);
  }

  it('during provision swarm, which takes the robot back in and tidies up', async () => {
    await sampled({ provision: /dist\/cli\.js swarm /, join: JOIN }, async () => {
      const run = await provision(op, ['swarm', '-i', inventory]);
      expect(run.code).toBe(0);
    });
    expect(swarmState('Ida')).toBe('active');
    expect(onRobot('Ida', 'cat ~/swarm_tokens/join_addresses')).toBe('10.88.0.11:2377\n10.88.0.12:2377\n10.88.0.13:2377\n');
  }, 300_000);

  it('during provision up, a robot joining again', async () => {
    idaLeaves();
    await sampled({ provision: /dist\/cli\.js up /, join: JOIN }, async () => {
      const run = await provision(op, ['up', '-i', inventory]);
      expect(run.code).toBe(0);
      expect(reportRows(run.stdout, 'Ida')).toMatch(/joined as manager/);
    });
  }, 300_000);

  it('during provision rotate --token both', async () => {
    await sampled({ provision: /dist\/cli\.js rotate /, read: /^docker swarm join-token -q manager$/ }, async () => {
      const run = await provision(op, ['rotate', '--token', 'both', '-i', inventory]);
      expect(run.code).toBe(0);
    });
    const rotated = onRobot('Ida', 'cat ~/swarm_tokens/manager_token').trim();
    expect(rotated).toMatch(/^SWMTKN-1-/);
    expect(rotated).not.toBe(tokens[0]);
    tokens.push(rotated);
  }, 300_000);

  it('during the boot-time join, with the rotated token', async () => {
    idaLeaves();
    await sampled({ script: /provision-join\.sh/, join: JOIN }, () => {
      const run = joinOnIda('PROVISION_JOIN_ATTEMPTS=3 PROVISION_JOIN_SLEEP=1');
      expect(run.out).toContain('joined the swarm as manager via 10.88.0.11:2377');
      expect(run.code).toBe(0);
    });
    expect(swarmState('Ida')).toBe('active');
  }, 120_000);
});
