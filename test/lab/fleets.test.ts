// Real fleets are messier than a fresh lab: robots cloned from one image (same hostname, same
// engine ID), docker behind sudo with a password, sshd dropping handshakes, a fleet behind a jump
// host. Each made for real on the lab.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync, copyFileSync, cpSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  LAB_DIR,
  LAB_PASSWORD,
  assertLabRoute,
  editInventory,
  finishLab,
  lab,
  labDown,
  labUp,
  newOperator,
  onRobot,
  provision,
  reportRows,
  until,
  type Operator,
} from './harness.js';

let inventory: string;
let op: Operator;
const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil'];

interface NodeState {
  ID: string;
  Version: { Index: number };
  Description: { Hostname: string };
  Spec: { Labels: Record<string, string>; Role: string };
  Status: { State: string; Addr: string };
  ManagerStatus?: { Leader?: boolean };
}
function nodes(on: string): NodeState[] {
  return onRobot(on, "docker node inspect --format '{{json .}}' $(docker node ls -q)")
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as NodeState);
}
// as root: Otto's user may not use docker without sudo's password
const nodeIdOf = (r: string) => lab('rexec', r, 'docker', 'info', '--format', '{{.Swarm.NodeID}}').trim();

function restartDockerd(robot: string): void {
  lab('dockerd', robot, 'stop');
  lab('dockerd', robot, 'start');
}

beforeAll(async () => {
  labDown();
  const labInventory = labUp(4);
  for (const r of ROBOTS) assertLabRoute(lab('ip', r).trim());
  // Emil is a clone of Ida by hostname; Otto a clone of Anton by engine ID (its /etc/docker/key.json).
  lab('rexec', 'Emil', 'hostname', 'Ida');
  restartDockerd('Emil');
  copyFileSync(join(LAB_DIR, 'Anton', 'etc-docker', 'key.json'), join(LAB_DIR, 'Otto', 'etc-docker', 'key.json'));
  restartDockerd('Otto');
  // Otto's user may use docker only through sudo, and sudo asks for the password.
  lab('rexec', 'Otto', 'gpasswd', '-d', 'otto', 'docker');
  lab('sudo', 'Otto', 'password');
  inventory = editInventory(labInventory, join(LAB_DIR, 'fleets.yaml'), (doc) => {
    ROBOTS.forEach((name, i) => doc.setIn(['robots', i, 'labels'], doc.createNode({ ROBOT: name })));
    doc.setIn(['robots', 2, 'sudo'], true);
  });
  op = newOperator();
  expect((await provision(op, ['keys', '-i', inventory])).code).toBe(0);
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('cloned robots and docker behind sudo', () => {
  it('docker behind a sudo password: told to use --ask-become-pass, at once; the rest form the swarm', async () => {
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Otto\s+failed\s+.*sudo asks for a password: run with --ask-become-pass/);
    expect(run.ms).toBeLessThan(120_000); // no prompt waited for; the joins themselves take the time
    for (const r of ['Anton', 'Ida', 'Emil']) expect(nodeIdOf(r)).not.toBe('');
  }, 180_000);

  it('a wrong sudo password is refused clearly; the right one (given once) lets Otto join', async () => {
    const wrong = await provision(op, ['swarm', '-i', inventory], { PROVISION_BECOME_PASSWORD: 'not-the-sudo-pw' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/Otto\s+failed\s+.*sudo refused the password/);
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-sudo-pw');
    const run = await provision(op, ['swarm', '-i', inventory], { PROVISION_BECOME_PASSWORD: LAB_PASSWORD });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Otto\s+joined/);
    expect(onRobot('Otto', 'id -nG')).not.toMatch(/\bdocker\b/); // it really went through sudo
  }, 180_000);

  it('two robots with the same hostname both join, each with its own labels', () => {
    const byId = new Map(nodes('Anton').map((n) => [n.ID, n]));
    expect([...byId.values()].filter((n) => n.Description.Hostname === 'Ida')).toHaveLength(2);
    for (const r of ROBOTS) expect(byId.get(nodeIdOf(r))?.Spec.Labels.ROBOT).toBe(r);
  });

  it('a cloned engine ID is named, and does not stop the robot from joining', async () => {
    const run = await provision(op, ['swarm', '-i', inventory], { PROVISION_BECOME_PASSWORD: LAB_PASSWORD });
    expect(run.stdout).toMatch(/Otto\s+ok\s+.*same Docker engine ID as Anton/);
  }, 120_000);

  it('a second run prints that nothing changed and updates no node', async () => {
    const before = new Map(nodes('Anton').map((n) => [n.ID, n.Version.Index]));
    const run = await provision(op, ['swarm', '-i', inventory], { PROVISION_BECOME_PASSWORD: LAB_PASSWORD });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/nothing to change/i);
    expect(run.stdout).not.toMatch(/\bchanged\b.*labels/);
    const after = new Map(nodes('Anton').map((n) => [n.ID, n.Version.Index]));
    expect(after).toEqual(before); // a `docker node update` would have raised a node's version
  }, 120_000);
});

