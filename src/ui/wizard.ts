// `provision roles`: the interactive role-assignment wizard. The facts table and the readout are pure;
// the prompt flow takes its prompt functions as a parameter so tests can drive it keystroke by keystroke.
import { checkbox, confirm, select } from '@inquirer/prompts';
import type { Inventory } from '../inventory/schema.js';
import { saveRoles, type SavedRole } from '../inventory/save.js';
import { MAX_USEFUL_MANAGERS, faultTolerance, planRoles, toleranceText, type PlanRobot } from '../plan/quorum.js';
import { factsCommand, nodesCommand, parseFacts, parseNodes, type RobotFacts } from '../remote/docker.js';
import type { Fleet } from '../run/fleet.js';

export interface WizardRow {
  name: string;
  ip: string;
  zone?: string;
  reachable: boolean;
  arch: string; // '' when unknown
  cpus: number | null;
  ramGiB: number | null;
  /** Its swarm role now; 'unknown' when unreachable or docker does not answer. */
  swarmRole: 'manager' | 'worker' | 'none' | 'unknown';
  leader: boolean;
  /** Why a robot is unreachable or docker does not answer on it. */
  problem?: string;
}

/** What gatherWizardRows needs of a fleet (a Fleet, or a fake in tests). */
export type WizardFleet = Pick<Fleet, 'inventory' | 'reach' | 'connected'>;

/** One row per robot of the inventory, unreachable ones included, in inventory order. */
export async function gatherWizardRows(fleet: WizardFleet): Promise<WizardRow[]> {
  const facts = new Map<string, RobotFacts>();
  const problems = new Map<string, string>();
  const connected = fleet.connected();
  await Promise.all(
    connected.map(async ({ robot, conn }) => {
      try {
        const f = parseFacts(await conn.run(factsCommand(robot.sudo), 'reading facts'), robot.sudo);
        facts.set(robot.name, f);
        if (f.dockerError) problems.set(robot.name, f.dockerError);
      } catch (err) {
        problems.set(robot.name, (err as Error).message);
      }
    }),
  );

  // The leader, as a manager sees it (best effort: without it the table just marks no leader).
  let leaderNode: string | undefined;
  const manager = connected.find(({ robot }) => facts.get(robot.name)?.swarm?.ControlAvailable);
  if (manager) {
    try {
      const result = await manager.conn.exec(nodesCommand(manager.robot.sudo));
      if (result.code === 0) leaderNode = parseNodes(result.stdout).find((n) => n.leader)?.id;
    } catch {
      // no leader known
    }
  }

  return fleet.inventory.robots.map((robot) => {
    const reach = fleet.reach.get(robot.name);
    const f = facts.get(robot.name);
    const reachable = connected.some((c) => c.robot.name === robot.name);
    const problem = problems.get(robot.name) ?? (reach && !reach.ok ? reach.reason : reachable ? undefined : 'not connected');
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
      leader: Boolean(leaderNode && swarm?.NodeID === leaderNode),
      ...(problem !== undefined ? { problem } : {}),
    };
  });
}

