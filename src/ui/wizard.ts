// `provision roles`' wizard. Rows, table and readout are pure; the prompt flow takes its prompts as a
// parameter so tests drive it keystroke by keystroke, and returns the choice (steps/roles.ts writes it).
import { checkbox, confirm, select } from '@inquirer/prompts';
import type { Inventory, Robot } from '../inventory/schema.js';
import type { SavedRole } from '../inventory/save.js';
import { MAX_USEFUL_MANAGERS, faultTolerance, planRoles, toleranceText, type PlanRobot } from '../plan/quorum.js';
import type { RobotFacts } from '../remote/docker.js';
import { renderTable as tableLines } from './table.js';
import { printable } from '../log.js';

export interface WizardRow {
  name: string;
  ip: string;
  zone?: string;
  reachable: boolean;
  arch: string; // '' when unknown
  cpus: number | null;
  ramGiB: number | null;
  swarmRole: 'manager' | 'worker' | 'none' | 'unknown'; // unknown: unreachable, or docker does not answer
  leader: boolean;
  problem?: string; // why unknown
}

/** What the roles step read; `problems`: why a robot gave no facts. */
export interface FleetRead {
  facts: ReadonlyMap<string, RobotFacts>;
  problems: ReadonlyMap<string, string>;
  connected: ReadonlySet<string>;
  leaderNode: string | undefined;
}

/** One row per inventory robot, unreachable ones too. */
export function wizardRows(robots: readonly Robot[], read: FleetRead): WizardRow[] {
  return robots.map((robot) => {
    const f = read.facts.get(robot.name);
    const reachable = read.connected.has(robot.name);
    const problem = read.problems.get(robot.name) ?? f?.dockerError ?? (reachable ? undefined : 'not connected');
    const swarm = f?.swarm;
    let swarmRole: WizardRow['swarmRole'] = 'unknown';
    if (f && !f.dockerError && swarm) {
      if (swarm.LocalNodeState === 'active') swarmRole = swarm.ControlAvailable ? 'manager' : 'worker';
      else if (swarm.LocalNodeState === 'inactive') swarmRole = 'none';
    }
    return {
      name: robot.name,
      ip: robot.ip,
      ...(robot.zone !== undefined ? { zone: robot.zone } : {}),
      reachable,
      arch: f?.arch ?? '',
      cpus: f ? f.cpus : null,
      ramGiB: f ? Math.round((f.memKb / 1024 / 1024) * 10) / 10 : null,
      swarmRole,
      leader: Boolean(read.leaderNode && swarm?.NodeID === read.leaderNode),
      ...(problem !== undefined ? { problem } : {}),
    };
  });
}

/** A robot `provision swarm` can act on now. */
const usable = (row: WizardRow | undefined) => Boolean(row?.reachable && row.swarmRole !== 'unknown');

export function renderTable(rows: WizardRow[]): string {
  const table = [
    ['ROBOT', 'ADDRESS', 'REACHABLE', 'ARCH', 'CPUS', 'RAM', 'SWARM ROLE', 'ZONE', 'NOTE'],
    ...rows.map((r) => [
      r.name,
      r.ip,
      r.reachable ? 'yes' : 'no',
      r.arch || '-',
      r.cpus === null ? '-' : String(r.cpus),
      r.ramGiB === null ? '-' : `${r.ramGiB.toFixed(1)} GiB`,
      r.swarmRole === 'unknown' ? '?' : r.leader ? `${r.swarmRole} (leader)` : r.swarmRole,
      r.zone ?? '-',
      r.problem ?? '',
    ]),
  ];
  return tableLines(table).join('\n');
}

/** A pick of managers' tolerance, then its warnings. */
export function readout(managers: string[], rows: WizardRow[]): string[] {
  const n = managers.length;
  const tolerance = faultTolerance(n);
  const lines = [toleranceText(n)];
  if (n === 0) lines.push('warning: pick at least one manager');
  else if (n % 2 === 0)
    lines.push(
      `warning: an even count adds no tolerance — ${n} managers tolerate ${tolerance} failure${tolerance === 1 ? '' : 's'}, as ${n - 1} do; pick an odd number`,
    );
  if (n > MAX_USEFUL_MANAGERS) lines.push(`warning: more than ${MAX_USEFUL_MANAGERS} managers only slows elections`);
  const zones = new Map<string, number>();
  for (const name of managers) {
    const row = rows.find((r) => r.name === name);
    if (!row?.reachable)
      lines.push(`warning: ${name} is unreachable — it cannot become a manager now; a later provision swarm promotes it when it is back`);
    else if (row.swarmRole === 'unknown') lines.push(`warning: ${name}: ${row.problem ?? 'docker does not answer'}`);
    if (row?.zone !== undefined) zones.set(row.zone, (zones.get(row.zone) ?? 0) + 1);
  }
  if (n >= 3)
    for (const [zone, count] of zones)
      if (count > n / 2) lines.push(`warning: zone ${zone} holds ${count} of ${n} managers — losing it loses quorum`);
  return lines;
}

