// `provision status`: one read-only look at the fleet — every robot, its swarm state and role as the
// swarm's managers see it, and whether quorum holds right now.
import { faultTolerance } from '../plan/quorum.js';
import type { Fleet } from './fleet.js';
import { fleetClusters, gatherMembers, listNodes, nodeOfRobot } from './swarmState.js';

export interface RobotStatus {
  name: string;
  ip: string;
  reachable: boolean;
  swarmState: string; // inactive | active | pending | error | locked | unknown | foreign
  nodeId: string | null;
  role: 'manager' | 'worker' | null;
  leader: boolean;
  nodeState: string | null; // ready | down … as the managers see the node
  availability: string | null;
  labels: Record<string, string>;
}

export interface FleetStatus {
  clusterId: string | null;
  robots: RobotStatus[];
  managers: number;
  reachableManagers: number;
  quorum: boolean;
  failuresToleratedNow: number;
  failuresToleratedByDesign: number;
}

export async function readStatus(fleet: Fleet): Promise<FleetStatus> {
  const members = await gatherMembers(fleet);
  const cluster = fleetClusters(fleet, members)[0];
  const nodes = cluster ? await listNodes(cluster[1][0] as (typeof members)[number]) : [];
  const inFleet = new Set(nodes.map((n) => n.id));
  const robots: RobotStatus[] = fleet.inventory.robots.map((robot) => {
    const member = members.find((m) => m.robot.name === robot.name);
    const node = nodeOfRobot(robot, members, nodes);
    const local = member?.facts.swarm?.LocalNodeState ?? 'unknown';
    const foreign = member && local !== 'inactive' && !inFleet.has(member.facts.swarm?.NodeID ?? '');
    return {
      name: robot.name,
      ip: robot.ip,
      reachable: Boolean(member),
      swarmState: foreign ? 'foreign' : local,
      nodeId: node?.id ?? null,
      role: node?.role ?? null,
      leader: node?.leader ?? false,
      nodeState: node?.state ?? null,
      availability: node?.availability ?? null,
      labels: node?.labels ?? {},
    };
  });
  const managerNodes = nodes.filter((n) => n.role === 'manager');
  const reachableManagers = managerNodes.filter((n) => n.reachability === 'reachable').length;
  const majority = Math.floor(managerNodes.length / 2) + 1;
  return {
    clusterId: cluster?.[0] ?? null,
    robots,
    managers: managerNodes.length,
    reachableManagers,
    quorum: managerNodes.length > 0 && reachableManagers >= majority,
    failuresToleratedNow: Math.max(0, reachableManagers - majority),
    failuresToleratedByDesign: faultTolerance(managerNodes.length),
  };
}

export function renderStatus(status: FleetStatus): string {
  const header = ['ROBOT', 'ADDRESS', 'REACHABLE', 'SWARM', 'ROLE', 'LEADER', 'NODE', 'AVAILABILITY', 'LABELS'];
  const rows = status.robots.map((r) => [
    r.name, r.ip, r.reachable ? 'yes' : 'no', r.swarmState, r.role ?? '-', r.leader ? 'yes' : '', r.nodeState ?? '-', r.availability ?? '-',
    Object.entries(r.labels).sort().map(([k, v]) => `${k}=${v}`).join(',') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  const fleetLine = status.clusterId
    ? `swarm ${status.clusterId.slice(0, 12)}: ${status.managers} managers, ${status.reachableManagers} reachable — quorum ${status.quorum ? 'holds' : 'LOST'}, tolerates ${status.failuresToleratedNow} more failure${status.failuresToleratedNow === 1 ? '' : 's'} now (${status.failuresToleratedByDesign} by design)`
    : 'no swarm among the reachable robots';
  return [line(header), ...rows.map(line), fleetLine].join('\n');
}
