// The preflight and check against robots that look like the field, made for real in the lab: a clock
// ten minutes off and a kernel without vxlan (failed before they join), UDP 4789 dropped by a robot's
// firewall, a path-MTU black hole, a mesh link at MTU 1400 — each found, named, and (MTU) fixed by
// swarm.overlayMtu on a fresh swarm.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
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
  type Operator,
} from './harness.js';

let inventory: string;
let op: Operator;
let image: string;
const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil', 'Paula', 'Bruno'];
const FORMED = ['Anton', 'Ida', 'Otto', 'Emil'];
const stateOf = (r: string) => onRobot(r, "docker info --format '{{.Swarm.LocalNodeState}}'").trim();
const netnsExec = (robot: string, ...args: string[]) => lab('rexec', robot, ...args);

function restartDocker(robot: string): void {
  lab('dockerd', robot, 'stop');
  lab('dockerd', robot, 'start');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if (
        onRobot('Anton', "docker node ls --format '{{.Status}}'")
          .trim()
          .split('\n')
          .every((s) => s === 'Ready')
      )
        return;
    } catch {
      // an election after the restart: asked again
    }
    execFileSync('sleep', ['1']);
  }
  throw new Error(`the swarm did not settle within 60 s after ${robot}'s dockerd restarted`);
}

interface Finding {
  check: string;
  severity: string;
  robots: string[];
  measured: Record<string, number | string | boolean>;
}