/** Reachable and docker answering: a robot that `provision swarm` can act on now. */
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
  const widths = table[0]!.map((_, c) => Math.max(...table.map((line) => line[c]!.length)));
  return table
    .map((line) =>
      line
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The readout for a pick of managers: the tolerance line first, then one line per warning. */
export function readout(managers: string[], rows: WizardRow[]): string[] {
  const n = managers.length;
  const lines = [toleranceText(n)];
  if (n === 0) lines.push('warning: pick at least one manager');
  else if (n % 2 === 0)
    lines.push(
      `warning: an even count adds no tolerance — ${n} managers tolerate ${faultTolerance(n)} failure${faultTolerance(n) === 1 ? '' : 's'}, as ${n - 1} do; pick an odd number`,
    );
  if (n > MAX_USEFUL_MANAGERS) lines.push(`warning: more than ${MAX_USEFUL_MANAGERS} managers only slows elections`);
  for (const name of managers) {
    const row = rows.find((r) => r.name === name);
    if (!row?.reachable)
      lines.push(`warning: ${name} is unreachable — it cannot become a manager now; a later provision swarm promotes it when it is back`);
    else if (row.swarmRole === 'unknown') lines.push(`warning: ${name}: ${row.problem ?? 'docker does not answer'}`);
  }
  const zones = new Map<string, number>();
  for (const name of managers) {
    const zone = rows.find((r) => r.name === name)?.zone;
    if (zone !== undefined) zones.set(zone, (zones.get(zone) ?? 0) + 1);
  }
  if (n >= 3)
    for (const [zone, count] of zones)
      if (count > n / 2) lines.push(`warning: zone ${zone} holds ${count} of ${n} managers — losing it loses quorum`);
  return lines;
}

// --- the prompt flow --------------------------------------------------------------------------------

export interface CheckboxChoice {
  value: string;
  name: string;
  short?: string;
  checked?: boolean;
  disabled?: boolean | string;
}
export interface SelectChoice {
  value: string;
  name: string;
  short?: string;
  disabled?: boolean | string;
}

/** The prompts the wizard uses; @inquirer/prompts' own functions fit, and tests pass their own. */
export interface WizardPrompts {
  checkbox: (config: {
    message: string;
    choices: readonly CheckboxChoice[];
    validate: (selection: readonly { value: string }[]) => string | true;
    pageSize?: number;
    loop?: boolean;
  }) => Promise<string[]>;
  select: (config: {
    message: string;
    choices: readonly SelectChoice[];
    default?: string;
    pageSize?: number;
    loop?: boolean;
  }) => Promise<string>;
  confirm: (config: { message: string; default?: boolean }) => Promise<boolean>;
  print: (text: string) => void;
}

export const realPrompts: WizardPrompts = { checkbox, select, confirm, print: (text) => console.log(text) };

export interface WizardResult {
  managers: string[];
  leader: string;
  roles: Record<string, SavedRole>;
  saved: boolean;
}

/**
 * Propose roles (quorum planner), let the operator pick managers and the leader, confirm, and write them
 * into the inventory file. Every robot allowed to manage is pinned (manager or worker), so that the next
 * `provision swarm` applies exactly this choice.
 */
export async function runWizard(
  inventory: Inventory,
  rows: WizardRow[],
  prompts: WizardPrompts = realPrompts,
  options: { dryRun?: boolean } = {},
): Promise<WizardResult> {
  const rowOf = (name: string) => rows.find((r) => r.name === name);
  const planRobots: PlanRobot[] = inventory.robots.map((r) => {
    const row = rowOf(r.name);
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

  const canLeadNow = (name: string) => {
    const robot = inventory.robots.find((r) => r.name === name);
    return Boolean(robot?.canBecomeLeader && robot.canBecomeManager && usable(rowOf(name)));
  };
  const width = Math.max(...inventory.robots.map((r) => r.name.length));
  const describe = (name: string) => {
    const row = rowOf(name);
    const now =
      !row || row.swarmRole === 'unknown'
        ? ''
        : row.leader
          ? `${row.swarmRole} (leader) now`
          : row.swarmRole === 'none'
            ? 'not in a swarm'
            : `${row.swarmRole} now`;
    const flags = [now, row?.zone ? `zone ${row.zone}` : '', row?.reachable ? '' : 'UNREACHABLE'].filter(Boolean).join(', ');
    return `${name.padEnd(width)}  ${(row?.ip ?? '').padEnd(15)}  ${flags}`.trimEnd();
  };

  // Managers. The checkbox has no live footer, so Enter shows the readout of the current pick, and a
  // second Enter on the same pick accepts it (the proposal's readout is in the message already).
  const key = (names: readonly string[]) => [...names].sort().join(',');
  let acknowledged = key(plan.managers);
  const managers = await prompts.checkbox({
    message: `Managers — proposal ${toleranceText(plan.managers.length)}. Space toggles, Enter shows the readout, Enter again accepts:`,
    choices: inventory.robots.map((r) => ({
      value: r.name,
      name: describe(r.name),
      short: r.name,
      checked: plan.managers.includes(r.name),
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
  const chosen = inventory.robots.map((r) => r.name).filter((n) => managers.includes(n)); // inventory order

  // The leader, among the chosen managers allowed to lead.
  const leaderChoices: SelectChoice[] = chosen
    .filter((n) => inventory.robots.find((r) => r.name === n)?.canBecomeLeader)
    .map((n) => ({ value: n, name: describe(n), short: n, ...(canLeadNow(n) ? {} : { disabled: '(cannot lead now)' }) }));
  const preferred = [inventory.swarm.leader, swarmLeader, plan.leader].find(
    (n) => n !== undefined && leaderChoices.some((c) => c.value === n && !c.disabled),
  );
  const leader = await prompts.select({
    message: 'Leader (runs docker swarm init when there is no swarm yet):',
    choices: leaderChoices,
    ...(preferred !== undefined ? { default: preferred } : {}),
    pageSize: Math.min(20, Math.max(1, leaderChoices.length)),
    loop: false,
  });

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
  for (const r of inventory.robots)
    prompts.print(
      `  ${r.name.padEnd(width)}  ${roles[r.name]}${r.name === leader ? ' (leader)' : ''}${r.role !== roles[r.name] ? `   (was ${r.role})` : ''}`,
    );
  for (const line of readout(chosen, rows)) prompts.print(`  ${line}`);

  const result: WizardResult = { managers: chosen, leader, roles, saved: false };
  if (options.dryRun) {
    prompts.print(`dry run: ${inventory.file} is not changed`);
    return result;
  }
  const ok = await prompts.confirm({ message: `Write these roles and leader ${leader} into ${inventory.file}?`, default: true });
  if (!ok) {
    prompts.print(`${inventory.file} is not changed`);
    return result;
  }
  saveRoles(inventory.file, roles, leader);
  prompts.print(`wrote roles and swarm.leader into ${inventory.file}`);
  return { ...result, saved: true };
}