// The prompt flow.

export interface SelectChoice {
  value: string;
  name: string;
  short?: string;
  disabled?: boolean | string;
}
export interface CheckboxChoice extends SelectChoice {
  checked?: boolean;
}
type Paging = { pageSize?: number; loop?: boolean };

/** @inquirer/prompts' functions fit; tests pass their own. */
export interface WizardPrompts {
  checkbox: (
    config: {
      message: string;
      choices: readonly CheckboxChoice[];
      validate: (selection: readonly { value: string }[]) => string | true;
    } & Paging,
  ) => Promise<string[]>;
  select: (config: { message: string; choices: readonly SelectChoice[]; default?: string } & Paging) => Promise<string>;
  confirm: (config: { message: string; default?: boolean }) => Promise<boolean>;
  print: (text: string) => void;
}

export const realPrompts: WizardPrompts = { checkbox, select, confirm, print: (text) => console.log(printable(text)) };

/** `write`: the operator said to write the choice into the inventory. */
export interface WizardChoice {
  managers: string[];
  leader: string;
  roles: Record<string, SavedRole>;
  write: boolean;
}

type Seen = ReturnType<typeof seen>;

/** The rows, who may lead now, each robot's label in the prompts. */
function seen(inventory: Inventory, rows: WizardRow[]) {
  const rowOf = (name: string) => rows.find((r) => r.name === name);
  const canLeadNow = (name: string) => {
    const robot = inventory.robots.find((r) => r.name === name);
    return Boolean(robot?.canBecomeLeader && robot.canBecomeManager && usable(rowOf(name)));
  };
  const now = (row: WizardRow | undefined) =>
    !row || row.swarmRole === 'unknown'
      ? ''
      : row.leader
        ? `${row.swarmRole} (leader) now`
        : row.swarmRole === 'none'
          ? 'not in a swarm'
          : `${row.swarmRole} now`;
  const cells = inventory.robots.map(({ name }) => {
    const row = rowOf(name);
    return [
      name,
      row?.ip ?? '',
      [now(row), row?.zone ? `zone ${row.zone}` : '', row?.reachable ? '' : 'UNREACHABLE'].filter(Boolean).join(', '),
    ];
  });
  const lines = tableLines(cells, { minWidths: [0, 15] });
  return { inventory, rows, canLeadNow, label: new Map(inventory.robots.map((r, i) => [r.name, printable(lines[i] ?? '')])) };
}

/** Print the quorum planner's proposal; also returns the running swarm's leader. */
function propose({ inventory, rows }: Seen, prompts: WizardPrompts) {
  const planRobots: PlanRobot[] = inventory.robots.map((r) => {
    const row = rows.find((w) => w.name === r.name);
    return {
      name: r.name,
      reachable: usable(row),
      canBecomeManager: r.canBecomeManager,
      canBecomeLeader: r.canBecomeLeader,
      ...(r.zone !== undefined ? { zone: r.zone } : {}),
      pinnedRole: r.role,
      currentRole: row && row.swarmRole !== 'unknown' ? row.swarmRole : 'none',
    };
  });
  const swarmLeader = rows.find((r) => r.leader)?.name;
  const requested = swarmLeader ?? inventory.swarm.leader;
  const plan = planRoles({
    robots: planRobots,
    managers: inventory.swarm.managers,
    ...(requested !== undefined ? { leader: requested } : {}),
  });
  prompts.print(`\nProposal (quorum rules): managers ${plan.managers.join(', ') || '(none)'}, leader ${plan.leader || '(none)'}`);
  for (const line of readout(plan.managers, rows)) prompts.print(`  ${line}`);
  for (const w of plan.warnings) prompts.print(`  planner: ${w}`);
  return { plan, swarmLeader };
}

