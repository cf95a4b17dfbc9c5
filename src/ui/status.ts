// `provision status`: every robot, the swarm's quorum, drift.
import type { FleetStatus } from './json.js';
import { renderTable } from './table.js';

export function renderStatus(status: FleetStatus): string {
  const header = ['ROBOT', 'ADDRESS', 'REACHABLE', 'SWARM', 'ROLE', 'LEADER', 'NODE', 'AVAILABILITY', 'LABELS'];
  const rows = status.robots.map((r) => [
    r.name,
    r.ip,
    r.reachable ? 'yes' : 'no',
    r.swarmState,
    r.role ?? '-',
    r.leader ? 'yes' : '',
    r.nodeState ?? '-',
    r.availability ?? '-',
    Object.entries(r.labels)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-',
  ]);
  const fleetLine = status.clusterId
    ? `swarm ${status.clusterId.slice(0, 12)}: ${status.managers} managers, ${status.reachableManagers} reachable — quorum ${status.quorum ? 'holds' : 'LOST'}, tolerates ${status.failuresToleratedNow} more failure${status.failuresToleratedNow === 1 ? '' : 's'} now (${status.failuresToleratedByDesign} by design)`
    : 'no swarm among the reachable robots';
  const drift = [
    ...status.drift.nodes.map(
      (n) =>
        `drift: node ${n.hostname || '?'} (${n.id.slice(0, 12)}, ${n.addr}, ${n.role}, ${n.state}) belongs to no inventory robot (provision swarm --prune removes it)`,
    ),
    ...Object.entries(status.drift.blocks).map(
      ([robot, names]) =>
        `drift: ${robot}'s managed blocks still trust robots not in the inventory: ${names.join(', ')} (provision keys --prune drops them)`,
    ),
  ];
  return [...renderTable([header, ...rows], { keepLastCell: true }), fleetLine, ...drift].join('\n');
}
