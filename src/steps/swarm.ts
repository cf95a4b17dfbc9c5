// `provision swarm`: facts; reuse the fleet's swarm or init one on the leader; plan roles by quorum
// rules; write ~/swarm_tokens; promote/join/demote in a quorum-safe order; label; prune. src/plan
// decides, the phases do the I/O (after the plan: ./formation.ts).
import {
  factsCommand,
  joinTokensCommand,
  nodesCommand,
  parseFacts,
  parseNodes,
  swarmInitCommand,
  type NodeInfo,
} from '../remote/docker.js';
import { batch, splitBatch, type RemoteCommand } from '../remote/shell.js';
import { RemoteCommandError, type ExecResult } from '../ssh/connection.js';
import { planRoles } from '../plan/quorum.js';
import { redact } from '../log.js';
import type { Fleet } from '../run/fleet.js';
import type { SwarmReport } from '../run/outcome.js';
import { runPhases, type Phase } from '../run/phases.js';
import { Formation, planInput, type RotateWhich } from './formation.js';
import { QuorumLostError, fleetClusters, gatherMembers, halfJoined, inSwarm, type Member } from './swarmState.js';
import { ingressMtuNote, runPreflight } from './preflight.js';
import { recreateIngressCommand } from '../remote/preflight.js';
import { Interrupted, throwIfInterrupted } from '../interrupt.js';

export type { SwarmReport } from '../run/outcome.js';
export type { RotateWhich } from './formation.js';

interface SwarmOptions {
  /** provision rotate: rotate these join tokens and write them, nothing else. */
  rotate?: RotateWhich;
  /** Facts read already in this run (provision remove). */
  members?: Member[];
  /** How the run's last call (labels, node list) goes: `provision up` sends it with the manager's last call. */
  lastCall?: (manager: Member, parts: RemoteCommand[]) => Promise<ExecResult[]>;
}

class SwarmRun {
  readonly report: SwarmReport = {
    plan: null,
    clusterId: null,
    nodes: [],
    initialised: null,
    robotOfNode: new Map(),
    handOver: null,
    notes: [],
  };
  members: Member[] = [];
  /** A manager of the fleet's swarm to start from. */
  found: Member | null = null;
  formation: Formation | null = null;
  /** Read in the same remote call as swarm init: the plan and the tokens phases need not ask again. */
  afterInit: { nodes: NodeInfo[]; tokens: string } | null = null;
  /** Token files written while robots join (not waited for before the joins): settled before the last call. */
  aside: Promise<void>[] = [];
  constructor(
    readonly fleet: Fleet,
    readonly options: SwarmOptions,
  ) {}
}

/** Set by the plan phase: later phases never run without it. */
const f = (s: SwarmRun) => s.formation as Formation;

const facts: Phase<SwarmRun> = {
  title: 'reading docker facts',
  run: async (s) => {
    s.members = s.options.members ?? (await gatherMembers(s.fleet));
    // The fleet's swarm: the cluster most reachable managers belong to (the leader's on a tie).
    const clusters = fleetClusters(s.fleet, s.members);
    s.report.clusterId = clusters[0]?.[0] ?? null;
    s.found = clusters[0]?.[1][0] ?? null;
  },
};
/** Before any join: robots a finding fails leave the run here (the plan counts them as unreachable). */
const preflight: Phase<SwarmRun> = {
  title: 'preflight: clocks, ports, MTU, kernels',
  // Only where some robot is to join (a no-op re-run does not pay it; remove converges joined robots);
  // check --preflight reads it any time.
  robots: (s) =>
    s.options.members || s.members.every((m) => inSwarm(m.facts) && !halfJoined(m.facts)) ? [] : s.members.map((m) => m.robot.name),
  run: async (s) => {
    const report = await runPreflight(s.fleet, s.members, true);
    throwIfInterrupted(); // a preflight cut short by Ctrl-C read nothing worth reporting
    s.report.preflight = report;
    s.members = s.members.filter((m) => s.fleet.outcomes.get(m.robot.name)?.status !== 'failed');
    const note = s.found ? await ingressMtuNote(s.found, report) : null;
    if (note) s.report.notes.push(note);
  },
};
const init: Phase<SwarmRun> = { title: 'initialising the swarm', run: initSwarm }; // a dry run only says what it would do
const plan: Phase<SwarmRun> = {
  title: 'planning roles',
  run: async (s) => {
    s.formation = await Formation.start(s.fleet, s.members, s.report, s.found as Member, s.afterInit?.nodes);
  },
};
const tokens: Phase<SwarmRun> = {
  title: 'writing ~/swarm_tokens',
  dryTitle: 'comparing ~/swarm_tokens', // a dry run compares digests and writes nothing
  robots: (s) => f(s).tokenRobots(),
  run: (s) => f(s).readTokens(s.afterInit?.tokens),
  each: (s, robot) => f(s).writeTokens(robot),
};

