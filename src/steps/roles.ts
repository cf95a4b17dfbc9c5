// `provision roles`: facts, the role wizard, its choice into the inventory, then offer `provision swarm`.
import type { Inventory } from '../inventory/schema.js';
import { saveRoles } from '../inventory/save.js';
import { nodesCommand, parseNodes, type NodeInfo } from '../remote/docker.js';
import type { Fleet } from '../run/fleet.js';
import { realPrompts, renderTable, runWizard, wizardRows, type WizardPrompts, type WizardRow } from '../ui/wizard.js';
import { gatherMembers, withoutFalseClaims, type Member } from './swarmState.js';
import { runPhases, type Phase } from '../run/phases.js';

export const NO_TERMINAL =
  'provision roles is an interactive wizard and needs a terminal (stdin is not one). ' +
  'Without a terminal, set the roles in the inventory instead: `role: manager|worker|auto` on each robot, ' +
  '`swarm.leader: <robot>` and `swarm.managers: auto|<odd number>`; then run provision swarm.';

/** The CLI may call it before connecting to any robot. */
export function requireTerminal(isTTY: boolean | undefined = process.stdin.isTTY): void {
  if (!isTTY) throw new Error(NO_TERMINAL);
}

/** Runs the wizard; true when the roles were written and the operator wants `provision swarm` now. */
export async function rolesCommand(fleet: Fleet, prompts: WizardPrompts = realPrompts): Promise<boolean> {
  requireTerminal();
  const rows = await readWizardRows(fleet);
  prompts.print(renderTable(rows));
  let saved = false;
  try {
    saved = (await chooseRoles(fleet.inventory, rows, prompts, { dryRun: fleet.options.dryRun })).saved;
    if (!saved) return false;
    return await prompts.confirm({ message: 'Run provision swarm now to apply these roles?', default: true });
  } catch (err) {
    if ((err as Error).name !== 'ExitPromptError') throw err; // Ctrl+C
    prompts.print(saved ? 'provision swarm was not run' : `cancelled: ${fleet.inventory.file} is not changed`);
    return false;
  }
}

export async function chooseRoles(inventory: Inventory, rows: WizardRow[], prompts: WizardPrompts, options: { dryRun?: boolean } = {}) {
  const { write, ...choice } = await runWizard(inventory, rows, prompts, options);
  if (write) {
    saveRoles(inventory.file, choice.roles, choice.leader);
    prompts.print(`wrote roles and swarm.leader into ${inventory.file}`);
  }
  return { ...choice, saved: write };
}

interface RolesRun {
  fleet: Fleet;
  problems: Map<string, string>;
  members: Member[];
  leaderNode: string | undefined;
}

/** A robot whose facts cannot be read shows why (it is not failed). */
const ROLES_PHASES: readonly Phase<RolesRun>[] = [
  { title: 'reading docker facts', run: async (s) => void (s.members = await gatherMembers(s.fleet, s.problems)) },
  {
    title: 'reading the leader',
    run: async (s) => {
      const nodes = await nodeList(s.members);
      s.members = withoutFalseClaims(s.fleet, s.members, nodes, s.problems); // a robot claiming another's node shows why
      s.leaderNode = nodes.find((n) => n.leader)?.id;
    },
  },
];

export async function readWizardRows(fleet: Fleet): Promise<WizardRow[]> {
  const problems = new Map<string, string>();
  for (const [name, reach] of fleet.reach) if (!reach.ok) problems.set(name, reach.reason);
  const s: RolesRun = { fleet, problems, members: [], leaderNode: undefined };
  const connected = new Set(fleet.connected().map(({ robot }) => robot.name));
  await runPhases(fleet, s, ROLES_PHASES);
  return wizardRows(fleet.inventory.robots, {
    facts: new Map(s.members.map((m) => [m.robot.name, m.facts])),
    problems,
    connected,
    leaderNode: s.leaderNode,
  });
}

/** The node list, as the first manager sees it (best effort: none when it cannot be read). */
async function nodeList(members: Member[]): Promise<NodeInfo[]> {
  const manager = members.find((m) => m.facts.swarm?.ControlAvailable);
  if (!manager) return [];
  return manager.conn
    .exec(nodesCommand(manager.robot.sudo))
    .then((result) => (result.code === 0 ? parseNodes(result.stdout) : []))
    .catch(() => []);
}
