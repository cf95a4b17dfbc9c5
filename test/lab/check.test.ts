// `provision up --check` and `provision check` on a lab of five real robots: a busybox image loaded from
// the laptop (--image-file), a task on every robot, 64 KiB between tasks over a real overlay, a task that
// moves, replicas that spread — and nothing of check's left, no user service touched, Ctrl-C that ends it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import {
  assertLabRoute,
  finishLab,
  lab,
  labDown,
  labUp,
  newOperator,
  onRobot,
  provision,
  startProvision,
  until,
  type Operator,
} from './harness.js';

let inventory: string;
let op: Operator;
let image: string;
const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil', 'Paula'];

/** What check may leave on a robot: its containers, networks, and (on a manager) services. */
const leftovers = (robot: string) =>
  onRobot(
    robot,
    'echo $(docker ps -aq --filter label=provision.check | wc -l) $(docker network ls -q --filter name=provision-check- | wc -l)',
  ).trim();
const services = () => onRobot('Anton', "docker service ls --format '{{.Name}}'").trim();

beforeAll(() => {
  labDown();
  inventory = labUp(ROBOTS.length);
  for (let i = 1; i <= ROBOTS.length; i++) assertLabRoute(`10.88.0.${10 + i}`);
  op = newOperator();
  image = join(op.home, 'busybox.tar');
  lab('image', image);
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('provision check on a lab of five', () => {
  it('up --check --image-file: every robot ran a task, overlay pairs passed, a task moved, 3 replicas on 3 nodes; nothing left, every node active', async () => {
    const run = await provision(op, ['up', '-i', inventory, '--check', '--image-file', image]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /swarm works: 5\/5 robots ran a task, (\d+)\/\1 overlay pairs passed 64 KiB at MTU 1450, a task moved in \d+\.\d s, 3 replicas on 3 nodes, 3 tasks only on CPU_ARCHITECTURE=\w+ nodes/,
    );
    expect(run.stdout).toMatch(/loaded image provision-check:busybox/);
    // the preflight ran once, before the joins, and found what this kernel lacks
    expect(run.stdout.match(/preflight: 5 robots read/g)).toHaveLength(1);
    expect(run.stdout).toMatch(/no ip_vs kernel module on any robot/);
    expect(services()).toBe('');
    for (const r of ROBOTS) expect(leftovers(r)).toBe('0 0');
    const availability = onRobot('Anton', "docker node ls --format '{{.Availability}}'").trim().split('\n');
    expect(availability).toEqual(ROBOTS.map(() => 'Active'));
  }, 300_000);

  it("the user's own service keeps its tasks where they ran and its spec unchanged; --json carries the pairs", async () => {
    onRobot(
      'Anton',
      'docker service create --detach --quiet --name web --replicas 3 --no-resolve-image provision-check:busybox sleep 3600 >/dev/null',
    );
    const placement = () =>
      onRobot('Anton', "docker service ps web --filter desired-state=running --format '{{.Node}} {{.ID}}' | sort").trim();
    await until(
      'web running 3 tasks',
      () => placement().split('\n').length === 3 && !/Pending|Preparing/.test(onRobot('Anton', 'docker service ps web')),
      60_000,
    );
    const before = {
      placement: placement(),
      spec: onRobot('Anton', "docker service inspect web --format '{{.Version.Index}} {{json .Spec}}'"),
    };
    const run = await provision(op, ['check', '-i', inventory, '--image-file', image, '--json']);
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout) as {
      check: { summary: { ranTask: number; mtu: number }; pairs: { verdict: string }[]; failed: boolean };
    };
    expect(json.check.failed).toBe(false);
    expect(json.check.summary).toMatchObject({ ranTask: 5, mtu: 1450 });
    expect(json.check.pairs.length).toBeGreaterThanOrEqual(5);
    expect(json.check.pairs.every((p) => p.verdict === 'passed')).toBe(true);
    expect(placement()).toBe(before.placement);
    expect(onRobot('Anton', "docker service inspect web --format '{{.Version.Index}} {{json .Spec}}'")).toBe(before.spec);
    expect(services()).toBe('web');
    onRobot('Anton', 'docker service rm web >/dev/null');
  }, 300_000);

  it('Ctrl-C during check: the run ends within 2 s; the next check starts clean and passes', async () => {
    const run = startProvision(op, ['check', '-i', inventory, '--image-file', image]);
    await until("check's global service", () => /provision-check-/.test(services()), 120_000);
    const pressed = Date.now();
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(Date.now() - pressed).toBeLessThan(2000);
    expect(result.code).toBe(130);
    const again = await provision(op, ['check', '-i', inventory, '--image-file', image]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/swarm works: 5\/5 robots ran a task/);
    expect(services()).toBe('');
    for (const r of ROBOTS) expect(leftovers(r)).toBe('0 0');
  }, 300_000);
});
