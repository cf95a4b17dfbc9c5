// Roles that move, half-joined robots and a manager lost mid-run, on one lab of five real robots.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { appendFileSync } from 'node:fs';
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
  startProvision,
  type Operator,
  type RunResult,
} from './harness.js';
import { processesOn } from './argv.js';

const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil', 'Paula'];
const IP: Record<string, string> = { Anton: '10.88.0.11', Ida: '10.88.0.12', Otto: '10.88.0.13', Emil: '10.88.0.14', Paula: '10.88.0.15' };
let base: string;
let pinned: string; // the lab's inventory with Anton pinned to `role: worker`
let op: Operator;

interface NodeRow {
  Hostname: string;
  ManagerStatus: string;
  Status: string;
}
/** `docker node ls` as some manager that answers sees it. */
function nodeLs(): NodeRow[] {
  for (const r of ROBOTS) {
    try {
      const out = onRobot(r, "docker node ls --format '{{json .}}' 2>/dev/null");
      if (out.trim())
        return out
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as NodeRow);
    } catch {
      // not a manager, or its docker is down: ask the next robot
    }
  }
  throw new Error('no robot answered docker node ls');
}
const leaderNow = () => nodeLs().find((n) => n.ManagerStatus === 'Leader')?.Hostname;
const managersNow = () =>
  nodeLs()
    .filter((n) => n.ManagerStatus !== '')
    .map((n) => n.Hostname)
    .sort();
const stateOf = (r: string) => onRobot(r, "docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}'").trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every node Ready: a node that was just demoted or rejoined reports Down/Unknown for a few seconds. */
async function allReady(within = 30_000): Promise<boolean> {
  for (const until = Date.now() + within; Date.now() < until; await sleep(1000)) {
    if (nodeLs().every((n) => n.Status === 'Ready')) return true;
  }
  return nodeLs().every((n) => n.Status === 'Ready');
}

/** Wait until the swarm sees `robot`'s node Ready again. */
async function untilReady(robot: string, within = 60_000): Promise<void> {
  for (const until = Date.now() + within; Date.now() < until; await sleep(1000)) {
    if (nodeLs().some((n) => n.Hostname === robot && n.Status === 'Ready')) return;
  }
}

/** Wait until `robot` joins: its `docker system dial-stdio` runs, the join's request in flight (engine-join.sh); its PIDs. */
async function joinBegins(robot: string, within = 60_000): Promise<number[]> {
  for (const until = Date.now() + within; Date.now() < until; await sleep(5)) {
    const pids = processesOn(robot, ['docker', 'system', 'dial-stdio']);
    if (pids.length) return pids;
  }
  return [];
}

/**
 * Do `fault` while the join's `pids` are held stopped (SIGSTOP, then SIGCONT): the run cannot
 * move past that join until the fault is in place, so the fault lands mid-join every time.
 */
function duringJoin(pids: number[], fault: () => void): void {
  const signal = (s: NodeJS.Signals) =>
    pids.forEach((p) => {
      try {
        process.kill(p, s);
      } catch {
        /* already ended */
      }
    });
  signal('SIGSTOP');
  try {
    fault();
  } finally {
    signal('SIGCONT');
  }
}

/** A robot's lines of the report, each trimmed: its status, role and every detail. */
const reportOf = (run: RunResult, robot: string) =>
  reportRows(run.stdout, robot)
    .split('\n')
    .map((l) => l.trim())
    .join('\n');

/** Nothing provision printed looks like a crash: no stack trace, no top-level error line. */
function noCrash(run: RunResult): void {
  appendFileSync(join(op.home, 'runs.log'), `${run.stdout}\n${run.stderr}\n----\n`); // to read what the runs said, after the suite
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr).not.toMatch(/^provision: /m);
  expect(run.stdout).toMatch(/provision swarm/);
}

beforeAll(async () => {
  labDown();
  base = labUp(5);
  for (const ip of Object.values(IP)) assertLabRoute(ip);
  op = newOperator();
  expect((await provision(op, ['keys', '-i', base])).code).toBe(0);
  pinned = editInventory(base, join(op.home, 'anton-worker.yaml'), (doc) => {
    doc.setIn(['robots', 0, 'role'], 'worker');
    doc.setIn(['swarm', 'leader'], 'Otto');
  });
}, 180_000);

afterAll(() => finishLab(op), 120_000);