// The checkbox has no live footer, so Enter shows the pick's readout and a second Enter on the same pick accepts it.
async function pickManagers({ inventory, rows, canLeadNow, label }: Seen, proposal: string[], prompts: WizardPrompts): Promise<string[]> {
  const key = (names: readonly string[]) => [...names].sort().join(',');
  let acknowledged = key(proposal);
  const managers = await prompts.checkbox({
    message: `Managers — proposal ${toleranceText(proposal.length)}. Space toggles, Enter shows the readout, Enter again accepts:`,
    choices: inventory.robots.map((r) => ({
      value: r.name,
      name: label.get(r.name) ?? r.name,
      short: r.name,
      checked: proposal.includes(r.name),
      ...(r.canBecomeManager ? {} : { disabled: '(not allowed to manage)' }),
    })),
    pageSize: Math.min(20, inventory.robots.length),
    loop: false,
    validate: (selection) => {
      const names = selection.map((c) => c.value);
      const lines = readout(names, rows);
      if (names.length === 0) return lines.join('\n');
      if (!names.some(canLeadNow))
        return [...lines, 'none of these may lead now: pick a reachable robot allowed to lead (canBecomeLeader)'].join('\n');
      if (key(names) === acknowledged) return true;
      acknowledged = key(names);
      return [...lines, 'Enter again to accept, or change the pick'].join('\n');
    },
  });
  return inventory.robots.map((r) => r.name).filter((n) => managers.includes(n));
}

async function pickLeader(
  { inventory, canLeadNow, label }: Seen,
  chosen: string[],
  preferred: (string | undefined)[],
  prompts: WizardPrompts,
) {
  const choices: SelectChoice[] = chosen
    .filter((n) => inventory.robots.find((r) => r.name === n)?.canBecomeLeader)
    .map((n) => ({ value: n, name: label.get(n) ?? n, short: n, ...(canLeadNow(n) ? {} : { disabled: '(cannot lead now)' }) }));
  const first = preferred.find((n) => n !== undefined && choices.some((c) => c.value === n && !c.disabled));
  return prompts.select({
    message: 'Leader (runs docker swarm init when there is no swarm yet):',
    choices,
    ...(first !== undefined ? { default: first } : {}),
    pageSize: Math.min(20, Math.max(1, choices.length)),
    loop: false,
  });
}

/** Every robot allowed to manage is pinned (manager or worker), so the next `provision swarm` applies exactly this choice. */
export async function runWizard(
  inventory: Inventory,
  rows: WizardRow[],
  prompts: WizardPrompts = realPrompts,
  options: { dryRun?: boolean } = {},
): Promise<WizardChoice> {
  const fleet = seen(inventory, rows);
  const { plan, swarmLeader } = propose(fleet, prompts);
  const chosen = await pickManagers(fleet, plan.managers, prompts);
  const leader = await pickLeader(fleet, chosen, [inventory.swarm.leader, swarmLeader, plan.leader], prompts);
  if (swarmLeader !== undefined && leader !== swarmLeader) {
    prompts.print(
      `note: ${swarmLeader} leads the running swarm; Raft elects its leader itself, so ${leader} is where a new swarm is initialised`,
    );
  }
  const roles: Record<string, SavedRole> = {};
  for (const r of inventory.robots) {
    if (chosen.includes(r.name)) roles[r.name] = 'manager';
    else roles[r.name] = r.canBecomeManager || r.role === 'manager' ? 'worker' : r.role;
  }
  prompts.print('');
  const summary = inventory.robots.map((r) => [
    r.name,
    `${roles[r.name]}${r.name === leader ? ' (leader)' : ''}${r.role !== roles[r.name] ? `   (was ${r.role})` : ''}`,
  ]);
  for (const line of tableLines(summary, { indent: '  ' })) prompts.print(line);
  for (const line of readout(chosen, rows)) prompts.print(`  ${line}`);
  const choice = { managers: chosen, leader, roles };
  if (options.dryRun) {
    prompts.print(`dry run: ${inventory.file} is not changed`);
    return { ...choice, write: false };
  }
  const write = await prompts.confirm({ message: `Write these roles and leader ${leader} into ${inventory.file}?`, default: true });
  if (!write) prompts.print(`${inventory.file} is not changed`);
  return { ...choice, write };
}
