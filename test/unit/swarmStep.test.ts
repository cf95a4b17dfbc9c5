// runSwarm against a stand-in executor: a tiny in-memory swarm that answers the commands provision
// sends, to show WHICH robot each manager-side command is sent to. (That it works on real robots is
// shown by test/lab/swarmRoles.test.ts.)
import { describe, expect, it } from '@jest/globals';
import { runSwarm } from '../../src/steps/swarm.js';
import { halfJoined } from '../../src/steps/swarmState.js';
import { leaderMoved, managerLoss } from '../../src/steps/managerVia.js';
import { DOCKER_SAYS } from './swarmSim.js';
import { parseFacts, type RobotFacts } from '../../src/remote/docker.js';
import type { Fleet } from '../../src/run/fleet.js';
import type { RobotOutcome } from '../../src/run/outcome.js';
import type { ExecResult } from '../../src/ssh/connection.js';
import type { RemoteCommand } from '../../src/remote/shell.js';
import { answerBatch } from './recorder.js';

interface SimNode {
  id: string;
  robot: string;
  ip: string;
  role: 'manager' | 'worker';
  leader: boolean;
}

/** The swarm as the stand-in dockerds see it, and every docker command sent, by robot. */
class SimSwarm {
  sent: { robot: string; args: string }[] = [];
  /** Robots sent anything but docker commands and the facts read (~/swarm_tokens writes and the like). */
  written: string[] = [];
  dockerDown = new Set<string>();
  constructor(public nodes: SimNode[]) {}

  exec(robot: string, line: string): ExecResult {
    const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
    const fail = (stderr: string): ExecResult => ({ code: 1, stdout: '', stderr });
    const me = this.nodes.find((n) => n.robot === robot);
    const ip = `10.0.0.${robot.length}`;
    // The preflight's reads: a healthy robot (test/unit/preflight.test.ts judges readings).
    if (line.includes('echo "clock=')) return ok(`clock=${Date.now() / 1000}\nmtu=1500\nvxlan=yes\nip_vs=yes\nkernel=6\nping_df=yes\n`);
    if (line.includes('pmtu=')) return ok('');
    if (line.includes('tokens_dir=')) {
      const swarm = me
        ? {
            NodeID: me.id,
            NodeAddr: me.ip,
            LocalNodeState: 'active',
            ControlAvailable: me.role === 'manager',
            Error: '',
            RemoteManagers: [],
            Cluster: me.role === 'manager' ? { ID: 'c1' } : null,
          }
        : null;
      return ok(
        `arch=x86_64\ncpus=2\nmemkb=8000000\nhostname=${robot}\nengine=e-${robot}\n${swarm ? `swarm=${JSON.stringify(swarm)}` : `swarm={"LocalNodeState":"inactive","NodeID":"","ControlAvailable":false}`}\n${ip ? '' : ''}`,
      );
    }
    if (!line.includes('dk')) {
      this.written.push(robot);
      return ok(); // ~/swarm_tokens writes and the like
    }
    if (this.dockerDown.has(robot))
      return fail('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?');
    const args = line.slice(line.lastIndexOf("' provision") + 12);
    this.sent.push({ robot, args: line.includes('node ls -q') ? 'node ls' : args });
    if (line.includes('ControlAvailable')) return ok(me ? `active ${me.role === 'manager'}` : 'inactive false');
    if (me?.role !== 'manager')
      return fail(
        'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
      );
    if (line.includes('node ls -q')) {
      return ok(
        this.nodes
          .map((n) =>
            JSON.stringify({
              ID: n.id,
              Spec: {
                Role: n.role,
                Availability: 'active',
                Labels: {
                  CPU_COUNT: '2',
                  CPU_ARCHITECTURE: 'x86_64',
                  RAM_GE4: 'true',
                  RAM_GE8: 'false',
                  RAM_GE16: 'false',
                  CAN_BECOME_MANAGER: 'true',
                  CAN_BECOME_LEADER: 'true',
                },
              },
              Description: { Hostname: n.robot },
              Status: { State: 'ready', Addr: n.ip },
              ManagerStatus: n.role === 'manager' ? { Leader: n.leader, Reachability: 'reachable', Addr: `${n.ip}:2377` } : null,
            }),
          )
          .join('\n'),
      );
    }
    if (line.includes('join-token -q worker')) return ok('SWMTKN-1-worker\nSWMTKN-1-manager\n');
    const change = /^node (promote|demote) (\S+)$/.exec(args);
    if (change) {
      const node = this.nodes.find((n) => n.id === change[2]) as SimNode;
      node.role = change[1] === 'promote' ? 'manager' : 'worker';
      if (node.role === 'worker' && node.leader) {
        node.leader = false;
        (this.nodes.find((n) => n.role === 'manager') as SimNode).leader = true;
      }
    }
    return ok();
  }
}

