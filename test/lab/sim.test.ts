// The simulated lab (scripts/lab.sh up N --sim-docker) at 20 robots: real namespaces, sshd and users;
// docker answers from one swarm model (scripts/sim-docker.mjs), which counts the calls it gets. Keeps the
// bench's 100–1000-robot lab working, and shows a fresh `up`, a no-op `up` and a failed join there.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultManagerCount } from '../../src/plan/quorum.js';
import { assertLabRoute, finishLab, lab, labDown, labUp, newOperator, provision, reportRows, type Operator } from './harness.js';

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
});
