// `provision swarm` against a lab of real robots with real Docker engines forming a real swarm.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import {
  assertLabRoute,
  assertNoSecrets,
  finishLab,
  editInventory,
  fileHashes,
  lab,
  labDown,
  labUp,
  newOperator,
  onRobot,
  provision,
  type Operator,
} from './harness.js';

let inventory: string;
let op: Operator;
const tokens: string[] = [];

interface NodeRow {
  ID: string;
  Hostname: string;
  ManagerStatus: string;
  Status: string;
}
function nodeLs(on: string): NodeRow[] {
  return onRobot(on, "docker node ls --format '{{json .}}'")
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as NodeRow);
}
const clusterId = (on: string) => onRobot(on, "docker info --format '{{.Swarm.Cluster.ID}}'").trim();
const swarmState = (on: string) => onRobot(on, "docker info --format '{{.Swarm.LocalNodeState}}'").trim();

beforeAll(async () => {
  labDown();
  inventory = labUp(3);
  for (const ip of ['10.88.0.11', '10.88.0.12', '10.88.0.13']) assertLabRoute(ip);
  op = newOperator();
  const keys = await provision(op, ['keys', '-i', inventory]);
  expect(keys.code).toBe(0);
}, 180_000);

afterAll(() => finishLab(op, tokens), 120_000);

describe('provision swarm on a lab of three', () => {
  it('a dry run plans init and joins and changes nothing', async () => {
    const run = await provision(op, ['swarm', '-i', inventory, '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Anton\s+changed\s+manager\s+would run docker swarm init --advertise-addr 10\.88\.0\.11/);
    expect(run.stdout).toMatch(/Ida\s+changed\s+manager\s+would write ~\/swarm_tokens \(manager token\) and join as manager/);
    expect(swarmState('Anton')).toBe('inactive');
  }, 60_000);

  it('forms one swarm of three managers with labels and per-role token files', async () => {
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Anton\s+changed\s+manager\s+initialised a new swarm/);
    expect(run.stdout).toMatch(/Ida\s+joined\s+manager/);
    expect(run.stdout).toMatch(/Otto\s+joined\s+manager/);
    expect(run.stdout).toContain('3 managers — tolerates 1 failure');
    const nodes = nodeLs('Anton');
    expect(nodes.map((n) => n.Hostname).sort()).toEqual(['Anton', 'Ida', 'Otto']);
    expect(nodes.every((n) => n.ManagerStatus === 'Leader' || n.ManagerStatus === 'Reachable')).toBe(true);
    const cluster = clusterId('Anton');
    expect(clusterId('Ida')).toBe(cluster);
    const labels = JSON.parse(onRobot('Anton', "docker node inspect --format '{{json .Spec.Labels}}' Otto")) as Record<string, string>;
    expect(labels).toMatchObject({
      CAN_BECOME_MANAGER: 'true',
      CAN_BECOME_LEADER: 'true',
      CPU_ARCHITECTURE: onRobot('Otto', 'uname -m').trim(),
      RAM_GE4: 'true',
    });
    expect(Number(labels.CPU_COUNT)).toBeGreaterThan(0);
    for (const r of ['Anton', 'Ida', 'Otto']) {
      expect(onRobot(r, 'cd && stat -c "%n %a" swarm_tokens swarm_tokens/*').trim().split('\n')).toEqual([
        'swarm_tokens 700',
        'swarm_tokens/advertise_addr 600',
        'swarm_tokens/join_addresses 600',
        'swarm_tokens/manager_token 600',
      ]);
      expect(onRobot(r, 'cat ~/swarm_tokens/join_addresses')).toBe('10.88.0.11:2377\n10.88.0.12:2377\n10.88.0.13:2377\n');
    }
    tokens.push(onRobot('Ida', 'cat ~/swarm_tokens/manager_token').trim(), onRobot('Anton', 'docker swarm join-token -q worker').trim());
    expect(tokens[0]).toMatch(/^SWMTKN-1-/);
  }, 180_000);

  it('a re-run changes nothing: same cluster, byte-identical token files', async () => {
    const cluster = clusterId('Ida');
    const before = ['Anton', 'Ida', 'Otto'].map((r) => fileHashes(r, 'swarm_tokens'));
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('nothing to change');
    expect(clusterId('Ida')).toBe(cluster);
    expect(['Anton', 'Ida', 'Otto'].map((r) => fileHashes(r, 'swarm_tokens'))).toEqual(before);
  }, 120_000);

  it("a robot that left behind the tool's back is back after the next run, with no stale node", async () => {
    onRobot('Otto', 'docker swarm leave --force');
    expect(swarmState('Otto')).toBe('inactive');
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Otto\s+joined\s+manager/);
    expect(swarmState('Otto')).toBe('active');
    const nodes = nodeLs('Anton');
    expect(nodes.filter((n) => n.Hostname === 'Otto')).toHaveLength(1);
    expect(nodes.every((n) => n.Status === 'Ready')).toBe(true);
  }, 180_000);

  it('a robot in a foreign swarm is refused and reported; the rest proceed', async () => {
    onRobot('Otto', 'docker swarm leave --force && docker swarm init --advertise-addr 10.88.0.13 >/dev/null');
    const foreign = clusterId('Otto');
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Otto\s+failed\s+.*different swarm/);
    expect(run.stdout).toMatch(/Anton\s+(ok|changed)/);
    expect(clusterId('Otto')).toBe(foreign); // left untouched
    onRobot('Otto', 'docker swarm leave --force');
    const again = await provision(op, ['swarm', '-i', inventory]);
    expect(again.code).toBe(0);
    expect(clusterId('Otto')).toBe(clusterId('Anton'));
  }, 180_000);

  it("with the leader's link down, a newly added robot joins through another manager; no new swarm", async () => {
    const cluster = clusterId('Ida');
    labUp(4); // Emil
    const keys = await provision(op, ['keys', '-i', inventory]);
    expect(keys.code).toBe(0);
    lab('link', 'Anton', 'down');
    try {
      const run = await provision(op, ['swarm', '-i', inventory, '--connect-timeout', '3']);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/Anton\s+unreachable/);
      expect(run.stdout).toMatch(/Emil\s+joined\s+worker/);
      expect(swarmState('Emil')).toBe('active');
      expect(clusterId('Ida')).toBe(cluster);
      expect(nodeLs('Ida').map((n) => n.Hostname)).toContain('Emil');
    } finally {
      lab('link', 'Anton', 'up');
    }
  }, 240_000);

  it('never printed or logged a token, password or private key', () => {
    assertNoSecrets(op, tokens);
  });
});

