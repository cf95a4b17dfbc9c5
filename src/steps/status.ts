// `provision status`: read-only — every robot, its swarm state and role as the managers see it, and quorum now.
import { faultTolerance } from '../plan/quorum.js';
import type { Fleet } from '../run/fleet.js';
import type { FleetStatus } from '../ui/json.js';
import { fleetClusters, gatherMembers, listNodes, nodeOfRobot, strangersOf, withoutFalseClaims, type Member } from './swarmState.js';
import { runPhases, type Phase } from '../run/phases.js';
import type { NodeInfo } from '../remote/docker.js';
import { blockStrangers, readSsh } from './keys.js';

/** Per robot, the robots not in the inventory its managed blocks still trust. */
async function blockDrift(fleet: Fleet): Promise<Record<string, string[]>> {
  const names = fleet.inventory.robots.map((r) => r.name);
  const found: Record<string, string[]> = {};
  await fleet.eachConnected(async (robot, conn) => {
    const strangers = blockStrangers(await readSsh(robot, conn), names);
    if (strangers.length) found[robot.name] = strangers;
  });
  return found;
}

interface StatusRun {
  fleet: Fleet;
  members: Member[];
  blocks: Record<string, string[]>;
  cluster: [string, Member[]] | undefined;
  nodes: NodeInfo[];
}

const STATUS_PHASES: readonly Phase<StatusRun>[] = [
  {
    title: 'reading docker facts and ~/.ssh',
    run: async (s) => {
      [s.members, s.blocks] = await Promise.all([gatherMembers(s.fleet), blockDrift(s.fleet)]);
      s.cluster = fleetClusters(s.fleet, s.members)[0];
    },
  },
  {
    title: 'reading the node list',
    run: async (s) => {
      s.nodes = s.cluster ? await listNodes(s.cluster[1][0] as Member) : [];
      s.members = withoutFalseClaims(s.fleet, s.members, s.nodes); // shown by address, as an unreachable robot
    },
  },
];

export async function readStatus(fleet: Fleet): Promise<FleetStatus> {
  const s: StatusRun = { fleet, members: [], blocks: {}, cluster: undefined, nodes: [] };
  const stop = await runPhases(fleet, s, STATUS_PHASES);
  if (stop) throw stop; // quorum lost: the step's caller reports it on every robot
  const { members, cluster, nodes, blocks } = s;
  const inFleet = new Set(nodes.map((n) => n.id));
  const robots: FleetStatus['robots'] = fleet.inventory.robots.map((robot) => {
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
    drift: {
      nodes: strangersOf(fleet, members, nodes).map((n) => ({
        id: n.id,
        hostname: n.hostname,
        addr: n.addr,
        role: n.role,
        state: n.state,
      })),
      blocks,
    },
  };
}
