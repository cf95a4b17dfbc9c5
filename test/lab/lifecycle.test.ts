// The fleet over its lifetime, on a real lab of 5: `provision up` (keys then swarm, one login per
// robot), `--limit` (only the named robot changes), labels that follow the inventory (removed when
// dropped, hand-set ones kept), and drift (a node of no inventory robot reported, removed only with --prune).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  LAB_DIR,
  assertLabRoute,
  editInventory,
  finishLab,
  lab,
  labDown,
  labUp,
  newOperator,
  onRobot,
  provision,
  type Operator,
} from './harness.js';

const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil', 'Paula'];
let op: Operator;
let labInventory: string;
let inventory: string;
const ips = new Map<string, string>();

interface NodeState {
  ID: string;
  Version: { Index: number };
  Spec: { Labels: Record<string, string> };
}
function nodes(on = 'Anton'): NodeState[] {
  return onRobot(on, "docker node inspect --format '{{json .}}' $(docker node ls -q)")
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as NodeState);
}
const nodeIdOf = (r: string) => lab('rexec', r, 'docker', 'info', '--format', '{{.Swarm.NodeID}}').trim();
const nodeOf = (r: string) => nodes().find((n) => n.ID === nodeIdOf(r)) as NodeState;
const versions = () => Object.fromEntries(ROBOTS.map((r) => [r, nodeOf(r)?.Version.Index]));

/** Logins sshd accepted from the operator (not from a robot: the mesh check's logins come from robots). */
function operatorLogins(robot: string): number {
  const robotIps = new Set(ips.values());
  return readFileSync(join(LAB_DIR, robot, 'sshd.log'), 'utf8')
    .split('\n')
    .filter((l) => /Accepted \S+ for /.test(l))
    .filter((l) => !robotIps.has(/ from (\S+)/.exec(l)?.[1] ?? '')).length;
}

function withLabels(labels: Record<string, Record<string, string>>, file: string, only?: string[]): string {
  return editInventory(labInventory, join(LAB_DIR, file), (doc) => {
    ROBOTS.forEach((name, i) => {
      if (labels[name]) doc.setIn(['robots', i, 'labels'], doc.createNode(labels[name]));
    });
    if (only) for (let i = ROBOTS.length - 1; i >= 0; i--) if (!only.includes(ROBOTS[i] as string)) doc.deleteIn(['robots', i]);
  });
}

beforeAll(() => {
  labDown();
  labInventory = labUp(5);
  for (const r of ROBOTS) {
    ips.set(r, lab('ip', r).trim());
    assertLabRoute(ips.get(r) as string);
  }
  inventory = withLabels({ Otto: { COLOR: 'red', OLD: 'true' }, Ida: { COLOR: 'red' } }, 'lifecycle.yaml');
  op = newOperator();
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('provision up', () => {
  it('on a fresh lab: keys and swarm in one run, one operator login per robot, ssh by name works, 5 nodes', async () => {
    const before = ROBOTS.map(operatorLogins);
    const run = await provision(op, ['up', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SSH mesh verified/);
    expect(ROBOTS.map(operatorLogins).map((n, i) => n - (before[i] ?? 0))).toEqual([1, 1, 1, 1, 1]);
    expect(onRobot('Anton', 'ssh -o BatchMode=yes Ida hostname').trim()).toBe(lab('rexec', 'Ida', 'hostname').trim());
    expect(nodes().length).toBe(5);
    expect(nodeOf('Otto').Spec.Labels).toMatchObject({ COLOR: 'red', OLD: 'true' });
  }, 300_000);

  it('a second up reports nothing to change and updates no node', async () => {
    const before = versions();
    const run = await provision(op, ['up', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('nothing to change');
    expect(versions()).toEqual(before);
  }, 180_000);

  it('an unknown --limit name is bad input: exit 2, named, before any connection', async () => {
    const logins = ROBOTS.map(operatorLogins);
    const run = await provision(op, ['up', '-i', inventory, '--limit', 'Otto,Nobody']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no robot named "Nobody"/);
    expect(ROBOTS.map(operatorLogins)).toEqual(logins);
  }, 60_000);
});

describe('--limit and labels that follow the inventory', () => {
  it("--limit Otto after Otto's and Ida's labels changed: only Otto's node is updated; a hand-set label stays", async () => {
    onRobot('Anton', `docker node update --label-add BY_HAND=x ${nodeIdOf('Otto')} >/dev/null`);
    inventory = withLabels({ Otto: { COLOR: 'blue' }, Ida: { COLOR: 'green' } }, 'lifecycle.yaml');
    const before = versions();
    const run = await provision(op, ['up', '-i', inventory, '--limit', 'Otto']);
    expect(run.code).toBe(0);
    const after = versions();
    for (const r of ROBOTS.filter((x) => x !== 'Otto')) expect([r, after[r]]).toEqual([r, before[r]]);
    expect(after.Otto).toBeGreaterThan(before.Otto as number);
    const labels = nodeOf('Otto').Spec.Labels;
    expect(labels).toMatchObject({ COLOR: 'blue', BY_HAND: 'x' });
    expect(labels.OLD).toBeUndefined();
    expect(nodeOf('Ida').Spec.Labels.COLOR).toBe('red'); // outside the limit: not changed
    expect(run.stdout).toMatch(/Ida .*outside --limit, not changed; would update labels: COLOR=green/s);
  }, 180_000);

  it('a label deleted from the inventory is gone after swarm, a hand-set one is still there; the re-run changes nothing', async () => {
    onRobot('Anton', `docker node update --label-add BY_HAND=y ${nodeIdOf('Ida')} >/dev/null`);
    inventory = withLabels({ Otto: { COLOR: 'blue' }, Ida: {} }, 'lifecycle.yaml');
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    const labels = nodeOf('Ida').Spec.Labels;
    expect(labels.COLOR).toBeUndefined();
    expect(labels.BY_HAND).toBe('y');
    const before = versions();
    const again = await provision(op, ['swarm', '-i', inventory]);
    expect(again.stdout).toContain('nothing to change');
    expect(versions()).toEqual(before);
  }, 180_000);
});

describe('drift', () => {
  it('a node of no inventory robot is reported, not removed, without --prune; so are block lines trusting it', async () => {
    const four = withLabels({ Otto: { COLOR: 'blue' } }, 'lifecycle-four.yaml', ['Anton', 'Ida', 'Otto', 'Emil']);
    const paulaNode = nodeIdOf('Paula');
    const status = await provision(op, ['status', '-i', four]);
    expect(status.stdout).toMatch(new RegExp(`drift: .*${paulaNode.slice(0, 12)}`));
    const run = await provision(op, ['up', '-i', four]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`drift: 1 node of no inventory robot: .*${paulaNode.slice(0, 12)}.* kept; --prune removes them`));
    expect(run.stdout).toMatch(/Anton .*drift: its managed blocks still trust robots not in the inventory: Paula/s);
    expect(nodes().some((n) => n.ID === paulaNode)).toBe(true);
    expect(onRobot('Anton', 'cat ~/.ssh/authorized_keys')).toContain('provision:robot:Paula');
  }, 240_000);
});