describe('sshd dropping handshakes', () => {
  it('a robot whose sshd allows one unauthenticated connection at a time, and has one, is retried and done', async () => {
    const config = join(LAB_DIR, 'Ida', 'sshd_config');
    const original = readFileSync(config, 'utf8');
    writeFileSync(config, original.replace(/^MaxStartups .*$/m, 'MaxStartups 1'));
    lab('sshd', 'Ida', 'stop');
    lab('sshd', 'Ida', 'start');
    let squatter: Socket | undefined;
    try {
      // A connection that never authenticates holds Ida's only slot for the first second of the run.
      squatter = connect({ host: lab('ip', 'Ida').trim(), port: 22 });
      await new Promise((r) => squatter?.once('connect', r));
      setTimeout(() => squatter?.destroy(), 1200);
      const run = await provision(op, ['keys', '-i', inventory]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/Ida\s+ok/);
      expect(readFileSync(join(op.logDir, 'provision.log'), 'utf8')).toMatch(/\[Ida\] handshake dropped .*retry 1 of/);
    } finally {
      squatter?.destroy();
      writeFileSync(config, original);
      lab('sshd', 'Ida', 'stop');
      lab('sshd', 'Ida', 'start');
    }
  }, 120_000);
});

/** A robot's report rows as one line: long details wrap. */
const rowsOf = (stdout: string, robot: string) => reportRows(stdout, robot).replace(/\s+/g, ' ');

describe("a robot reporting another robot's node ID", () => {
  it('refused with both, no node changed: as a copy next to the original, and alone while the original is unreachable', async () => {
    const ids = new Map(ROBOTS.map((r) => [r, nodeIdOf(r)]));
    const byId = new Map(nodes('Anton').map((n) => [n.ID, n]));
    // The original: a worker; the copy: another robot that does not lead (Emil shares Ida's hostname).
    const original = ROBOTS.find((r) => byId.get(ids.get(r) ?? '')?.Spec.Role === 'worker') as string;
    const copy = ['Emil', 'Ida', 'Otto'].find((r) => r !== original && !byId.get(ids.get(r) ?? '')?.ManagerStatus?.Leader) as string;
    const originalId = ids.get(original) ?? '';
    // Its swarm state copied over its own, for real; cut from the managers' port, or the copy takes the node over
    // (measured: the swarm then shows the node at the copy's address) and docker itself changes the node.
    lab('dockerd', copy, 'stop');
    rmSync(join(LAB_DIR, copy, 'docker', 'swarm'), { recursive: true, force: true });
    cpSync(join(LAB_DIR, original, 'docker', 'swarm'), join(LAB_DIR, copy, 'docker', 'swarm'), { recursive: true });
    lab('rexec', copy, 'iptables', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '2377', '-j', 'REJECT');
    try {
      lab('dockerd', copy, 'start');
      expect(nodeIdOf(copy)).toBe(originalId);
      // the copy's own node goes down (its engine runs the copied state): a change of docker's, before the runs
      await until(
        `${copy}'s own node down`,
        () => nodes('Anton').some((n) => n.ID === ids.get(copy) && n.Status.State === 'down'),
        40_000,
        500,
      );
      const before = nodes('Anton').map((n) => [n.ID, n.Version.Index, n.Spec]);
      const env = { PROVISION_BECOME_PASSWORD: LAB_PASSWORD };

      const both = await provision(op, ['swarm', '-i', inventory, '--prune'], env);
      expect(both.code).toBe(1);
      const short = originalId.slice(0, 12);
      expect(rowsOf(both.stdout, copy)).toMatch(new RegExp(`failed[\\s\\S]*reports swarm node ${short}, as ${original} does`));
      expect(rowsOf(both.stdout, original)).toMatch(new RegExp(`failed[\\s\\S]*reports swarm node ${short}, as ${copy} does`));
      expect(both.stdout.replace(/\s+/g, ' ')).toMatch(
        new RegExp(`${copy}'s engine advertises [0-9.]+, ${original}'s address: ${copy} holds the copy`),
      );
      expect(nodes('Anton').map((n) => [n.ID, n.Version.Index, n.Spec])).toEqual(before);

      lab('sshd', original, 'stop');
      try {
        const alone = await provision(op, ['swarm', '-i', inventory, '--prune'], env);
        expect(alone.code).toBe(1);
        expect(rowsOf(alone.stdout, copy)).toMatch(
          new RegExp(`failed[\\s\\S]*reports swarm node ${short}, but its engine advertises [0-9.]+, ${original}'s address`),
        );
        expect(rowsOf(alone.stdout, original)).toMatch(/unreachable/);
        expect(nodes('Anton').map((n) => [n.ID, n.Version.Index, n.Spec])).toEqual(before);
      } finally {
        lab('sshd', original, 'start');
      }
    } finally {
      lab('rexec', copy, 'iptables', '-D', 'OUTPUT', '-p', 'tcp', '--dport', '2377', '-j', 'REJECT');
    }
  }, 180_000);
});
