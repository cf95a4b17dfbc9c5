// Rendering of a run's outcome: one line per robot, then notes. Only renders; decides nothing.
import type { Fleet, RobotOutcome } from '../steps/fleet.js';
import { logFile, redact } from '../log.js';
import type { SwarmReport } from '../steps/swarm.js';
import { toleranceText } from '../plan/quorum.js';

const WORD: Record<RobotOutcome['status'], string> = { changed: 'changed', joined: 'joined', ok: 'ok', unreachable: 'unreachable', failed: 'failed' };

export function renderOutcomes(title: string, fleet: Fleet, roleOf: (robot: string) => string = () => ''): string {
  const width = Math.max(...fleet.inventory.robots.map((r) => r.name.length), 5);
  const lines = [`${title}${fleet.options.dryRun ? ' (dry run: nothing was changed)' : ''}`];
  for (const robot of fleet.inventory.robots) {
    const o = fleet.outcomes.get(robot.name) as RobotOutcome;
    const role = roleOf(robot.name);
    const head = `  ${robot.name.padEnd(width)}  ${WORD[o.status].padEnd(11)}  ${role.padEnd(7)}`;
    lines.push(o.details.length ? `${head}  ${o.details[0]}` : head.trimEnd());
    for (const d of o.details.slice(1)) lines.push(`  ${' '.repeat(width)}  ${' '.repeat(20)}  ${d}`);
  }
  const counts = new Map<string, number>();
  for (const o of fleet.outcomes.values()) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
  lines.push(`  ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`);
  if ([...fleet.outcomes.values()].every((o) => o.status === 'ok')) lines.push('  nothing to change');
  for (const note of fleet.notes) lines.push(`  note: ${note}`);
  if (fleet.exitCode() !== 0) lines.push(`  details of every remote command: ${logFile}`);
  return redact(lines.join('\n'));
}

export function outcomesJson(fleet: Fleet, roleOf: (robot: string) => string = () => ''): object {
  return {
    dryRun: fleet.options.dryRun,
    robots: fleet.inventory.robots.map((r) => {
      const o = fleet.outcomes.get(r.name) as RobotOutcome;
      return { name: r.name, ip: r.ip, status: o.status, ...(roleOf(r.name) ? { role: roleOf(r.name) } : {}), details: o.details.map(redact) };
    }),
    notes: fleet.notes.map(redact),
    exitCode: fleet.exitCode(),
  };
}

/** `docker node ls` as the operator knows it, with the robot each node belongs to and the fault tolerance. */
export function renderSwarmSummary(report: SwarmReport, robotOfNode: (id: string) => string | undefined): string {
  if (!report.nodes.length) return report.plan ? `  planned: ${toleranceText(report.plan.managers.length)}` : '';
  const rows = report.nodes.map((n) => [
    n.id.slice(0, 12),
    robotOfNode(n.id) ?? '-',
    n.hostname,
    n.state,
    n.availability,
    n.role === 'manager' ? (n.leader ? 'Leader' : n.reachability === 'reachable' ? 'Reachable' : n.reachability ?? '') : '',
  ]);
  const header = ['ID', 'ROBOT', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const managers = report.nodes.filter((n) => n.role === 'manager').length;
  const out = [line(header), ...rows.map(line), `  swarm: ${toleranceText(managers)}`];
  for (const w of report.plan?.warnings ?? []) out.push(`  warning: ${w}`);
  return out.join('\n');
}

export function swarmJson(report: SwarmReport): object {
  return {
    clusterId: report.clusterId,
    initialisedOn: report.initialised,
    managers: report.plan?.managers ?? [],
    leader: report.plan?.leader ?? null,
    faultTolerance: report.plan?.tolerance ?? null,
    warnings: report.plan?.warnings ?? [],
    nodes: report.nodes.map((n) => ({ ...n, robot: report.robotOfNode.get(n.id) ?? null })),
  };
}
