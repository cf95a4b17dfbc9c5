// `provision roles`: gather each robot's facts, run the role wizard, offer to run `provision swarm`.
import { gatherWizardRows, realPrompts, renderTable, runWizard, type WizardPrompts } from '../ui/wizard.js';
import type { Fleet } from '../run/fleet.js';

export const NO_TERMINAL =
  'provision roles is an interactive wizard and needs a terminal (stdin is not one). ' +
  'Without a terminal, set the roles in the inventory instead: `role: manager|worker|auto` on each robot, ' +
  '`swarm.leader: <robot>` and `swarm.managers: auto|<odd number>`; then run provision swarm.';

/** Throws when there is no terminal to prompt on; the CLI may call it before connecting to any robot. */
export function requireTerminal(isTTY: boolean | undefined = process.stdin.isTTY): void {
  if (!isTTY) throw new Error(NO_TERMINAL);
}

/** Runs the wizard; true when the roles were written and the operator wants `provision swarm` now. */
export async function rolesCommand(fleet: Fleet, prompts: WizardPrompts = realPrompts): Promise<boolean> {
  requireTerminal();
  const rows = await gatherWizardRows(fleet);
  prompts.print(renderTable(rows));
  let saved = false;
  try {
    const result = await runWizard(fleet.inventory, rows, prompts, { dryRun: fleet.options.dryRun });
    saved = result.saved;
    if (!saved) return false;
    return await prompts.confirm({ message: 'Run provision swarm now to apply these roles?', default: true });
  } catch (err) {
    if ((err as Error).name !== 'ExitPromptError') throw err; // Ctrl+C
    prompts.print(saved ? 'provision swarm was not run' : `cancelled: ${fleet.inventory.file} is not changed`);
    return false;
  }
}