describe('quorum rules on bigger labs', () => {
  it('five robots where two may not manage: three managers among the other three', async () => {
    labDown();
    const base = labUp(5);
    const op5 = newOperator();
    const inv = editInventory(base, join(op5.home, 'five.yaml'), (doc) => {
      doc.setIn(['robots', 0, 'canBecomeManager'], false);
      doc.setIn(['robots', 0, 'canBecomeLeader'], false);
      doc.setIn(['robots', 3, 'canBecomeManager'], false);
    });
    expect((await provision(op5, ['keys', '-i', inv])).code).toBe(0);
    const run = await provision(op5, ['swarm', '-i', inv]);
    expect(run.code).toBe(0);
    const managers = nodeLs('Ida')
      .filter((n) => n.ManagerStatus !== '')
      .map((n) => n.Hostname)
      .sort();
    expect(managers).toEqual(['Ida', 'Otto', 'Paula']);
    const labels = JSON.parse(onRobot('Ida', "docker node inspect --format '{{json .Spec.Labels}}' Anton")) as Record<string, string>;
    expect(labels.CAN_BECOME_MANAGER).toBe('false');
    assertNoSecrets(op5);
  }, 300_000);

  it('nine robots in zones a×4, b×3, c×2: seven managers spread 3-2-2', async () => {
    labDown();
    const base = labUp(9, { LAB_ZONES: 'a:4,b:3,c:2' });
    const op9 = newOperator();
    expect((await provision(op9, ['keys', '-i', base])).code).toBe(0);
    const run = await provision(op9, ['swarm', '-i', base]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('7 managers — tolerates 3 failures');
    const zoneOf = (name: string) =>
      ['Anton', 'Ida', 'Otto', 'Emil'].includes(name) ? 'a' : ['Paula', 'Bruno', 'Clara'].includes(name) ? 'b' : 'c';
    const managers = nodeLs('Anton').filter((n) => n.ManagerStatus !== '');
    expect(managers).toHaveLength(7);
    const perZone = { a: 0, b: 0, c: 0 };
    for (const m of managers) perZone[zoneOf(m.Hostname)]++;
    expect(perZone).toEqual({ a: 3, b: 2, c: 2 });
    assertNoSecrets(op9);
  }, 400_000);
});
