// Every phase of `provision swarm` (and `provision rotate`) against a stand-in executor: for a fleet
// state, the exact commands each phase sends, in order. Real Fleet, real runner, real command
// builders; only docker is simulated (./swarmSim.ts). The lab suites show it works on real robots.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { scratchOperator } from './standIns.js';
import { DOCKER_SAYS, SimFleet } from './swarmSim.js';
import type { Reach } from '../../src/ssh/pool.js';
import { nodesAndTokens } from '../../src/steps/formation.js';
import { NODES_OUTPUT_LIMIT } from '../../src/remote/docker.js';
import { PART_MARK } from '../../src/remote/shell.js';
import { readable } from './recorder.js';
import { Interrupted } from '../../src/interrupt.js';

scratchOperator('provision-swarm-phases-');
const { RobotConnection } = await import('../../src/ssh/connection.js');
const { Fleet } = await import('../../src/run/fleet.js');
const { runSwarm, SWARM_PHASES, ROTATE_PHASES } = await import('../../src/steps/swarm.js');
const { parseInventory } = await import('../../src/inventory/load.js');
const { readWizardRows } = await import('../../src/steps/roles.js');
const { joinTiming } = await import('../../src/steps/formation.js');
const { followTiming } = await import('../../src/steps/managerVia.js');
const { leaderWait } = await import('../../src/steps/swarmState.js');

type Extra = { dryRun?: boolean; limit?: Set<string>; prune?: boolean; roles?: Record<string, string>; gone?: string[] };

function fleetOver(sim: SimFleet, extra: Extra = {}) {
  const names = [...sim.robots.keys()];
  const yaml = `robots:\n${names
    .map((n) => `  - { name: ${n}, ip: ${sim.robots.get(n)?.ip}, user: u${extra.roles?.[n] ? `, role: ${extra.roles[n]}` : ''} }`)
    .join('\n')}\n`;
  const reach = new Map<string, Reach>(
    names.map((name) => {
      if (extra.gone?.includes(name)) return [name, { ok: false, status: 'unreachable', reason: 'connect ETIMEDOUT (the test)' }];
      const conn = RobotConnection.standIn({ name, host: sim.robots.get(name)?.ip ?? '', port: 22, username: 'u' }, sim.standIn(name));
      return [name, { ok: true as const, conn, hostKey: `ssh-ed25519 AAAAKeyOf${name}`, newHostKey: null }];
    }),
  );
  const { dryRun = false, limit, prune } = extra;
  return Fleet.overStandIns(parseInventory(yaml, 'stand-in.yaml'), { dryRun, maxHandshakes: 8, limit, prune }, reach);
}

async function swarm(sim: SimFleet, extra: Extra = {}) {
  const fleet = fleetOver(sim, extra);
  const report = await runSwarm(fleet);
  return { fleet, report, details: (r: string) => fleet.outcomes.get(r)?.details ?? [] };
}

const FOUR = ['Anton', 'Ida', 'Otto', 'Emil'];

describe('the phase lists', () => {
  it('swarm and rotate run these phases, in this order', () => {
    expect(SWARM_PHASES.map((p) => p.title)).toEqual([
      'reading docker facts',
      'preflight: clocks, ports, MTU, kernels',
      'initialising the swarm',
      'planning roles',
      'writing ~/swarm_tokens',
      'cleaning up interrupted joins',
      'promoting',
      'joining managers',
      'joining workers',
      'labelling nodes',
      'demoting',
      'pruning nodes',
      'reading the node list',
    ]);
    expect(ROTATE_PHASES.map((p) => p.title)).toEqual([
      'reading docker facts',
      'finding the swarm',
      'planning roles',
      'rotating join tokens',
      'writing ~/swarm_tokens',
    ]);
  });
});