describe('roles that move', () => {
  it('the leader pinned to worker hands over in one run; a re-run has nothing to change', async () => {
    const first = await provision(op, ['swarm', '-i', base]);
    expect(first.code).toBe(0);
    expect(leaderNow()).toBe('Anton');
    expect(managersNow()).toHaveLength(5);

    const run = await provision(op, ['swarm', '-i', pinned]);
    noCrash(run);
    expect(run.code).toBe(0);
    const planned = Number(/swarm: (\d+) managers? —/.exec(run.stdout)?.[1]);
    expect(planned).toBe(3); // 4 robots may manage now → the largest odd count
    const nodes = nodeLs();
    expect(nodes.find((n) => n.Hostname === 'Anton')?.ManagerStatus).toBe('');
    const leader = leaderNow();
    expect(leader).toBeDefined();
    expect(leader).not.toBe('Anton');
    expect(managersNow()).toHaveLength(planned);
    expect(managersNow()).toContain(leader);
    expect(reportOf(run, 'Anton')).toMatch(
      /^Anton\s+changed\s+worker\s[\s\S]*handed over the lead: demoted to worker from (Ida|Otto|Emil|Paula)/,
    );
    expect(run.stdout).toContain(`leader: ${leader} (took over from Anton in this run)`);
    expect(await allReady()).toBe(true);

    const again = await provision(op, ['swarm', '-i', pinned]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to change');
    expect(leaderNow()).toBe(leader);
  }, 300_000);
});

describe('half-joined robots', () => {
  it('a join left pending (its manager unreachable) is cleaned up and joined again by the next run', async () => {
    // Anton is a worker now. It leaves and starts a join towards a robot whose link is down: docker
    // gives up waiting after its own timeout and leaves the join pending in the background.
    const worker = nodeLs().find((n) => n.ManagerStatus === '' && n.Hostname !== 'Anton')?.Hostname as string;
    onRobot('Anton', 'docker swarm leave --force >/dev/null');
    lab('link', worker, 'down');
    try {
      onRobot(
        'Anton',
        `docker swarm join --token "$(cat ~/swarm_tokens/worker_token)" --advertise-addr 10.88.0.11 ${IP[worker]}:2377 >/dev/null 2>&1 || true`,
      );
    } finally {
      lab('link', worker, 'up');
    }
    expect(stateOf('Anton')).toMatch(/^(pending|error)$/); // no node ID: the interrupted join
    await untilReady(worker); // its node went Down while its link was: not this test's subject
    const run = await provision(op, ['swarm', '-i', pinned]);
    noCrash(run);
    expect(run.code).toBe(0);
    expect(reportOf(run, 'Anton')).toMatch(/^Anton\s+joined\s+worker\s[\s\S]*cleaned up an interrupted join \(state (pending|error)/);
    expect(stateOf('Anton')).toMatch(/^active \w+/);
    const nodes = nodeLs();
    expect(nodes.filter((n) => n.Hostname === 'Anton')).toHaveLength(1); // its former node removed
    expect(await allReady()).toBe(true);
  }, 300_000);

  it('a robot whose docker restarts while it joins is in the swarm after the next run', async () => {
    const worker = nodeLs().find((n) => n.ManagerStatus === '' && n.Hostname !== 'Anton')?.Hostname as string;
    onRobot(worker, 'docker swarm leave --force >/dev/null');
    const { done } = startProvision(op, ['swarm', '-i', pinned]);
    const joining = await joinBegins(worker);
    duringJoin(joining, () => {
      lab('dockerd', worker, 'stop');
      lab('dockerd', worker, 'start');
    });
    const interrupted = await done;
    expect(joining.length).toBeGreaterThan(0);
    noCrash(interrupted);
    const next = await provision(op, ['swarm', '-i', pinned]);
    noCrash(next);
    expect(next.code).toBe(0);
    expect(stateOf(worker)).toMatch(/^active \w+/);
    const nodes = nodeLs();
    expect(nodes.filter((n) => n.Hostname === worker)).toHaveLength(1);
    expect(await allReady()).toBe(true);
    expect(nodes).toHaveLength(5);
  }, 300_000);
});

describe('the manager provision works through loses its docker mid-run', () => {
  it('ends with a per-robot report and exit 1, no crash; after dockerd start the re-run converges', async () => {
    const leader = leaderNow() as string;
    const joiners = nodeLs()
      .filter((n) => n.ManagerStatus === '' && n.Hostname !== leader)
      .map((n) => n.Hostname)
      .slice(0, 2);
    expect(joiners).toHaveLength(2);
    for (const r of joiners) onRobot(r, 'docker swarm leave --force >/dev/null');
    const { done } = startProvision(op, ['swarm', '-i', pinned]);
    const joining = await joinBegins(joiners[0] as string);
    let run: RunResult;
    try {
      duringJoin(joining, () => lab('dockerd', leader, 'stop'));
      run = await done;
    } finally {
      lab('dockerd', leader, 'start');
    }
    expect(joining.length).toBeGreaterThan(0);
    noCrash(run);
    expect(run.code).toBe(1);
    expect(reportOf(run, leader)).toMatch(
      new RegExp(`^${leader}\\s+failed\\s[\\s\\S]*its docker stopped while provision worked through it`),
    );
    for (const r of joiners) expect(reportOf(run, r)).toMatch(new RegExp(`^${r}\\s+(joined|failed)\\s`));

    await sleep(3000);
    const again = await provision(op, ['swarm', '-i', pinned]);
    noCrash(again);
    expect(again.code).toBe(0);
    // a node that just joined reports its description (hostname) a moment later
    expect(await allReady()).toBe(true);
    expect(
      nodeLs()
        .map((n) => n.Hostname)
        .sort(),
    ).toEqual([...ROBOTS].sort());
    for (const r of ROBOTS) expect(stateOf(r)).toMatch(/^active /);
  }, 400_000);
});
