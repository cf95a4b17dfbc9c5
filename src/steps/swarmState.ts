// The fleet's swarm as it is, read-only: every robot's facts, the fleet's cluster, its nodes.
import { StopRun } from '../run/phases.js';
import type { Robot } from '../inventory/schema.js';
import { batch } from '../remote/shell.js';
import { preflightCommand } from '../remote/preflight.js';
import { factsCommand, nodesCommand, parseFacts, parseNodes, type NodeInfo, type RobotFacts, type SwarmInfo } from '../remote/docker.js';
import { RemoteCommandError, type RobotConnection } from '../ssh/connection.js';
import type { Fleet } from '../run/fleet.js';
import { retry } from '../run/retry.js';
import { strangerNodes } from '../plan/drift.js';
import { falseClaims, sharedClaims, type Claim, type Refusal } from '../plan/identity.js';

export interface Member {
  robot: Robot;
  conn: RobotConnection;
  facts: RobotFacts;
}

export function inSwarm(f: RobotFacts): boolean {
  return f.swarm !== null && f.swarm.LocalNodeState !== 'inactive' && f.swarm.LocalNodeState !== '';
}

/**
 * A join that never finished (interrupted, or docker restarted): `pending` or `error` without a node ID.
 * It belongs to no swarm: it leaves and joins again, never counted as a member of another swarm.
 */
export function halfJoined(f: RobotFacts): boolean {
  const state = f.swarm?.LocalNodeState;
  return (state === 'pending' || state === 'error') && !f.swarm?.NodeID;
}

/** Managers grouped by cluster: the same cluster ID, or (during an election, when docker cannot say it) listing each other. */
function clustersOf(members: Member[]): Map<string, Member[]> {
  const managers = members.filter((m) => m.facts.swarm?.ControlAvailable);
  const groups: Member[][] = [];
  const related = (a: Member, b: Member) => {
    const sa = a.facts.swarm as SwarmInfo;
    const sb = b.facts.swarm as SwarmInfo;
    if (sa.Cluster?.ID && sa.Cluster.ID === sb.Cluster?.ID) return true;
    return (sa.RemoteManagers ?? []).some((r) => r.NodeID === sb.NodeID) || (sb.RemoteManagers ?? []).some((r) => r.NodeID === sa.NodeID);
  };
  for (const m of managers) {
    const joined = groups.filter((g) => g.some((x) => related(x, m)));
    const merged = [m, ...joined.flat()];
    for (const g of joined) groups.splice(groups.indexOf(g), 1);
    groups.push(merged);
  }
  return new Map(
    groups.map((g) => [
      g.find((m) => m.facts.swarm?.Cluster?.ID)?.facts.swarm?.Cluster?.ID ?? `(nodes ${g.map((m) => m.facts.swarm?.NodeID).join(',')})`,
      g,
    ]),
  );
}

/** The managers are electing a leader (or cannot): only these are waited out. */
export const NO_LEADER = /does not have a leader|context deadline exceeded|code = (Unavailable|DeadlineExceeded)/i;

/** The managers have lost their Raft majority. */
export class QuorumLostError extends StopRun {}

/** The node list from a manager; retried for up to 30 s during an election. */
/** How long the node list waits for an election before the quorum is called lost (the stand-in tests shrink it). */
export const leaderWait = { withinMs: 30_000, baseMs: 2000 };

export function listNodes(manager: Member): Promise<NodeInfo[]> {
  const read = async () => {
    const result = await manager.conn.exec(nodesCommand(manager.robot.sudo));
    if (result.code === 0) return parseNodes(result.stdout);
    if (NO_LEADER.test(result.stderr)) throw new QuorumLostError(result.stderr.trim()); // the last one, after 30 s, goes on up
    throw new RemoteCommandError(manager.robot.name, 'listing swarm nodes', result);
  };
  const { withinMs, baseMs } = leaderWait;
  return retry(read, { withinMs, baseMs, maxMs: baseMs, retryIf: (err) => err instanceof QuorumLostError });
}

/** The swarm steps' first command (run with the lock, see Fleet.lock). */
export const factsFirstCommand = (robot: Robot) => factsCommand(robot.sudo);
/** The preflight's own readings (runPreflight reads them with firstRead: run with the lock by `swarm` and `up`). */
export const preflightFirstCommand = (robot: Robot) => preflightCommand(robot.ip);
/** `swarm`'s first call, with the lock: the facts, and the preflight's readings (judged only where some robot joins). */
export const swarmOpening = (robot: Robot) => batch([factsFirstCommand(robot), preflightFirstCommand(robot)]);

/**
 * Every connected robot's facts, in inventory order; one without working docker fails. Robots reporting
 * one node ID between them fail, all of them (see sharedClaims). With `problems` (the wizard), unreadable
 * facts and shared node IDs are noted there instead, and a robot whose docker does not answer stays.
 */