export const SWARM_PHASES: readonly Phase<SwarmRun>[] = [
  facts,
  preflight,
  init,
  plan,
  // A robot that joins gets its files with the join (one remote call less); the rest here, while others join.
  {
    ...tokens,
    each: async (s, robot) => {
      if (f(s).joinsLater(robot)) return;
      if (s.fleet.options.dryRun) return f(s).writeTokens(robot); // compared in order, before what follows
      s.aside.push(aside(s, robot));
    },
  },
  {
    title: 'cleaning up interrupted joins',
    robots: (s) => f(s).halfJoinedRobots(),
    each: (s, r) => f(s).cleanHalfJoined(r),
    dryRun: (s) => f(s).wouldDo('clean'),
  },
  {
    title: 'promoting',
    robots: (s) => f(s).promotions(),
    run: (s, p) => f(s).changeRoles(f(s).promotions(), 'promote', p),
    dryRun: (s) => f(s).wouldDo('promote'),
  },
  {
    title: 'joining managers',
    robots: (s) => f(s).toJoin('manager'),
    run: (s, p) => f(s).joinManagers(f(s).toJoin('manager'), p),
    dryRun: (s) => f(s).wouldDo('manager'),
  },
  {
    title: 'joining workers',
    robots: (s) => f(s).toJoin('worker'),
    run: (s, p) => f(s).joinWorkers(f(s).toJoin('worker'), p),
    dryRun: (s) => f(s).wouldDo('worker'),
  },
  // The manager rounds' labels settle here; the rest go in the last call, with the node list.
  { title: 'labelling nodes', run: settle, dryRun: (s) => f(s).wouldDo('labels') },
  {
    title: 'demoting',
    robots: (s) => f(s).demotions(),
    run: (s, p) => f(s).changeRoles(f(s).demotions(), 'demote', p),
    dryRun: (s) => f(s).wouldDo('demote'),
  },
  { title: 'pruning nodes', run: (s) => f(s).prune(), dryRun: (s) => void f(s).strangers() }, // strangers() only reports there
  {
    title: 'reading the node list',
    run: (s) => (f(s).noteLimit(), f(s).finalReport(s.options.lastCall)),
    dryRun: (s) => f(s).noteLimit(),
  },
];

/** provision rotate: a new token, written where it goes; nothing else. */
export const ROTATE_PHASES: readonly Phase<SwarmRun>[] = [
  facts,
  { title: 'finding the swarm', run: noSwarmToRotate },
  plan,
  { title: 'rotating join tokens', run: (s) => f(s).rotateTokens(s.options.rotate ?? 'both'), dryRun: 'skip' },
  tokens,
];

/** A robot's token files, written while others join: its error fails it alone. */
function aside(s: SwarmRun, robot: string): Promise<void> {
  const written = f(s)
    .writeTokens(robot)
    .catch((err: Error) => {
      if (err instanceof Interrupted) throw err;
      s.fleet.failed(robot, err.message);
    });
  written.catch(() => undefined); // awaited in settle
  return written;
}

async function settle(s: SwarmRun): Promise<void> {
  await Promise.all(s.aside);
  await f(s).settleLabels();
  await f(s).labelBeforeDemotions();
}

export async function runSwarm(fleet: Fleet, options: SwarmOptions = {}): Promise<SwarmReport> {
  const s = new SwarmRun(fleet, options);
  try {
    const stop = await runPhases(fleet, s, options.rotate ? ROTATE_PHASES : SWARM_PHASES).finally(() => Promise.allSettled(s.aside));
    if (stop instanceof QuorumLostError) quorumLost(fleet, s.members);
    else if (stop) stopped(fleet, s, stop);
  } catch (err) {
    if (!s.members.length) throw err; // before the facts: the step's caller reports it on every robot
    stopped(fleet, s, err as Error);
  }
  return s.report;
}

async function noSwarmToRotate(s: SwarmRun): Promise<void | 'stop'> {
  if (s.found) return;
  for (const m of s.members)
    s.fleet.failed(m.robot.name, 'no reachable manager of a swarm: no join token to rotate (provision swarm makes one)');
  return 'stop';
}

/** No leader for 30 s. No guessing: recovering means a new majority of one, the operator's choice. */
function quorumLost(fleet: Fleet, members: Member[]): void {
  const reachable = fleetClusters(fleet, members)[0]?.[1].map((m) => m.robot.name) ?? [];
  failTheRest(
    fleet,
    members,
    `the swarm has lost quorum (no leader for 30 s; reachable managers: ${reachable.join(', ') || 'none'}). Bring the other managers back, ` +
      `or recover deliberately with \`provision recover --on ${reachable[0] ?? '<manager>'}\` (docker swarm init --force-new-cluster there)`,
  );
}

function failTheRest(fleet: Fleet, members: Member[], reason: string): void {
  for (const m of members) if (fleet.outcomes.get(m.robot.name)?.status !== 'failed') fleet.failed(m.robot.name, reason);
}

