// A run's outcome: one line per robot, then notes. Only renders.
import type { RobotOutcome } from '../run/outcome.js';
import { logFile, printable, redact } from '../log.js';
import { nameList, sharedNotes, unfolded } from './fold.js';
import { renderTable } from './table.js';
import { PLAIN, type Paint } from './terminal.js';

/** Every robot's outcome, in inventory order. */
export interface RunSummary {
  outcomes: readonly (RobotOutcome & { ip: string })[];
  dryRun: boolean;
  notes: readonly string[];
  exitCode: number;
}

export function renderOutcomes(
  title: string,
  run: RunSummary,
  roleOf: (robot: string) => string = () => '',
  quiet = false,
  paint: Paint = PLAIN,
): string {
  const lines = [`${title}${run.dryRun ? ' (dry run: nothing was changed)' : ''}`];
  const shown = run.outcomes.filter((o) => !quiet || o.status === 'failed' || o.status === 'unreachable' || o.status === 'interrupted');
  // A note several robots share is one line under the table, not one per robot.
  const shared = sharedNotes(shown);
  const sharedSet = new Set(shared.map((s) => s.note));
  // What robots said is made printable before it is painted: the paint's escape codes are the only ones.
  const rows = shown.flatMap((o) => {
    const [first = '', ...more] = unfolded(o.details, o.notes, sharedSet).map(printable);
    return [[o.robot, paint[STATUS_PAINT[o.status]](o.status), roleOf(o.robot), first], ...more.map((d) => ['', '', '', d])];
  });
  const minWidths = [Math.max(...run.outcomes.map((o) => o.robot.length), 5), 11, 7];
  lines.push(...renderTable(rows, { indent: '  ', minWidths, keepLastCell: true }));
  const counts = new Map<RobotOutcome['status'], number>();
  for (const o of run.outcomes) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
  lines.push(`  ${[...counts].map(([s, n]) => paint[STATUS_PAINT[s]](`${n} ${s}`)).join(', ')}`);
  if (run.outcomes.every((o) => o.status === 'ok')) lines.push('  nothing to change');
  for (const s of shared) lines.push(printable(`  ${nameList(s.robots)}: ${s.note}`));
  for (const note of run.notes) lines.push(printable(`  note: ${note}`));
  if (run.exitCode !== 0) lines.push(printable(`  details of every remote command: ${logFile}`));
  return lines.join('\n');
}

const STATUS_PAINT: Record<RobotOutcome['status'], keyof Paint> = {
  failed: 'red',
  unreachable: 'red',
  interrupted: 'red',
  changed: 'yellow',
  joined: 'green',
  ok: 'dim',
};

export function outcomesJson(run: RunSummary, roleOf: (robot: string) => string = () => ''): object {
  return {
    dryRun: run.dryRun,
    robots: run.outcomes.map((o) => ({
      name: o.robot,
      ip: o.ip,
      status: o.status,
      ...(roleOf(o.robot) ? { role: roleOf(o.robot) } : {}),
      details: o.details.map(redact),
    })),
    notes: run.notes.map(redact),
    exitCode: run.exitCode,
  };
}
