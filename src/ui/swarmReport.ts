// `provision swarm`'s result: the swarm as `docker node ls` shows it, and its JSON.
import { toleranceText } from '../plan/quorum.js';
import type { SwarmReport } from '../run/outcome.js';
import { renderTable } from './table.js';
import { preflightJson, preflightLines } from './preflight.js';

/** With each node's robot and the fault tolerance. */
export function renderSwarmSummary(report: SwarmReport, robotOfNode: (id: string) => string | undefined): string {
  const preflight = report.preflight ? preflightLines(report.preflight).map((l) => `  ${l}`) : [];
  if (!report.nodes.length)
    return [
      ...(report.plan ? [`  planned: ${toleranceText(report.plan.managers.length)}`] : []),
      ...report.notes.map((n) => `  note: ${n}`),
      ...preflight,
    ].join('\n');
  const rows = report.nodes.map((n) => [
    n.id.slice(0, 12),
    robotOfNode(n.id) ?? '-',
    n.hostname,
    n.state,
    n.availability,
    n.role === 'manager' ? (n.leader ? 'Leader' : n.reachability === 'reachable' ? 'Reachable' : (n.reachability ?? '')) : '',
  ]);
  const header = ['ID', 'ROBOT', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS'];
  const managers = report.nodes.filter((n) => n.role === 'manager').length;
  const out = [...renderTable([header, ...rows], { indent: '  ' }), `  swarm: ${toleranceText(managers)}`];
  const leader = report.nodes.find((n) => n.leader);
  if (leader)
    out.push(
      `  leader: ${robotOfNode(leader.id) ?? leader.hostname}${report.handOver ? ` (took over from ${report.handOver.from} in this run)` : ''}`,
    );
  for (const w of report.plan?.warnings ?? []) out.push(`  warning: ${w}`);
  for (const n of report.notes) out.push(`  note: ${n}`);
  return [...out, ...preflight].join('\n');
}

export function swarmJson(report: SwarmReport): object {
  return {
    clusterId: report.clusterId,
    initialisedOn: report.initialised,
    managers: report.plan?.managers ?? [],
    leader: report.plan?.leader ?? null,
    leaderNow: report.robotOfNode.get(report.nodes.find((n) => n.leader)?.id ?? '') ?? null,
    handOver: report.handOver,
    notes: report.notes,
    faultTolerance: report.plan?.tolerance ?? null,
    warnings: report.plan?.warnings ?? [],
    nodes: report.nodes.map((n) => ({ ...n, robot: report.robotOfNode.get(n.id) ?? null })),
    ...(report.preflight ? { preflight: preflightJson(report.preflight) } : {}),
  };
}