beforeAll(() => {
  labDown();
  inventory = labUp(ROBOTS.length, { LAB_FIELD: 'Paula:clock:600 Bruno:no-vxlan' });
  for (let i = 1; i <= ROBOTS.length; i++) assertLabRoute(`10.88.0.${10 + i}`);
  op = newOperator();
  image = join(op.home, 'busybox.tar');
  lab('image', image);
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('the preflight and check on field robots', () => {
  it('check --preflight before any swarm: the clock 10 minutes off and the kernel without vxlan fail, with what was measured', async () => {
    const keys = await provision(op, ['keys', '-i', inventory, '--no-verify']);
    expect(keys.code).toBe(0);
    const run = await provision(op, ['check', '--preflight', '-i', inventory, '--json']);
    expect(run.code).toBe(1);
    const json = JSON.parse(run.stdout) as { robots: { name: string; status: string }[]; preflight: { findings: Finding[] } };
    const status = Object.fromEntries(json.robots.map((r) => [r.name, r.status]));
    expect(status).toEqual({ Anton: 'ok', Ida: 'ok', Otto: 'ok', Emil: 'ok', Paula: 'failed', Bruno: 'failed' });
    const clock = json.preflight.findings.find((f) => f.check === 'clock' && f.severity === 'fail');
    expect(clock?.robots).toEqual(['Paula']);
    expect(Math.abs((clock?.measured.offsetS as number) - 600)).toBeLessThan(5);
    expect(json.preflight.findings.find((f) => f.check === 'vxlan')).toMatchObject({ severity: 'fail', robots: ['Bruno'] });
    for (const r of ROBOTS) expect(stateOf(r)).toBe('inactive'); // it read, it changed nothing
  }, 120_000);

  it('up: the clock and the kernel fail before joining, with the offset and the fix; the others form the swarm and check passes', async () => {
    const run = await provision(op, ['up', '-i', inventory, '--check', '--image-file', image]);
    expect(run.code).toBe(1);
    expect(reportRows(run.stdout, 'Paula')).toMatch(
      /failed[\s\S]*preflight: clock \+6\d\d s off this laptop's[\s\S]*timedatectl set-ntp true/,
    );
    expect(reportRows(run.stdout, 'Bruno')).toMatch(/failed[\s\S]*no vxlan module[\s\S]*requireOverlay: false/);
    expect(stateOf('Paula')).toBe('inactive');
    expect(stateOf('Bruno')).toBe('inactive');
    for (const r of FORMED) expect(stateOf(r)).toBe('active');
    expect(run.stdout).toMatch(/swarm works: 4\/4 robots ran a task, (\d+)\/\1 overlay pairs passed/);
  }, 300_000);

  it("UDP 4789 dropped by one robot's firewall: check fails that robot's overlay pairs, naming the port; the others pass", async () => {
    lab('field', 'Emil', 'udp-drop:4789');
    const run = await provision(op, ['check', '-i', inventory, '--image-file', image]);
    expect(run.code).toBe(1);
    expect(reportRows(run.stdout, 'Emil')).toMatch(
      /failed[\s\S]*overlay: \w+ → \w+[^;]*: no TCP connection over the overlay — UDP 4789 \(VXLAN\)/,
    );
    for (const r of ['Anton', 'Ida', 'Otto']) expect(reportRows(run.stdout, r)).not.toMatch(/failed/);
    expect(run.stdout).toMatch(/swarm check failed: 4\/4 robots ran a task/);
    netnsExec('Emil', 'iptables', '-F', 'LAB-UDP');
  }, 300_000);

  it('a path-MTU black hole on one robot (its bridge-side veth at 1400): the transfer stalls after the first bytes, and the fix is named', async () => {
    lab('field', 'Otto', 'blackhole:1400');
    // Connections opened before the clamp keep their 1460-byte segments and stall (Raft among the
    // managers with them, for a minute): Otto's dockerd again, so that every connection starts clamped.
    restartDocker('Otto');
    const run = await provision(op, ['check', '-i', inventory, '--image-file', image]);
    expect(run.code).toBe(1);
    expect(reportRows(run.stdout, 'Otto')).toMatch(
      /failed[\s\S]*\(\d+ of 65536 bytes\)[^;]*: the small request passed, the 64 KiB transfer stalled after the first bytes — a path-MTU black hole[\s\S]*swarm\.overlayMtu: 1350/,
    );
    expect(reportRows(run.stdout, 'Anton')).not.toMatch(/failed/);
    expect(run.stdout).toMatch(/the path \w+ → Otto passes at most 1400 bytes unfragmented/);
  }, 300_000);

  it('with overlayMtu auto on a fresh swarm (and a mesh link at 1400 on Ida): the preflight names it, ingress and check get 1350, check passes', async () => {
    lab('field', 'Ida', 'mtu:1400');
    const four = editInventory(inventory, join(op.home, 'four.yaml'), (doc) => {
      doc.setIn(['swarm', 'overlayMtu'], 'auto');
      (doc.get('robots') as { items: unknown[] }).items.splice(FORMED.length); // without Paula and Bruno
    });
    const reset = await provision(op, ['reset', '-i', four, '--yes']);
    expect(reset.stdout).not.toMatch(/failed/);
    expect(reset.code).toBe(0);
    const run = await provision(op, ['up', '-i', four, '--check', '--image-file', image, '--json']);
    const json = JSON.parse(run.stdout) as {
      exitCode: number;
      swarm: { preflight: { neededOverlayMtu: number; overlayMtu: number; findings: Finding[] } };
      check: { summary: { mtu: number; ranTask: number; pairs: number; pairsPassed: number }; failed: boolean };
      robots: { name: string; details: string[] }[];
    };
    expect(json.swarm.preflight).toMatchObject({ neededOverlayMtu: 1350, overlayMtu: 1350 });
    expect(json.swarm.preflight.findings.find((f) => f.check === 'mtu')).toMatchObject({ robots: ['Ida'], measured: { mtu: 1400 } });
    expect(json.robots.find((r) => r.name === 'Anton')?.details).toContain('ingress network created at MTU 1350 (swarm.overlayMtu)');
    expect(json.check.failed).toBe(false);
    expect(json.check.summary).toMatchObject({ mtu: 1350, ranTask: 4 });
    expect(json.check.summary.pairsPassed).toBe(json.check.summary.pairs);
    expect(json.exitCode).toBe(0);
    expect(onRobot('Anton', 'docker network inspect ingress --format \'{{index .Options "com.docker.network.driver.mtu"}}\'').trim()).toBe(
      '1400',
    );
  }, 300_000);
});
