// `provision reset`: undo `provision swarm` (and with --keys, `provision keys`) on every reachable robot.
// Managers are demoted first so quorum holds while the others leave; the leader leaves last.
import { leaveCommand, nodeRoleCommand, removeTokensCommand, type NodeInfo } from '../remote/docker.js';
import { fileBytes, MANAGED_SSH_FILES } from '../remote/keysScript.js';
import { readSsh } from './keys.js';
import { withManagedBlock } from '../remote/managedBlock.js';
import type { Fleet } from '../run/fleet.js';
import { eachRobot, runPhases, type Phase } from '../run/phases.js';
import type { Phase as Progress } from '../progress.js';
import { liveRobots, onRobot, type Reached } from '../run/reached.js';
import { fleetClusters, gatherMembers, inSwarm, listNodes, withoutFalseClaims, type Member } from './swarmState.js';

interface ResetState {
  fleet: Fleet;
  leaving: Member[];
  nodes: NodeInfo[];
  leader?: Member;
}

export async function runReset(fleet: Fleet, options: { keys: boolean }): Promise<void> {
  const stop = await runPhases(fleet, { fleet, leaving: [], nodes: [] }, resetPhases(options));
  if (stop) throw stop; // quorum lost: the run ends on it
}

export function resetPhases(options: { keys: boolean }): Phase<ResetState>[] {
  const others = (s: ResetState) => s.leaving.filter((m) => m !== s.leader);
  const demoting = (s: ResetState) =>
    s.leader ? others(s).filter((m) => s.nodes.find((n) => n.id === m.facts.swarm?.NodeID)?.role === 'manager') : [];
  const would = (ms: (s: ResetState) => Member[], what: string) => (s: ResetState) =>
    ms(s).forEach((m) => s.fleet.changed(m.robot.name, `would ${what}`));
  return [
    { title: 'reading the swarm', run: readSwarm },
    {
      title: 'demoting the other managers',
      robots: (s) => names(demoting(s)),
      run: async (s, progress) => {
        for (const m of demoting(s)) await onMembers(s, [m], demote, progress); // one at a time, from the leader
      },
      dryRun: would(demoting, 'demote to worker before leaving'),
    },
    {
      title: 'leaving the swarm',
      robots: (s) => names(s.leaving),
      run: async (s, progress) => {
        await onMembers(s, others(s), leaveSwarm, progress);
        await onMembers(s, s.leader ? [s.leader] : [], leaveSwarm, progress); // the leader last
      },
      dryRun: would((s) => s.leaving, 'leave the swarm'),
    },
    {
      title: options.keys ? 'removing ~/swarm_tokens and the ~/.ssh blocks' : 'removing ~/swarm_tokens',
      robots: (s) => liveRobots(s.fleet),
      each: onRobot((s, r) => cleanUp(s, r, options.keys)),
    },
  ];
}

const names = (ms: readonly Member[]) => ms.map((m) => m.robot.name);

function onMembers(s: ResetState, ms: Member[], work: (s: ResetState, m: Member) => Promise<void>, progress: Progress) {
  const byName = new Map(ms.map((m) => [m.robot.name, m]));
  return eachRobot(s.fleet, [...byName.keys()], (n) => work(s, byName.get(n)!), progress);
}

/** Who leaves: the robots in the fleet's swarm (or in any, when no manager answers); the leader known by its node. */
async function readSwarm(s: ResetState): Promise<void> {
  const all = await gatherMembers(s.fleet);
  const cluster = fleetClusters(s.fleet, all)[0];
  s.nodes = cluster ? await listNodes(cluster[1][0] as Member) : [];
  const members = withoutFalseClaims(s.fleet, all, s.nodes); // a robot claiming another's node is left untouched
  const inFleet = (m: Member) => s.nodes.some((n) => n.id === m.facts.swarm?.NodeID);
  s.leaving = members.filter((m) => inSwarm(m.facts) && (inFleet(m) || !cluster));
  for (const m of members.filter((x) => inSwarm(x.facts) && cluster && !inFleet(x)))
    s.fleet.note(m.robot.name, "in a different swarm than the fleet's: left untouched");
  const leaderNode = s.nodes.find((n) => n.leader);
  s.leader = s.leaving.find((m) => m.facts.swarm?.NodeID === leaderNode?.id) ?? s.leaving.find((m) => m.facts.swarm?.ControlAvailable);
}

/** Demoted from the leader, so no step leaves the swarm without quorum. */
async function demote(s: ResetState, m: Member): Promise<void> {
  const leader = s.leader!;
  await leader.conn.run(nodeRoleCommand('demote', m.facts.swarm?.NodeID ?? '', leader.robot.sudo), 'docker node demote');
  s.fleet.changed(m.robot.name, 'demoted to worker before leaving');
}

async function leaveSwarm(s: ResetState, m: Member): Promise<void> {
  await m.conn.run(leaveCommand(m.robot.sudo), 'docker swarm leave');
  s.fleet.changed(m.robot.name, 'left the swarm');
}

/** ~/swarm_tokens removed; with --keys, the managed ~/.ssh blocks too (a dry run reads and says). */
async function cleanUp(s: ResetState, { robot, conn }: Reached, keys: boolean): Promise<void> {
  const dry = s.fleet.options.dryRun;
  const would = dry ? 'would ' : '';
  const out = await conn.run(removeTokensCommand(dry), 'removing ~/swarm_tokens');
  if (out.trim()) s.fleet.changed(robot.name, `${would}remove ~/swarm_tokens`);
  if (!keys) return;
  const gathered = await readSsh(robot, conn);
  for (const file of MANAGED_SSH_FILES) {
    const current = gathered.files[file];
    const without = withManagedBlock(current.content, [], 'bottom');
    if (current.mode === null || without === current.content) continue;
    if (!dry) await conn.writeFileAtomic(`.ssh/${file}`, fileBytes(without), parseInt(current.mode, 8));
    s.fleet.changed(robot.name, `${would}remove the provision block from ~/.ssh/${file}`);
  }
}
