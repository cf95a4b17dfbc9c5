// Rendering of a run's outcome: one line per robot, then notes. Only renders; decides nothing.
import type { Fleet, RobotOutcome } from '../steps/fleet.js';
import { logFile, redact } from '../log.js';

const WORD: Record<RobotOutcome['status'], string> = { changed: 'changed', joined: 'joined', ok: 'ok', unreachable: 'unreachable', failed: 'failed' };

export function renderOutcomes(title: string, fleet: Fleet, roleOf: (robot: string) => string = () => '', quiet = false): string {
  const width = Math.max(...fleet.inventory.robots.map((r) => r.name.length), 5);
  const lines = [`${title}${fleet.options.dryRun ? ' (dry run: nothing was changed)' : ''}`];
  for (const robot of fleet.inventory.robots) {
    const o = fleet.outcomes.get(robot.name) as RobotOutcome;
    if (quiet && (o.status === 'ok' || o.status === 'changed' || o.status === 'joined')) continue;
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