/** Any other error that ended the phases: every robot not failed yet is not finished. */
function stopped(fleet: Fleet, s: SwarmRun, err: Error): void {
  const why = redact(err.message);
  failTheRest(fleet, s.members, `not finished — the run stopped: ${why}. What is listed before this was done; run provision swarm again`);
  if (s.report.nodes.length)
    s.report.notes.push('the node list above is as read at the start of the run: the run stopped before it could be read again');
}

/** With no swarm anywhere, `swarm init` on the leader. */
async function initSwarm(s: SwarmRun): Promise<void | 'stop'> {
  if (s.found) return;
  const { fleet, members, report } = s;
  // A half-joined robot belongs to no swarm (it is cleaned up later).
  const stranded = members.filter((m) => inSwarm(m.facts) && !halfJoined(m.facts));
  if (stranded.length) {
    // No manager of their swarm answers: a second init would split the fleet.
    for (const m of stranded)
      fleet.failed(
        m.robot.name,
        `in a swarm (state ${m.facts.swarm?.LocalNodeState}) whose managers are not reachable: nothing was initialised; bring a manager back or run \`provision recover\``,
      );
    for (const m of members.filter((x) => !inSwarm(x.facts)))
      fleet.note(m.robot.name, 'waiting: no reachable manager of the existing swarm');
    return 'stop';
  }
  const leader = chooseInitLeader(fleet, members);
  if (!leader) {
    for (const m of members)
      fleet.failed(m.robot.name, 'no reachable robot may lead (canBecomeLeader/canBecomeManager): nothing was initialised');
    return 'stop';
  }
  if (!fleet.inLimit(leader.robot.name)) {
    for (const m of members.filter((x) => fleet.inLimit(x.robot.name))) {
      fleet.failed(
        m.robot.name,
        `there is no swarm yet and it would be initialised on ${leader.robot.name}, outside --limit: add ${leader.robot.name} to --limit, or run without it`,
      );
    }
    return 'stop';
  }
  report.initialised = leader.robot.name;
  if (fleet.options.dryRun) {
    const mtu = report.preflight?.overlayMtu;
    fleet.changed(
      leader.robot.name,
      `would run docker swarm init --advertise-addr ${leader.robot.ip} (new swarm, leader)${mtu ? `, ingress network at MTU ${mtu}` : ''}`,
    );
    planOnly(fleet, members, report, leader.robot.name);
    return 'stop';
  }
  await initOn(s, leader);
  fleet.changed(leader.robot.name, `initialised a new swarm (advertise ${leader.robot.ip})`);
  const mtu = report.preflight?.overlayMtu;
  if (mtu) {
    // No service exists yet: the one moment the routing mesh can get the fleet's MTU without disturbing anything.
    await leader.conn.run(recreateIngressCommand(mtu, leader.robot.sudo), `creating the ingress network at MTU ${mtu}`);
    fleet.changed(leader.robot.name, `ingress network created at MTU ${mtu} (swarm.overlayMtu)`);
  }
  report.clusterId = leader.facts.swarm?.Cluster?.ID ?? null;
  s.found = leader;
}

/** One remote call: swarm init, then (once it succeeded) what the next phases read of the new swarm. */
async function initOn(s: SwarmRun, leader: Member): Promise<void> {
  const { robot, conn } = leader;
  const init = swarmInitCommand(robot.ip, s.fleet.inventory.swarm.init, robot.sudo);
  const calls = batch([init, factsCommand(robot.sudo), nodesCommand(robot.sudo), joinTokensCommand(robot.sudo)], { stopOnFailure: true });
  const answers = splitBatch(await conn.exec(calls), calls.parts);
  const [, facts, nodes, tokens] = ['docker swarm init', 'reading facts', 'listing swarm nodes', 'reading join tokens'].map((what, i) => {
    const r = answers[i] as ExecResult;
    if (r.code !== 0) throw new RemoteCommandError(robot.name, what, r);
    return r.stdout;
  }) as [string, string, string, string];
  leader.facts = parseFacts(facts, robot.sudo);
  s.afterInit = { nodes: parseNodes(nodes), tokens };
}

function chooseInitLeader(fleet: Fleet, members: Member[]): Member | undefined {
  const allowed = (m: Member) =>
    m.robot.canBecomeLeader &&
    m.robot.canBecomeManager &&
    m.robot.role !== 'worker' &&
    !inSwarm(m.facts) &&
    fleet.outcomes.get(m.robot.name)?.status !== 'failed';
  const named = members.find((m) => m.robot.name === fleet.inventory.swarm.leader && allowed(m));
  return named ?? members.find(allowed);
}

/** A dry run before any swarm: the plan as after init. */
function planOnly(fleet: Fleet, members: Member[], report: SwarmReport, leader: string): void {
  const plan = planRoles({ robots: planInput(fleet, members, () => undefined), managers: fleet.inventory.swarm.managers, leader });
  report.plan = plan;
  for (const d of plan.decisions) {
    if (!members.some((m) => m.robot.name === d.name) || d.name === leader) continue;
    fleet.changed(d.name, `would write ~/swarm_tokens (${d.role} token) and join as ${d.role} (${d.reason})`);
  }
}