describe('a fresh fleet of four', () => {
  it('facts → init on the first robot → tokens → managers join → the worker joins, each labelled once in → the leader labelled', async () => {
    const sim = new SimFleet(FOUR);
    const { fleet, report } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    const sent = sim.sent;
    // facts: one read per robot, first
    expect(sent.slice(0, 4).sort()).toEqual(FOUR.map((r) => `${r}: facts`).sort());
    // init on the leader, then (in the same remote call) its facts, the node list and the join tokens
    expect(sent.slice(4, 8)).toEqual([
      'Anton: docker swarm init --advertise-addr 10.0.0.1',
      'Anton: facts',
      'Anton: node-ls',
      'Anton: join-tokens',
    ]);
    // tokens: the leader's files in the tokens phase; each joining robot gets its role's file right before its join (one remote call)
    expect(sent[8]).toBe('Anton: sync-tokens 0');
    expect(sent.filter((s) => s.endsWith(': sync-tokens 0'))).toHaveLength(4);
    for (const r of ['Ida', 'Otto', 'Emil'])
      expect(sent[sent.findIndex((s) => s.startsWith(`${r}: join `)) - 1]).toBe(`${r}: sync-tokens 0`);
    // managers join (3 of 4 robots), then the worker; then every node is labelled through the leader
    const joins = sent.filter((s) => / join /.test(s));
    expect(joins).toEqual([
      'Ida: join manager 10.0.0.2 10.0.0.1:2377 10.0.0.2:2377 10.0.0.3:2377',
      'Otto: join manager 10.0.0.3 10.0.0.1:2377 10.0.0.2:2377 10.0.0.3:2377',
      expect.stringMatching(/^Emil: join worker 10\.0\.0\.4 10\.0\.0\.1:2377 /),
    ]);
    // each node is labelled through the leader as soon as it is in; Anton's own node in the labelling phase
    const updates = sent.filter((s) => s.includes('docker node update'));
    expect(updates.map((s) => s.split(':')[0])).toEqual(['Anton', 'Anton', 'Anton', 'Anton']);
    expect(updates.map((u) => u.split(' ').pop()).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
    joins.forEach((join, i) => {
      const update = updates.find((u) => u.endsWith(` n${i + 2}`)) as string;
      expect(sent.indexOf(update)).toBeGreaterThan(sent.indexOf(join as string));
    });
    expect(sent.indexOf(updates.find((u) => u.endsWith(' n1')) as string)).toBeGreaterThan(sent.indexOf(joins[2] as string));
    // the final node list, read because the swarm changed
    expect(sent[sent.length - 1]).toBe('Anton: node-ls');
    expect(report.initialised).toBe('Anton');
    expect(sim.nodes.map((n) => `${n.robot} ${n.role}`)).toEqual(['Anton manager', 'Ida manager', 'Otto manager', 'Emil worker']);
  });

  it('a dry run sends no changing command: facts only, and says what it would do', async () => {
    const sim = new SimFleet(FOUR);
    const { details } = await swarm(sim, { dryRun: true });
    expect(sim.changes()).toEqual([]);
    expect(sim.sent.every((s) => s.endsWith(': facts'))).toBe(true);
    expect(details('Anton')).toContain('would run docker swarm init --advertise-addr 10.0.0.1 (new swarm, leader)');
    expect(details('Emil').join(' ')).toMatch(/would write ~\/swarm_tokens \(worker token\) and join as worker/);
  });
});

describe('a swarm that is as it should be', () => {
  async function formed() {
    const sim = new SimFleet(FOUR);
    await swarm(sim);
    sim.sent.length = 0;
    return sim;
  }

  it('a re-run sends no write, no join and no node update: only reads', async () => {
    const sim = await formed();
    const { fleet } = await swarm(sim);
    expect(sim.changes()).toEqual([]);
    const reads = sim.sent.filter((s) => !s.endsWith(': facts'));
    // the fleet's cluster, through one of its managers: the node list and the join tokens in one remote call
    expect(reads).toEqual([expect.stringMatching(/^(Anton|Ida|Otto): node-ls$/), expect.stringMatching(/^(Anton|Ida|Otto): join-tokens$/)]);
    expect(reads[1]?.split(':')[0]).toBe(reads[0]?.split(':')[0]);
    for (const r of FOUR) expect(fleet.outcomes.get(r)?.status).toBe('ok');
  });

  it('a dry run with a new robot compares its tokens (sync-tokens 1) and changes nothing (a fifth robot: a manager)', async () => {
    const sim = await formed();
    sim.robots.set('Paula', { name: 'Paula', ip: '10.0.0.5', local: 'inactive', nodeId: '', tokenFiles: new Map() });
    const { details } = await swarm(sim, { dryRun: true });
    expect(sim.changes()).toEqual([]);
    expect(sim.sent).toContain('Paula: sync-tokens 1');
    expect(details('Paula').join('\n')).toMatch(
      /would have changed manager_token[^\n]*\nwould write ~\/swarm_tokens \(manager token\) and join as manager/,
    );
  });

  it('labels follow the inventory: only the node whose labels differ is updated', async () => {
    const sim = await formed();
    delete (sim.nodes[2]?.labels as Record<string, string>).CPU_COUNT; // Otto's, changed by hand
    await swarm(sim);
    expect(sim.changes()).toEqual([expect.stringMatching(/^Anton: docker node update --label-add CPU_COUNT=2 .*n3$/)]);
  });
});

describe('cleaning up interrupted joins', () => {
  it('a robot pending without a node leaves (docker swarm leave --force), then joins again', async () => {
    const sim = new SimFleet(['Anton', 'Ida']);
    sim.member('Anton', 'manager');
    const ida = sim.robots.get('Ida');
    if (ida) ida.local = 'pending';
    const { details } = await swarm(sim);
    const idas = sim.changes().filter((s) => s.startsWith('Ida'));
    // its token files come with the join again (one remote call), after the leave
    expect(idas).toEqual(['Ida: docker swarm leave --force', 'Ida: sync-tokens 0', expect.stringMatching(/^Ida: join worker /)]);
    expect(details('Ida').join(' ')).toMatch(/cleaned up an interrupted join \(state pending\)/);
  });
});

describe('promote, demote, hand-over', () => {
  it('promotions first, then demotions, the leader last: each sent from a manager that stays', async () => {
    const sim = new SimFleet(['Anton', 'Ida', 'Otto', 'Emil', 'Paula']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'manager');
    sim.member('Otto', 'worker');
    sim.member('Emil', 'worker');
    sim.member('Paula', 'manager');
    const roles = { Anton: 'worker', Paula: 'worker', Otto: 'manager', Emil: 'manager' };
    const { report } = await swarm(sim, { roles });
    const roleChanges = sim.changes().filter((s) => /node (promote|demote)/.test(s));
    expect(roleChanges).toEqual([
      'Ida: docker node promote n3',
      'Ida: docker node promote n4',
      'Ida: docker node demote n5',
      'Ida: docker node demote n1',
    ]);
    expect(report.handOver).toEqual({ from: 'Anton', to: 'Ida' });
    expect(sim.sent.filter((s) => s.startsWith('Anton:') && /docker node/.test(s))).toEqual([]);
  });

  it("the leader still hands over when its node's label update failed earlier in the run", async () => {
    const sim = new SimFleet(['Anton', 'Ida', 'Otto']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'manager');
    sim.member('Otto', 'manager');
    sim.refuse = /docker node update .* n1$/;
    const { report, details } = await swarm(sim, { roles: { Anton: 'worker' } });
    expect(sim.changes().filter((s) => /node (update|promote|demote)/.test(s))).toEqual([
      expect.stringMatching(/^Ida: docker node update .* n1$/),
      expect.stringMatching(/^Ida: docker node update .* n2$/),
      expect.stringMatching(/^Ida: docker node update .* n3$/),
      'Ida: docker node demote n3', // two eligible managers: the plan keeps one
      'Ida: docker node demote n1',
    ]);
    expect(details('Anton').join(' ')).toMatch(/refused by the test[\s\S]*handed over the lead/);
    expect(report.handOver).toEqual({ from: 'Anton', to: 'Ida' });
  });

  it('a dry run says it would promote and demote, and sends neither', async () => {
    const sim = new SimFleet(['Anton', 'Ida', 'Otto']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'manager');
    sim.member('Otto', 'worker');
    const { details } = await swarm(sim, { dryRun: true, roles: { Ida: 'worker', Otto: 'manager' } });
    expect(sim.changes()).toEqual([]);
    expect(details('Otto').join(' ')).toMatch(/would promote to manager/);
    expect(details('Ida').join(' ')).toMatch(/would demote to worker/);
  });
});

describe('pruning nodes', () => {
  it("a robot's stale node (it left and joined again) is removed; a stranger node is kept without --prune", async () => {
    const sim = new SimFleet(['Anton', 'Ida']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'worker');
    const stale = { ...(sim.nodes[1] as (typeof sim.nodes)[0]), id: 'n9', state: 'down' as const, labels: {} };
    const stranger = { ...stale, id: 'n8', robot: 'Gone', ip: '10.0.0.99' };
    sim.nodes.push(stale, stranger);
    const { report } = await swarm(sim);
    expect(sim.changes().filter((s) => /node rm/.test(s))).toEqual(['Anton: docker node rm --force n9']);
    expect(report.notes.join(' ')).toMatch(/drift: 1 node of no inventory robot: Gone \(n8, 10\.0\.0\.99, worker, down\) — kept/);
  });
});

describe('rotate', () => {
  it('rotates the token on a manager and writes it; no join, role change or label update even where the plan wants one', async () => {
    const sim = new SimFleet(['Anton', 'Ida', 'Otto']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'worker');
    const fleet = fleetOver(sim);
    await runSwarm(fleet, { rotate: 'worker' });
    expect(sim.changes()).toEqual([
      'Anton: rotate-token worker',
      ...['Anton', 'Ida', 'Otto'].map((r) => `${r}: sync-tokens 0`), // Otto is not in the swarm: it gets its token
    ]);
    expect(fleet.outcomes.get('Anton')?.details).toContain('rotated the worker join token');
  });

  it('with no swarm, every robot fails with the reason and nothing is sent', async () => {
    const sim = new SimFleet(['Anton', 'Ida']);
    const fleet = fleetOver(sim);
    await runSwarm(fleet, { rotate: 'both' });
    expect(sim.changes()).toEqual([]);
    expect(fleet.outcomes.get('Ida')?.details.join(' ')).toMatch(/no join token to rotate/);
  });
});

describe("the roles wizard's read", () => {
  it('robots sharing one node ID (a copied swarm state) show why on both rows, naming each other, and are not failed', async () => {
    const sim = new SimFleet(['Anton', 'Ida']);
    sim.member('Anton', 'manager');
    Object.assign(sim.robots.get('Ida') as object, { local: 'active', nodeId: 'n1' });
    const fleet = fleetOver(sim);
    const rows = await readWizardRows(fleet);
    expect(rows.find((r) => r.name === 'Ida')?.problem).toMatch(/reports swarm node n1, as Anton does: one holds a copy/);
    expect(rows.find((r) => r.name === 'Anton')?.problem).toMatch(/reports swarm node n1, as Ida does: one holds a copy/);
    expect(rows.find((r) => r.name === 'Anton')).toMatchObject({ swarmRole: 'unknown', leader: false }); // neither is trusted
    expect([...fleet.outcomes.values()].map((o) => o.status)).not.toContain('failed');
    expect(sim.changes()).toEqual([]);
  });

  it("a robot reporting the node the swarm has at another robot's address shows why on its row", async () => {
    const sim = new SimFleet(['Anton', 'Ida', 'Emil']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'worker');
    Object.assign(sim.robots.get('Emil') as object, { local: 'active', nodeId: 'n2', advertised: '10.0.0.2' });
    const rows = await readWizardRows(fleetOver(sim, { gone: ['Ida'] }));
    expect(rows.find((r) => r.name === 'Emil')?.problem).toMatch(
      /reports swarm node n2, but its engine advertises 10\.0\.0\.2, Ida's address/,
    );
    expect(rows.find((r) => r.name === 'Anton')).toMatchObject({ swarmRole: 'manager', leader: true });
    expect(sim.changes()).toEqual([]);
  });
});

describe("a robot reporting another robot's node", () => {
  /** Anton leads; Ida and Otto are workers; Emil's own node is n4, but it reports Ida's (n2). */
  function claimedFleet() {
    const sim = new SimFleet(FOUR);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'worker');
    sim.member('Otto', 'worker');
    sim.member('Emil', 'worker');
    sim.nodes[3]!.state = 'down'; // its engine runs Ida's copied state now
    Object.assign(sim.robots.get('Emil') as object, { nodeId: 'n2', advertised: '10.0.0.2' });
    return sim;
  }
  /** Anything sent about Ida's node or Emil's own, and any token file written to Emil. */
  const touching = (sim: SimFleet) => sim.changes().filter((s) => /\bn[24]$|^Emil: (sync-tokens|join|docker)/.test(s));

  it('the robot fails naming both; neither node is promoted, labelled or pruned, and it gets no token', async () => {
    const sim = claimedFleet();
    // pinned as manager: acting on its claim would promote Ida's node, label it as Emil, and prune Emil's own as stale
    const { fleet, details } = await swarm(sim, { roles: { Emil: 'manager' }, gone: ['Ida'], prune: true });
    expect(fleet.outcomes.get('Emil')?.status).toBe('failed');
    expect(details('Emil').join(' ')).toMatch(
      /reports swarm node n2, but its engine advertises 10\.0\.0\.2, Ida's address, and the swarm has node n2 at 10\.0\.0\.2 with hostname Ida; Emil is at 10\.0\.0\.4 with hostname Emil\. Nothing is done to that node, nor to any other node of Emil or Ida\./,
    );
    expect(touching(sim)).toEqual([]);
    expect(sim.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(fleet.outcomes.get('Otto')?.status).toBe('changed'); // the others are done
  });

  it('a claim that only the node list disproves (the engine advertises its own address) is refused the same way', async () => {
    const sim = claimedFleet();
    Object.assign(sim.robots.get('Emil') as object, { advertised: '10.0.0.4', hostname: 'Ida' }); // a liar, or a clone by hostname
    const { fleet, details } = await swarm(sim, { roles: { Emil: 'manager' }, gone: ['Ida'], prune: true });
    expect(details('Emil').join(' ')).toMatch(
      /reports swarm node n2, which is Ida's: the swarm has node n2 at 10\.0\.0\.2 with hostname Ida; Emil is at 10\.0\.0\.4 with hostname Ida/,
    );
    expect(fleet.outcomes.get('Emil')?.status).toBe('failed');
    expect(touching(sim)).toEqual([]);
  });

  it('when both report the node, both fail naming each other, and nothing is sent for either', async () => {
    const sim = claimedFleet();
    const { fleet, details } = await swarm(sim, { roles: { Emil: 'manager' }, prune: true });
    expect(details('Ida').join(' ')).toMatch(
      /reports swarm node n2, as Emil does: one holds a copy[\s\S]*Emil's engine advertises 10\.0\.0\.2, Ida's address: Emil holds the copy/,
    );
    expect(details('Emil').join(' ')).toMatch(/reports swarm node n2, as Ida does/);
    expect(['Ida', 'Emil'].map((r) => fleet.outcomes.get(r)?.status)).toEqual(['failed', 'failed']);
    expect(touching(sim).concat(sim.changes().filter((s) => s.startsWith('Ida: ')))).toEqual([]);
  });

  it('the only manager refused: the run stops after reading the node list, nothing is sent through it', async () => {
    const sim = new SimFleet(['Anton', 'Ida']);
    sim.member('Anton', 'manager');
    sim.member('Ida', 'worker');
    Object.assign(sim.nodes[0]!, { ip: '10.0.0.9', hostname: 'Berta' }); // the swarm knows n1 elsewhere, under another name
    const { fleet, details } = await swarm(sim);
    expect(details('Anton').join(' ')).toMatch(
      /reports swarm node n1, which is not its own: the swarm has node n1 at 10\.0\.0\.9 with hostname Berta/,
    );
    expect(details('Ida').join(' ')).toMatch(/not finished — the run stopped: no manager .*Anton's node is not its own/);
    expect(sim.sent.slice(0, 2).sort()).toEqual(['Anton: facts', 'Ida: facts']);
    // the node list (and the join tokens, in the same call, before its claim could be judged; never used)
    expect(sim.sent.slice(2)).toEqual(['Anton: node-ls', 'Anton: join-tokens']);
    expect(fleet.exitCode()).toBe(1);
  });

  it('robots cloned with one hostname, each reporting its own node, are both done', async () => {
    const sim = new SimFleet(FOUR);
    for (const r of FOUR) sim.member(r, r === 'Anton' ? 'manager' : 'worker');
    Object.assign(sim.robots.get('Emil') as object, { hostname: 'Ida' });
    sim.nodes[3]!.hostname = 'Ida';
    const { fleet } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    expect(sim.changes().filter((s) => /node update .* n4$/.test(s))).toHaveLength(1); // Emil's labels on its own node
  });
});

describe('formation under load (joins slow, pending, failing for a while; the lead moving)', () => {
  // The waits of the real run shrunk: a stall is 400 ms here, not 180 s; the decisions are the same.
  const real = { ...joinTiming };
  const realFollow = { ...followTiming };
  const realLeaderWait = { ...leaderWait };
  beforeEach(() => {
    Object.assign(joinTiming, { pollMs: 10, lookMs: 20, retryMs: 10, retryMaxMs: 20, stallMs: 400, capMs: 60_000 });
    Object.assign(followTiming, { baseMs: 10, maxMs: 20 });
    Object.assign(leaderWait, { withinMs: 100, baseMs: 10 });
  });
  afterEach(() => {
    Object.assign(joinTiming, real);
    Object.assign(followTiming, realFollow);
    Object.assign(leaderWait, realLeaderWait);
  });
  const joins = (sim: SimFleet, robot: string) => sim.sent.filter((s) => s.startsWith(`${robot}: join `));

  it('a join that docker goes on with in the background is waited for; the robot joins, the run succeeds', async () => {
    const sim = new SimFleet(FOUR);
    sim.joinTurns.set('Emil', [{ kind: 'pending', polls: 5 }]);
    const { fleet, details } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    expect(fleet.outcomes.get('Emil')?.status).toBe('joined');
    expect(details('Emil')).toContain('joined as worker (after a join that went on in the background)');
    expect(sim.sent.filter((s) => s === 'Emil: join-state')).toHaveLength(5);
  });

  it("docker's errors of a loaded swarm (deadline, its own 20-s timeout, no leader, unavailable) are sent again, not failed", async () => {
    const sim = new SimFleet(FOUR);
    sim.joinTurns.set('Emil', [
      { kind: 'fail', message: DOCKER_SAYS.deadline },
      { kind: 'fail', message: DOCKER_SAYS.noLeader },
      { kind: 'fail', message: DOCKER_SAYS.unavailable },
    ]);
    // Docker's timeout answer, after which the join goes on in the background and ends joined.
    sim.joinTurns.set('Otto', [{ kind: 'fail', message: DOCKER_SAYS.joinTimeout, then: { pending: 3 } }]);
    const { fleet, details } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    expect(joins(sim, 'Emil')).toHaveLength(4);
    expect(details('Emil')).toContain('joined as worker (at attempt 4)');
    expect(joins(sim, 'Otto')).toHaveLength(1); // joined in the background: not sent twice
    expect(details('Otto')).toContain('joined as manager (after a join that went on in the background)');
  });

  it('a refusal (wrong token, a certificate not of this swarm) fails the robot at once: one join, no retry', async () => {
    const sim = new SimFleet(FOUR);
    sim.joinTurns.set('Emil', [{ kind: 'fail', message: DOCKER_SAYS.badToken }]);
    sim.joinTurns.set('Otto', [{ kind: 'fail', message: DOCKER_SAYS.x509 }]);
    const { fleet, details } = await swarm(sim);
    expect(fleet.outcomes.get('Emil')?.status).toBe('failed');
    expect(fleet.outcomes.get('Otto')?.status).toBe('failed');
    expect(joins(sim, 'Emil')).toHaveLength(1);
    expect(joins(sim, 'Otto')).toHaveLength(1);
    expect(details('Emil').join(' ')).toContain('A valid join token is necessary');
    expect(fleet.outcomes.get('Ida')?.status).toBe('joined');
  });

  it("every manager's swarm port closed (their docker stopped): the join fails at once, naming it, not after the stall", async () => {
    const sim = new SimFleet(FOUR);
    sim.joinTurns.set('Emil', [
      { kind: 'fail', message: ['10.0.0.1:2377', '10.0.0.2:2377', '10.0.0.3:2377'].map(DOCKER_SAYS.dialRefused).join('\n') },
    ]);
    const started = Date.now();
    const { fleet, details } = await swarm(sim);
    expect(Date.now() - started).toBeLessThan(joinTiming.stallMs);
    expect(joins(sim, 'Emil')).toHaveLength(1);
    expect(fleet.outcomes.get('Emil')?.status).toBe('failed');
    expect(details('Emil').join(' ')).toMatch(/connection refused.*no manager it was sent to answers on TCP 2377 .*not retried/);
    for (const r of ['Anton', 'Ida', 'Otto']) expect(fleet.outcomes.get(r)?.status).not.toBe('failed');
  });

  it('one manager refused, another electing: sent again, the refused manager tried last from then on', async () => {
    const sim = new SimFleet(FOUR);
    sim.joinTurns.set('Emil', [{ kind: 'fail', message: `${DOCKER_SAYS.dialRefused('10.0.0.1:2377')}\n${DOCKER_SAYS.noLeader}` }]);
    const { fleet, details } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    const [first, second] = joins(sim, 'Emil');
    expect(first).toMatch(/ 10\.0\.0\.1:2377 /);
    expect(second?.split(' ').pop()).toBe('10.0.0.1:2377');
    expect(details('Emil')).toContain('joined as worker (at attempt 2)');
  });

  it('a join pending through a manager found gone is left and sent again through another at once, not after the stall', async () => {
    const sim = new SimFleet(FOUR);
    // Otto's join finds Anton's port closed (Ida answers): Anton is gone. Emil's join went pending through Anton.
    sim.joinTurns.set('Otto', [{ kind: 'fail', message: `${DOCKER_SAYS.dialRefused('10.0.0.1:2377')}\n${DOCKER_SAYS.noLeader}` }]);
    sim.joinTurns.set('Emil', [{ kind: 'pending', polls: Infinity, through: '10.0.0.1:2377' }]);
    const started = Date.now();
    const { fleet, details } = await swarm(sim);
    expect(Date.now() - started).toBeLessThan(joinTiming.stallMs);
    expect(fleet.exitCode()).toBe(0);
    expect(sim.sent).toContain('Emil: docker swarm leave --force');
    expect(joins(sim, 'Emil')).toHaveLength(2);
    expect(fleet.outcomes.get('Emil')?.notes.join(' ')).toContain('its join waited on 10.0.0.1:2377, a manager that is gone: left');
    expect(details('Emil')).toContain('joined as worker (at attempt 2)');
  });

  it('a planned manager refused before it joined (its port not open yet) is not gone once it joined: a join pending through it is waited for', async () => {
    const sim = new SimFleet(FOUR);
    // Ida's first join meets Anton electing, then Otto, which joins in the same round, not listening yet.
    sim.joinTurns.set('Ida', [{ kind: 'fail', message: `${DOCKER_SAYS.noLeader}\n${DOCKER_SAYS.dialRefused('10.0.0.3:2377')}` }]);
    sim.joinTurns.set('Emil', [{ kind: 'pending', polls: 2, through: '10.0.0.3:2377' }]);
    const { fleet, details } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    expect(fleet.outcomes.get('Otto')?.status).toBe('joined');
    expect(sim.sent).not.toContain('Emil: docker swarm leave --force');
    expect(joins(sim, 'Emil')).toHaveLength(1);
    expect(details('Emil')).toContain('joined as worker (after a join that went on in the background)');
  });

  it('one robot that reaches no manager (its own link) fails alone: other joins pending through the managers are not left and sent again', async () => {
    const sim = new SimFleet([...FOUR, 'Paula']);
    const all = ['10.0.0.1:2377', '10.0.0.2:2377', '10.0.0.3:2377'];
    sim.joinTurns.set('Paula', [{ kind: 'fail', message: all.map(DOCKER_SAYS.dialRefused).join('\n') }]);
    sim.joinTurns.set('Emil', [{ kind: 'pending', polls: 3, through: '10.0.0.1:2377' }]);
    const { fleet, details } = await swarm(sim, { roles: { Emil: 'worker', Paula: 'worker' } });
    expect(fleet.outcomes.get('Paula')?.status).toBe('failed');
    // Every manager is "gone" by Paula's word: leaving Emil's join would only send it to them again.
    expect(sim.sent).not.toContain('Emil: docker swarm leave --force');
    expect(joins(sim, 'Emil')).toHaveLength(1);
    expect(details('Emil')).toContain('joined as worker (after a join that went on in the background)');
  });

  it('the swarm loses its leader for good while a join waits: the run stops as a lost quorum, not after the stall', async () => {
    const sim = new SimFleet(FOUR);
    sim.quorumLoss = /^Emil: join /;
    const started = Date.now();
    const { fleet, details } = await swarm(sim);
    expect(Date.now() - started).toBeLessThan(joinTiming.stallMs);
    expect(fleet.exitCode()).not.toBe(0);
    expect(joins(sim, 'Emil').length).toBeGreaterThanOrEqual(1);
    expect(details('Emil').join(' ')).toMatch(/the swarm has lost quorum \(no leader for 30 s/);
    expect(details('Emil').join(' ')).not.toMatch(/made no progress/);
  });

  it('once the quorum is found lost, workers not yet started send no join (a leaderless swarm takes none): the run stops', async () => {
    const sim = new SimFleet(Array.from({ length: 16 }, (_, i) => `R${i + 1}`));
    sim.quorumLoss = /: join worker /;
    Object.assign(joinTiming, { retryMs: 500, retryMaxMs: 500 }); // the loss is found (100 ms) before any join is sent again
    const { fleet } = await swarm(sim);
    expect(fleet.exitCode()).not.toBe(0);
    const workers = [...fleet.outcomes.values()].filter((o) => o.details.join(' ').includes('lost quorum')).length;
    const sent = sim.sent.filter((s) => s.includes(': join worker ')).length;
    expect(workers).toBeGreaterThan(8);
    // The joins in flight when the loss was found (the pacing window's first four), not one per worker.
    expect(sent).toBe(4);
  });

  it("a manager round's label call interrupted, then the run stops before the labels settle: no unhandled rejection (a crash)", async () => {
    const sim = new SimFleet(['Anton', 'Ida', 'Otto', 'Emil', 'Paula']);
    let interrupted = false;
    const answer = sim.answerNamed.bind(sim);
    sim.answerNamed = (name, command, stdin) => {
      if (!interrupted && readable(command).startsWith('docker node update')) {
        interrupted = true;
        throw new Interrupted();
      }
      return answer(name, command, stdin);
    };
    sim.quorumLoss = /: join manager 10\.0\.0\.4 /; // the second round finds no leader: the run stops there
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await swarm(sim, { roles: { Anton: 'manager', Ida: 'manager', Otto: 'manager', Emil: 'manager', Paula: 'manager' } });
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(interrupted).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('a pending join outlasts the stall time while the swarm progresses elsewhere (nodes join the node list), then joins', async () => {
    const sim = new SimFleet(FOUR);
    // ~80 reads of 10 ms: twice the 400-ms stall time. Every 8th read another node joins the swarm.
    sim.joinTurns.set('Emil', [{ kind: 'pending', polls: 80 }]);
    let reads = 0;
    sim.onPendingPoll = () => void (++reads % 8 === 0 && sim.stranger());
    const started = Date.now();
    const { fleet, details } = await swarm(sim);
    expect(Date.now() - started).toBeGreaterThan(joinTiming.stallMs);
    expect(fleet.outcomes.get('Emil')?.status).toBe('joined');
    expect(details('Emil')).toContain('joined as worker (after a join that went on in the background)');
    expect(sim.sent.filter((s) => s.endsWith(': node-ls')).length).toBeGreaterThan(2); // progress read from the swarm
  });

  it('a pending join of a swarm that stopped progressing fails after the stall time, naming it; the others joined', async () => {
    const sim = new SimFleet(FOUR);
    sim.joinTurns.set('Emil', [{ kind: 'pending', polls: Infinity }]);
    const started = Date.now();
    const { fleet, details } = await swarm(sim);
    expect(Date.now() - started).toBeGreaterThanOrEqual(joinTiming.stallMs);
    expect(fleet.outcomes.get('Emil')?.status).toBe('failed');
    expect(details('Emil').join(' ')).toMatch(/the join is still pending; the swarm made no progress .* for 0.4 s/);
    for (const r of ['Anton', 'Ida', 'Otto']) expect(fleet.outcomes.get(r)?.status).not.toBe('failed');
    expect(fleet.exitCode()).not.toBe(0);
  });

  it('the lead moves during labelling ("node lost leader status"): the label is sent again through the new leader, nobody fails', async () => {
    const sim = new SimFleet(FOUR);
    sim.leaderMove = { on: /^Anton: docker node update .* n2$/, to: 'Ida', message: DOCKER_SAYS.lostLeader };
    const { fleet, details } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    const updates = sim.sent.filter((s) => s.includes('docker node update'));
    // Ida's label: refused on Anton as the lead moved, then sent through Ida (who leads now), as is every later one.
    const ida = updates.filter((u) => u.endsWith(' n2')).map((u) => u.split(':')[0]);
    expect(ida).toEqual(['Anton', 'Ida']);
    const switched = updates.findIndex((u) => u.startsWith('Ida: '));
    expect(updates.slice(switched).every((u) => u.startsWith('Ida: '))).toBe(true);
    expect(updates.map((u) => u.split(' ').pop()).sort()).toEqual(['n1', 'n2', 'n2', 'n3', 'n4']);
    expect(details('Ida').join(' ')).toContain('provision works through this manager now: it leads (the lead moved');
  });

  it('a label call lost for a reason that is no manager loss (SSH channels exhausted): its robots fail, not pass unlabelled', async () => {
    const sim = new SimFleet(FOUR);
    let lost = false;
    const answer = sim.answerNamed.bind(sim);
    sim.answerNamed = (name, command, stdin) => {
      if (!lost && readable(command).startsWith('docker node update')) {
        lost = true; // the first label call never answers: its labels were not applied
        throw new Error('(SSH) Channel open failure: open failed');
      }
      return answer(name, command, stdin);
    };
    const { fleet, details } = await swarm(sim);
    expect(lost).toBe(true);
    const labelled = new Set(sim.sent.filter((s) => s.includes('docker node update')).map((u) => u.split(' ').pop()));
    const unlabelled = FOUR.filter((r) => !labelled.has(sim.robots.get(r)?.nodeId));
    expect(unlabelled.length).toBeGreaterThan(0);
    for (const r of unlabelled) {
      expect(fleet.outcomes.get(r)?.status).toBe('failed');
      expect(details(r).join(' ')).toContain('Channel open failure');
    }
    expect(fleet.exitCode()).not.toBe(0);
  });

  it('an election that takes a while ("does not have a leader" several times) is waited out', async () => {
    const sim = new SimFleet(FOUR);
    sim.leaderMove = { on: /^Anton: docker node update .* n4$/, to: 'Otto', message: DOCKER_SAYS.noLeader, until: 3 };
    const { fleet } = await swarm(sim);
    expect(fleet.exitCode()).toBe(0);
    for (const r of FOUR) expect(fleet.outcomes.get(r)?.status).not.toBe('failed');
  });
});

describe('the node list and tokens read in one call (nodesAndTokens)', () => {
  it('a part over its output limit in a call that exited 0 is no answer (ManagerVia reads the list instead), not an empty list', async () => {
    const over = 'x'.repeat(NODES_OUTPUT_LIMIT + 1);
    const stdout = `${over}\n${PART_MARK} 0\nwtok\nmtok\n\n${PART_MARK} 0\n`;
    const manager = {
      robot: { sudo: false },
      conn: { exec: async () => ({ code: 0, stdout, stderr: `\n${PART_MARK} 0\n\n${PART_MARK} 0\n` }) },
    } as unknown as Parameters<typeof nodesAndTokens>[0];
    expect(await nodesAndTokens(manager)).toBeNull();
  });
});
