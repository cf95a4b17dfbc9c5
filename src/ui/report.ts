// Rendering of a run's outcome: one line per robot, then notes. Only renders; decides nothing.
import type { Fleet, RobotOutcome } from '../run/fleet.js';
import { logFile, redact } from '../log.js';
import { nameList, sharedNotes, unfolded } from './fold.js';
import { PLAIN, type Paint } from './terminal.js';

const WORD: Record<RobotOutcome['status'], string> = {
  changed: 'changed',
  joined: 'joined',
  ok: 'ok',
  unreachable: 'unreachable',
  failed: 'failed',
};

export function renderOutcomes(
  title: string,
  fleet: Fleet,
  roleOf: (robot: string) => string = () => '',
  quiet = false,
  paint: Paint = PLAIN,
): string {
  const width = Math.max(...fleet.inventory.robots.map((r) => r.name.length), 5);
  const lines = [`${title}${fleet.options.dryRun ? ' (dry run: nothing was changed)' : ''}`];
  const shown = fleet.inventory.robots
    .map((r) => fleet.outcomes.get(r.name) as RobotOutcome)
    .filter((o) => !quiet || !(o.status === 'ok' || o.status === 'changed' || o.status === 'joined'));
  // A note several robots share is one line under the table, not one per robot.
  const shared = sharedNotes(shown);
  const sharedSet = new Set(shared.map((s) => s.note));
  for (const o of shown) {
    const details = unfolded(o.details, o.notes, sharedSet);
    const role = roleOf(o.robot);
    const head = `  ${o.robot.padEnd(width)}  ${STATUS_PAINT[o.status](paint)(WORD[o.status])}${' '.repeat(11 - WORD[o.status].length)}  ${role.padEnd(7)}`;
    lines.push(details.length ? `${head}  ${details[0]}` : head.trimEnd());
    for (const d of details.slice(1)) lines.push(`  ${' '.repeat(width)}  ${' '.repeat(20)}  ${d}`);
  }
  const counts = new Map<RobotOutcome['status'], number>();
  for (const o of fleet.outcomes.values()) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
  lines.push(`  ${[...counts].map(([s, n]) => STATUS_PAINT[s](paint)(`${n} ${s}`)).join(', ')}`);
  if ([...fleet.outcomes.values()].every((o) => o.status === 'ok')) lines.push('  nothing to change');
  for (const s of shared) lines.push(`  ${nameList(s.robots)}: ${s.note}`);
  for (const note of fleet.notes) lines.push(`  note: ${note}`);
  if (fleet.exitCode() !== 0) lines.push(`  details of every remote command: ${logFile}`);
  return redact(lines.join('\n'));
}

/** failed red, changed yellow, joined green, ok dim. */
const STATUS_PAINT: Record<RobotOutcome['status'], (p: Paint) => (text: string) => string> = {
  failed: (p) => p.red,
  unreachable: (p) => p.red,
  changed: (p) => p.yellow,
  joined: (p) => p.green,
  ok: (p) => p.dim,
};

export function outcomesJson(fleet: Fleet, roleOf: (robot: string) => string = () => ''): object {
  return {
    dryRun: fleet.options.dryRun,
    robots: fleet.inventory.robots.map((r) => {
      const o = fleet.outcomes.get(r.name) as RobotOutcome;
      return {
        name: r.name,
        ip: r.ip,
        status: o.status,
        ...(roleOf(r.name) ? { role: roleOf(r.name) } : {}),
        details: o.details.map(redact),
      };
    }),
    notes: fleet.notes.map(redact),
    exitCode: fleet.exitCode(),
  };
}
