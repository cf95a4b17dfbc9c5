// Around keys and swarm: status, rotate and reset on a real lab.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { finishLab, lab, labDown, labUp, newOperator, onRobot, provision, type Operator } from './harness.js';

let inventory: string;
let op: Operator;
const tokens: string[] = [];
const ROBOTS = ['Anton', 'Ida', 'Otto', 'Emil'];

interface StatusJson {
  robots: { name: string; reachable: boolean; role: string | null; leader: boolean; nodeId: string | null; nodeState: string | null }[];
  managers: number;
  quorum: boolean;
  failuresToleratedNow: number;
}

function nodeLs(on: string): { ID: string; Hostname: string; ManagerStatus: string; Status: string }[] {
  return onRobot(on, "docker node ls --format '{{json .}}'")
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

beforeAll(async () => {
  labDown();
  inventory = labUp(4);
  op = newOperator();
  expect((await provision(op, ['keys', '-i', inventory])).code).toBe(0);
  expect((await provision(op, ['swarm', '-i', inventory])).code).toBe(0);
}, 240_000);

afterAll(() => finishLab(op, tokens), 120_000);

describe('status', () => {
  it('--json agrees with docker node ls on a manager', async () => {
    const run = await provision(op, ['status', '-i', inventory, '--json']);
    expect(run.code).toBe(0);
    const status = (JSON.parse(run.stdout) as { status: StatusJson }).status;
    const nodes = nodeLs('Ida');
    for (const r of status.robots) {
      const node = nodes.find((n) => n.ID === r.nodeId);
      expect(node?.Hostname).toBe(r.name);
      expect(r.role).toBe(node?.ManagerStatus ? 'manager' : 'worker');
      expect(r.leader).toBe(node?.ManagerStatus === 'Leader');
    }
    expect(status.managers).toBe(3);
    expect(status.quorum).toBe(true);
    expect(status.failuresToleratedNow).toBe(1);
  }, 60_000);

  it('with one robot down: it is reported unreachable, the rest still agree, quorum holds', async () => {
    lab('link', 'Otto', 'down');
    try {
      const run = await provision(op, ['status', '-i', inventory, '--json', '--connect-timeout', '2']);
      expect(run.code).toBe(1);
      const status = (JSON.parse(run.stdout) as { status: StatusJson }).status;
      expect(status.robots.find((r) => r.name === 'Otto')?.reachable).toBe(false);
      expect(status.robots.find((r) => r.name === 'Otto')?.role).toBe('manager');
      const nodes = nodeLs('Ida');
      for (const r of status.robots.filter((x) => x.reachable)) expect(nodes.find((n) => n.ID === r.nodeId)?.Hostname).toBe(r.name);
      expect(status.quorum).toBe(true);
      const text = await provision(op, ['status', '-i', inventory, '--connect-timeout', '2']);
      expect(text.stdout).toMatch(/Otto\s+10\.88\.0\.13\s+no/);
    } finally {
      lab('link', 'Otto', 'up');
    }
  }, 90_000);
});

describe('rotate', () => {
  it('changes the token in every ~/swarm_tokens, and the old token no longer joins', async () => {
    const oldWorker = onRobot('Emil', 'cat ~/swarm_tokens/worker_token').trim();
    const oldManager = onRobot('Ida', 'cat ~/swarm_tokens/manager_token').trim();
    tokens.push(oldWorker, oldManager);
    const run = await provision(op, ['rotate', '-i', inventory]);
    expect(run.code).toBe(0);
    const newWorker = onRobot('Emil', 'cat ~/swarm_tokens/worker_token').trim();
    tokens.push(newWorker);
    expect(newWorker).not.toBe(oldWorker);
    for (const r of ['Anton', 'Ida', 'Otto']) {
      const t = onRobot(r, 'cat ~/swarm_tokens/manager_token').trim();
      tokens.push(t);
      expect(t).not.toBe(oldManager);
    }
    // Emil leaves and tries the old worker token: refused. The new one works.
    onRobot('Emil', 'docker swarm leave --force');
    const old = lab(
      'exec',
      'Emil',
      'sh',
      '-c',
      `docker swarm join --token "$(printf %s '${oldWorker}')" 10.88.0.11:2377 >/dev/null 2>&1 && echo joined || echo refused`,
    ).trim();
    expect(old).toBe('refused');
    const again = await provision(op, ['swarm', '-i', inventory]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Emil\s+joined/);
  }, 120_000);
});

describe('reset', () => {
  it('--yes leaves no robot in a swarm, removes ~/swarm_tokens and keeps user content in ~/.ssh', async () => {
    onRobot('Ida', "printf 'Host mine\\n    User me\\n' >> ~/.ssh/config");
    const before = onRobot('Ida', 'cat ~/.ssh/config');
    const refused = await provision(op, ['reset', '-i', inventory]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    const run = await provision(op, ['reset', '-i', inventory, '--yes', '--keys']);
    expect(run.code).toBe(0);
    for (const r of ROBOTS) {
      expect(onRobot(r, "docker info --format '{{.Swarm.LocalNodeState}}'").trim()).toBe('inactive');
      expect(onRobot(r, 'test -e ~/swarm_tokens && echo present || echo gone').trim()).toBe('gone');
      expect(onRobot(r, 'cat ~/.ssh/config')).not.toContain('# BEGIN provision');
    }
    expect(onRobot('Ida', 'cat ~/.ssh/config')).toBe(before.replace(/# BEGIN provision[\s\S]*?# END provision\n/, ''));
    expect(onRobot('Ida', 'cat ~/.ssh/config')).toContain('Host mine\n    User me\n');
  }, 120_000);
});
