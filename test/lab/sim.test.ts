// The simulated lab (scripts/lab.sh up N --sim-docker) at 20 robots: real namespaces, sshd and users;
// docker answers from one swarm model (scripts/sim-docker.mjs), which counts the calls it gets. Keeps the
// bench's 100–1000-robot lab working, and shows a fresh `up`, a no-op `up` and a failed join there.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultManagerCount } from '../../src/plan/quorum.js';
import {
  BRIDGE,
  LAB_DIR,
  assertLabRoute,
  finishLab,
  lab,
  labDown,
  labUp,
  newOperator,
  provision,
  reportRows,
  type Operator,
} from './harness.js';

const N = 20;
let inventory: string;
let op: Operator;

interface SimState {
  clusters: { nodes: { hostname: string; role: string; leader: boolean; state: string; labels: Record<string, string> }[] }[];
  active: string[];
}
const state = () => JSON.parse(lab('sim', 'state')) as SimState;
const counts = () => JSON.parse(lab('sim', 'counts')) as Record<string, number>;

beforeAll(() => {
  labDown();
  inventory = labUp(N, { LAB_SIM_DOCKER: '1' });
  for (const line of lab('list').trim().split('\n')) assertLabRoute(line.split(' ')[1] as string);
  op = newOperator();
}, 120_000);

afterAll(() => finishLab(op), 120_000);

describe(`a simulated lab of ${N} robots`, () => {
  it('a fresh up forms one swarm of all of them: roles by quorum, one leader, labels on every node', async () => {
    const run = await provision(op, ['up', '-i', inventory]);
    expect(run.code).toBe(0);
    const { clusters, active } = state();
    expect(clusters).toHaveLength(1);
    const nodes = clusters[0]?.nodes ?? [];
    expect(nodes).toHaveLength(N);
    expect(active).toHaveLength(N);
    expect(nodes.filter((n) => n.role === 'manager')).toHaveLength(defaultManagerCount(N));
    expect(nodes.filter((n) => n.leader)).toHaveLength(1);
    for (const n of nodes) expect(n.labels).toMatchObject({ CAN_BECOME_MANAGER: 'true', CPU_COUNT: expect.stringMatching(/^\d+$/) });
    const c = counts();
    expect(c['swarm init']).toBe(1);
    expect(c['swarm join (engine API)']).toBe(N - 1);
  }, 120_000);

  it('a second up changes nothing: no docker call that writes, "nothing to change"', async () => {
    lab('sim', 'reset');
    const run = await provision(op, ['up', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/nothing to change/);
    const c = counts();
    expect(c['(changes)']).toBeUndefined();
    expect(c['node update']).toBeUndefined();
    expect(c['swarm join (engine API)']).toBeUndefined();
    expect(c['info']).toBeGreaterThan(0); // it did ask the robots
  }, 120_000);

  it("a robot whose join fails is reported with docker's error and exit 1; the others stay formed", async () => {
    labUp(N + 1, { LAB_SIM_DOCKER: '1' }); // one robot more: R021
    lab('sim', 'set', 'failRobots=R021');
    const run = await provision(op, ['up', '-i', inventory]);
    expect(run.code).toBe(1);
    expect(reportRows(run.stdout, 'R021')).toMatch(/failed[\s\S]*x509: certificate signed by unknown authority/);
    const { clusters, active } = state();
    expect(clusters[0]?.nodes).toHaveLength(N);
    expect(active).not.toContain('R021');
  }, 120_000);

  it('lab.sh down leaves nothing: no process, namespace, veth, bridge, mount or user of the lab', () => {
    const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
    const namespaces = ip('netns', 'list')
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith('prov-'));
    expect(namespaces.length).toBe(N + 1);
    // every process in a robot's namespace (its anchor, sshd, sessions), found by ip, not by lab.sh
    const pids = namespaces.flatMap((ns) => ip('netns', 'pids', ns).split('\n').filter(Boolean));
    expect(pids.length).toBeGreaterThanOrEqual(2 * (N + 1));
    const model = readFileSync(`${LAB_DIR}/sim/pid`, 'utf8').trim();
    labDown();
    expect([...pids, model].filter((p) => existsSync(`/proc/${p}`))).toEqual([]);
    expect(ip('netns', 'list')).not.toMatch(/^prov-/m);
    expect(ip('-o', 'link', 'show')).not.toMatch(new RegExp(`: (pv\\d+|${BRIDGE.replace('.', '\\.')}(\\.\\d+)?)[@:]`));
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(LAB_DIR);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/:provision-lab:/);
    expect(existsSync(LAB_DIR)).toBe(false);
  }, 120_000);
});