function standIn(
  sim: SimSwarm,
  robots: { name: string; role?: 'worker' | 'manager' | 'auto' }[],
  extra: { limit?: Set<string>; prune?: boolean } = {},
): Fleet {
  const inventory = {
    robots: robots.map((r, i) => ({
      name: r.name,
      ip: `10.0.0.${i + 1}`,
      user: 'u',
      port: 22,
      sudo: false,
      role: r.role ?? 'auto',
      canBecomeManager: true,
      canBecomeLeader: true,
      labels: {},
    })),
    swarm: { managers: 'auto', init: {} },
  };
  const outcomes = new Map<string, RobotOutcome>(robots.map((r) => [r.name, { robot: r.name, status: 'ok', details: [], notes: [] }]));
  const conn = (name: string) => ({
    probeTcp: async () => 'refused' as const,
    exec: async (c: string | RemoteCommand) => answerBatch(typeof c === 'string' ? c : c.line, (line) => sim.exec(name, line)),
    run: async (c: string | RemoteCommand, what: string) => {
      const r = answerBatch(typeof c === 'string' ? c : c.line, (line) => sim.exec(name, line));
      if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr}`);
      return r.stdout;
    },
  });
  const set = (name: string, status: RobotOutcome['status'] | null, detail: string) => {
    const o = outcomes.get(name) as RobotOutcome;
    if (status && (status !== 'changed' || o.status === 'ok')) o.status = status;
    o.details.push(detail);
  };
  const fleet = {
    inventory,
    options: { dryRun: false, ...extra },
    inLimit: (n: string) => !extra.limit || extra.limit.has(n),
    outcomes,
    notes: [],
    changed: (n: string, d: string) => set(n, 'changed', d),
    joined: (n: string, d: string) => set(n, 'joined', d),
    note: (n: string, d: string) => set(n, null, d),
    failed: (n: string, d: string) => set(n, 'failed', d),
    phase: () => ({ advance: () => undefined, grow: () => undefined, finish: () => undefined }),
    firstRead: (_r: unknown, c: ReturnType<typeof conn>, cmd: string | RemoteCommand, what: string) => c.run(cmd, what),
    takeOpened: () => undefined, // nothing ran with a lock here
    eachConnected: async (work: (robot: unknown, c: ReturnType<typeof conn>) => Promise<void>) => {
      await Promise.all(
        inventory.robots.map(async (r) => {
          try {
            await work(r, conn(r.name));
          } catch (err) {
            set(r.name, 'failed', (err as Error).message);
          }
        }),
      );
    },
  };
  return fleet as unknown as Fleet;
}

const fiveManagersLedByAnton = () =>
  new SimSwarm(
    ['Anton', 'Ida', 'Otto', 'Emil', 'Paula'].map((robot, i) => ({
      id: `n${i + 1}`,
      robot,
      ip: `10.0.0.${i + 1}`,
      role: 'manager' as const,
      leader: i === 0,
    })),
  );

describe('the leader hands over (stand-in executor)', () => {
  it('Anton pinned worker: its demotion is sent from a manager that stays, after the promotions, and the new leader is reported', async () => {
    const sim = fiveManagersLedByAnton();
    for (const n of sim.nodes.slice(3)) n.role = 'worker'; // 3 managers: Anton (leader), Ida, Otto
    const fleet = standIn(sim, [{ name: 'Anton', role: 'worker' }, { name: 'Ida' }, { name: 'Otto' }, { name: 'Emil' }, { name: 'Paula' }]);
    const report = await runSwarm(fleet);
    const changes = sim.sent.filter((s) => /^node (promote|demote)/.test(s.args));
    expect(changes).toEqual([
      { robot: 'Ida', args: 'node promote n4' },
      { robot: 'Ida', args: 'node demote n1' },
    ]);
    expect(sim.sent.filter((s) => s.robot === 'Anton' && s.args !== 'node ls')).toEqual([]);
    expect(report.handOver).toEqual({ from: 'Anton', to: 'Ida' });
    expect(sim.nodes.filter((n) => n.role === 'manager').map((n) => n.robot)).toEqual(['Ida', 'Otto', 'Emil']);
    expect(fleet.outcomes.get('Anton')?.details.join('\n')).toMatch(
      /handed over the lead: demoted to worker from Ida [^\n]*\nIda leads now/,
    );
    expect([...fleet.outcomes.values()].map((o) => o.status)).not.toContain('failed');
  });

  it('a lone manager pinned worker: a worker is promoted first and the demotion goes through it', async () => {
    const sim = new SimSwarm([
      { id: 'n1', robot: 'Anton', ip: '10.0.0.1', role: 'manager', leader: true },
      { id: 'n2', robot: 'Ida', ip: '10.0.0.2', role: 'worker', leader: false },
    ]);
    const fleet = standIn(sim, [{ name: 'Anton', role: 'worker' }, { name: 'Ida' }]);
    const report = await runSwarm(fleet);
    const changes = sim.sent.filter((s) => /^node (promote|demote)/.test(s.args));
    expect(changes).toEqual([
      { robot: 'Anton', args: 'node promote n2' },
      { robot: 'Ida', args: 'node demote n1' },
    ]);
    expect(report.handOver).toEqual({ from: 'Anton', to: 'Ida' });
  });
});

describe('a manager lost mid-run (stand-in executor)', () => {
  it('its docker stopping fails that robot and the work goes on through another manager; runSwarm does not throw', async () => {
    const sim = fiveManagersLedByAnton();
    const fleet = standIn(sim, [{ name: 'Anton' }, { name: 'Ida' }, { name: 'Otto' }, { name: 'Emil' }, { name: 'Paula' }]);
    const exec = sim.exec.bind(sim);
    sim.exec = (robot, line) => {
      if (line.includes('join-token')) sim.dockerDown.add('Anton'); // stops right after the tokens were read
      return exec(robot, line);
    };
    for (const n of sim.nodes) n.role = n.robot === 'Paula' ? 'worker' : 'manager'; // Paula gets promoted
    await expect(runSwarm(fleet)).resolves.toBeDefined();
    expect(sim.sent.find((s) => s.args === 'node promote n5')?.robot).toBe('Ida');
    expect(fleet.outcomes.get('Anton')?.status).toBe('failed');
    expect(fleet.outcomes.get('Anton')?.details.join(' ')).toMatch(/its docker stopped while provision worked through it/);
    expect(fleet.outcomes.get('Paula')?.status).toBe('changed');
  });

  it('with every manager gone, each robot says it was not finished; no exception', async () => {
    const sim = fiveManagersLedByAnton();
    const fleet = standIn(sim, [{ name: 'Anton' }, { name: 'Ida' }, { name: 'Otto' }, { name: 'Emil' }, { name: 'Paula' }]);
    for (const n of sim.nodes) n.role = n.robot === 'Paula' ? 'worker' : 'manager';
    const exec = sim.exec.bind(sim);
    sim.exec = (robot, line) => {
      if (line.includes('join-token')) for (const r of ['Anton', 'Ida', 'Otto', 'Emil']) sim.dockerDown.add(r);
      return exec(robot, line);
    };
    await expect(runSwarm(fleet)).resolves.toBeDefined();
    expect(fleet.outcomes.get('Paula')?.status).toBe('failed');
    expect(fleet.outcomes.get('Paula')?.details.join(' ')).toMatch(
      /not finished — the run stopped: no manager this run is connected to answers/,
    );
  });
});

describe('--limit (stand-in executor)', () => {
  const five = [{ name: 'Anton' }, { name: 'Ida' }, { name: 'Otto' }, { name: 'Emil' }, { name: 'Paula' }];
  const threeManagers = () => {
    const sim = fiveManagersLedByAnton();
    for (const n of sim.nodes.slice(3)) n.role = 'worker';
    return sim;
  };
  /** The docker commands that change something (not reads), by robot and target. */
  const changing = (sim: SimSwarm) => sim.sent.filter((s) => /^node (update|promote|demote|rm)\b/.test(s.args));

  it('without --limit every node gets its label record: the comparison the limited run is measured against', async () => {
    const sim = threeManagersLedByAntonWithLabelsToRecord();
    await runSwarm(standIn(sim, five));
    expect(changing(sim).filter((s) => s.args.startsWith('node update')).length).toBe(5);
  });

  it("only the named robot's node is updated and only its ~/swarm_tokens written; the others are read, never changed", async () => {
    const sim = threeManagersLedByAntonWithLabelsToRecord();
    const fleet = standIn(sim, five, { limit: new Set(['Otto']) });
    await runSwarm(fleet);
    const updates = changing(sim);
    expect(updates.map((u) => u.args)).toEqual([expect.stringMatching(/^node update .* n3$/)]);
    expect([...new Set(sim.written)]).toEqual(['Otto']);
    expect(fleet.outcomes.get('Otto')?.status).toBe('changed');
    for (const name of ['Anton', 'Ida', 'Emil', 'Paula']) {
      expect(fleet.outcomes.get(name)?.status).toBe('ok');
      expect(fleet.outcomes.get(name)?.details.join(' ')).toMatch(/outside --limit, not changed; would .*update labels/);
    }
  });

  it('a named robot is not demoted while the promotion the plan pairs with it is outside --limit', async () => {
    const sim = threeManagersLedByAntonWithLabelsToRecord();
    const fleet = standIn(
      sim,
      [{ name: 'Anton' }, { name: 'Ida' }, { name: 'Otto', role: 'worker' }, { name: 'Emil' }, { name: 'Paula' }],
      { limit: new Set(['Otto']) },
    );
    await runSwarm(fleet);
    expect(sim.sent.filter((s) => /^node (promote|demote)/.test(s.args))).toEqual([]);
    expect(fleet.outcomes.get('Otto')?.details.join(' ')).toMatch(/not demoted: the plan promotes Emil first, outside --limit/);
    expect(sim.nodes.filter((n) => n.role === 'manager').length).toBe(3);
  });

  function threeManagersLedByAntonWithLabelsToRecord(): SimSwarm {
    return threeManagers(); // the stand-in's nodes carry no provision.labels record yet: every node needs an update
  }
});

describe('drift: nodes of no inventory robot (stand-in executor)', () => {
  const four = [{ name: 'Anton' }, { name: 'Ida' }, { name: 'Otto' }, { name: 'Emil' }];
  const withStranger = () => {
    const sim = fiveManagersLedByAnton();
    for (const n of sim.nodes.slice(3)) n.role = 'worker';
    (sim.nodes[4] as SimNode).ip = '10.0.0.99'; // Paula's node, but no robot of this inventory is at its address
    return sim;
  };

  it('is reported, never removed, without --prune', async () => {
    const sim = withStranger();
    const report = await runSwarm(standIn(sim, four));
    expect(report.notes.join(' ')).toMatch(
      /drift: 1 node of no inventory robot: Paula \(n5, 10\.0\.0\.99, worker, ready\) — kept; --prune removes them/,
    );
    expect(sim.sent.filter((s) => s.args.startsWith('node rm'))).toEqual([]);
  });

  it('is removed with --prune', async () => {
    const sim = withStranger();
    const report = await runSwarm(standIn(sim, four, { prune: true }));
    expect(sim.sent.filter((s) => s.args.startsWith('node rm')).map((s) => s.args)).toEqual(['node rm --force n5']);
    expect(report.notes.join(' ')).toMatch(/drift: removed node Paula/);
  });

  it("is only reported with --prune under --limit (it is no named robot's)", async () => {
    const sim = withStranger();
    const report = await runSwarm(standIn(sim, four, { prune: true, limit: new Set(['Otto']) }));
    expect(sim.sent.filter((s) => s.args.startsWith('node rm'))).toEqual([]);
    expect(report.notes.join(' ')).toMatch(/kept \(--prune does not remove nodes under --limit\)/);
  });
});

describe('classifying what went wrong', () => {
  it('tells a lost manager (connection, docker, role) from a failed request', () => {
    expect(managerLoss('the connection to the robot was lost')).toBe('connection');
    expect(
      managerLoss('x failed (exit 1): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'),
    ).toBe('docker');
    expect(managerLoss('listing swarm nodes failed (exit 1): Error response from daemon: This node is not a swarm manager.')).toBe('role');
    expect(managerLoss('Error response from daemon: update out of sequence')).toBeNull();
  });

  it('a moved or missing lead, or a Raft write timed out, is followed and sent again; a refused request is not', () => {
    for (const m of [DOCKER_SAYS.lostLeader, DOCKER_SAYS.noLeader, DOCKER_SAYS.deadline, DOCKER_SAYS.unavailable])
      expect([m, leaderMoved(m)]).toEqual([m, true]);
    expect(
      leaderMoved('Error response from daemon: rpc error: code = Unknown desc = raft: failed to process the request: node is stopped'),
    ).toBe(true);
    expect(leaderMoved('Error response from daemon: rpc error: code = Unknown desc = raft: no elected cluster leader')).toBe(true);
    expect(leaderMoved('Error response from daemon: update out of sequence')).toBe(false);
    expect(leaderMoved('Error: No such node: n9')).toBe(false);
    expect(leaderMoved('Error response from daemon: This node is not a swarm manager.')).toBe(false);
  });

  it('a half-joined robot is pending or error without a node ID', () => {
    const facts = (swarm: object): RobotFacts => parseFacts(`arch=x86_64\nswarm=${JSON.stringify(swarm)}\n`, false);
    expect(halfJoined(facts({ LocalNodeState: 'pending', NodeID: '' }))).toBe(true);
    expect(halfJoined(facts({ LocalNodeState: 'error', NodeID: '', Error: 'context deadline exceeded' }))).toBe(true);
    expect(halfJoined(facts({ LocalNodeState: 'pending', NodeID: 'abc' }))).toBe(false);
    expect(halfJoined(facts({ LocalNodeState: 'active', NodeID: 'abc' }))).toBe(false);
    expect(halfJoined(facts({ LocalNodeState: 'inactive', NodeID: '' }))).toBe(false);
  });
});

describe('a robot whose answers are malformed (stand-in executor)', () => {
  /** Otto's docker answers valid JSON of the wrong shape: Otto fails naming what was expected, the others go on. */
  it("Otto's facts are docker JSON of another shape: Otto fails with what was expected, the swarm still works for the rest", async () => {
    const sim = fiveManagersLedByAnton();
    const exec = sim.exec.bind(sim);
    sim.exec = (robot, line) => {
      const r = exec(robot, line);
      if (robot !== 'Otto' || !line.includes('tokens_dir=')) return r;
      return { ...r, stdout: r.stdout.replace(/^swarm=.*$/m, 'swarm={"NodeID":7,"LocalNodeState":"active"}') };
    };
    const fleet = standIn(sim, [{ name: 'Anton' }, { name: 'Ida' }, { name: 'Otto' }, { name: 'Emil' }, { name: 'Paula' }]);
    await runSwarm(fleet);
    const otto = fleet.outcomes.get('Otto');
    expect(otto?.status).toBe('failed');
    expect(otto?.details.join('\n')).toMatch(
      /could not understand the robot's answer to reading facts: expected docker info's Swarm as JSON \(NodeID: [^)]*string[^)]*\)/,
    );
    for (const r of ['Anton', 'Ida', 'Emil', 'Paula']) expect(fleet.outcomes.get(r)?.status).not.toBe('failed');
  });
});