export async function gatherMembers(fleet: Fleet, problems?: Map<string, string>): Promise<Member[]> {
  const members: Member[] = [];
  await fleet.eachConnected(async (robot, conn) => {
    const read = fleet.firstRead(robot, conn, factsFirstCommand(robot), 'reading facts').then((out) => parseFacts(out, robot.sudo));
    const facts = problems ? await read.catch((err: Error) => void problems.set(robot.name, err.message)) : await read;
    if (!facts) return;
    if (facts.dockerError && !problems) throw new Error(facts.dockerError);
    members.push({ robot, conn, facts });
  }, 'reading docker facts');
  const order = new Map(fleet.inventory.robots.map((r, i) => [r.name, i]));
  members.sort((a, b) => (order.get(a.robot.name) ?? 0) - (order.get(b.robot.name) ?? 0));
  for (const c of clonedEngines(members))
    fleet.note(
      c.robot,
      `reports the same Docker engine ID as ${c.sameAs} (cloned /etc/docker/key.json or /var/lib/docker/engine-id?): the swarm tells them apart by node ID, but give it its own ID (stop docker, remove that file, start docker)`,
    );
  return refuseClaims(fleet, members, sharedClaims(members.flatMap(claimOf)), problems);
}

/** What a robot in a swarm says of its node (none for a robot outside one). */
function claimOf(m: Member): Claim[] {
  const swarm = m.facts.swarm;
  if (!inSwarm(m.facts) || !swarm?.NodeID) return [];
  return [{ robot: m.robot.name, ip: m.robot.ip, hostname: m.facts.hostname, nodeId: swarm.NodeID, advertised: swarm.NodeAddr ?? '' }];
}

/** Refused robots fail (or, for the wizard, show why on their row) and leave the run: nothing is done for their claim. */
function refuseClaims(fleet: Fleet, members: Member[], refusals: Refusal[], problems?: Map<string, string>): Member[] {
  for (const r of refusals) {
    if (problems) problems.set(r.robot, r.why);
    else fleet.failed(r.robot, r.why);
  }
  return members.filter((m) => !refusals.some((r) => r.robot === m.robot.name));
}

/**
 * Members whose node, by the manager's node list, is their own (src/plan/identity.ts); the others fail
 * (or show why, see gatherMembers) and are left out, as an unreachable robot is.
 */
export function withoutFalseClaims(fleet: Fleet, members: Member[], nodes: NodeInfo[], problems?: Map<string, string>): Member[] {
  const robots = fleet.inventory.robots.map((r) => ({ name: r.name, ip: r.ip }));
  return refuseClaims(fleet, members, falseClaims(members.flatMap(claimOf), nodes, robots), problems);
}

/** Robots reporting the engine ID of an earlier robot: cloned from one image (their node IDs: sharedClaims). */
export function clonedEngines(members: readonly Member[]): { robot: string; sameAs: string }[] {
  const clones: { robot: string; sameAs: string }[] = [];
  const firstWith = new Map<string, string>();
  for (const m of members) {
    const id = m.facts.engineId;
    if (!id) continue;
    const earlier = firstWith.get(id);
    if (earlier) clones.push({ robot: m.robot.name, sameAs: earlier });
    else firstWith.set(id, m.robot.name);
  }
  return clones;
}

/** The fleet's cluster first: most managers, then the inventory leader's. */
export function fleetClusters(fleet: Fleet, members: Member[]): [string, Member[]][] {
  const leaderRank = (ms: Member[]) => (ms.some((m) => m.robot.name === fleet.inventory.swarm.leader) ? 1 : 0);
  return [...clustersOf(members)].sort((a, b) => b[1].length - a[1].length || leaderRank(b[1]) - leaderRank(a[1]));
}

/** Drift: nodes of no inventory robot. */
export function strangersOf(fleet: Fleet, members: Member[], nodes: NodeInfo[]): NodeInfo[] {
  const ids = members.map((m) => m.facts.swarm?.NodeID ?? '').filter(Boolean);
  return strangerNodes(
    nodes,
    fleet.inventory.robots.map((r) => r.ip),
    ids,
  );
}

/** The robot's node: by the ID its engine reports; an unreachable robot's by its static address. */
export function nodeOfRobot(robot: Robot, members: Member[], nodes: NodeInfo[]): NodeInfo | undefined {
  const member = members.find((m) => m.robot.name === robot.name);
  if (member) return nodes.find((n) => n.id === member.facts.swarm?.NodeID);
  return nodes.filter((n) => n.addr === robot.ip).sort((a, b) => Number(a.state === 'down') - Number(b.state === 'down'))[0];
}
