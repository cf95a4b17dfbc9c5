// `provision init`: the first inventory, from --robot pairs or asked; checked like any, never written over a file.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError } from '../inputError.js';
import { InventoryError, parseInventory } from '../inventory/load.js';
import { inventoryText, parseRobotPair, type NewRobot } from '../inventory/template.js';

async function askRobots(): Promise<NewRobot[]> {
  const { input } = await import('@inquirer/prompts');
  const robots: NewRobot[] = [];
  for (;;) {
    const name = (await input({ message: `robot ${robots.length + 1} name (empty when done):` })).trim();
    if (!name) return robots;
    robots.push({ name, ip: (await input({ message: `${name}'s static IPv4 address:` })).trim() });
  }
}

export async function initInventory(file: string, pairs: string[], user?: string): Promise<{ file: string; robots: NewRobot[] }> {
  const where = resolve(file);
  const refuseExisting = () =>
    new InputError([
      { message: `${where} already exists: provision init never writes over an inventory (edit it, or name a new file with -i)` },
    ]);
  // Everything is checked before anything is asked.
  if (existsSync(where)) throw refuseExisting();
  let robots = pairs.map(parseRobotPair);
  if (!robots.length) {
    if (!process.stdin.isTTY)
      throw new InputError([
        { message: 'name the robots with --robot NAME=IP (once per robot), or run provision init on a terminal to be asked' },
      ]);
    robots = await askRobots();
    if (!robots.length) throw new InputError([{ message: 'no robot given: nothing written' }]);
  }
  const text = inventoryText(robots, user);
  try {
    parseInventory(text, file);
  } catch (err) {
    // Lines of a file not yet written mean nothing to the operator: robot and field say it all.
    if (err instanceof InventoryError) throw new InputError(err.errors.map(({ line: _line, ...rest }) => rest));
    throw err;
  }
  try {
    mkdirSync(dirname(where), { recursive: true });
    writeFileSync(where, text, { flag: 'wx', mode: 0o644 }); // wx: a file that appeared meanwhile is not overwritten either
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw refuseExisting();
    throw new InputError([
      {
        message: `cannot write ${where}: ${code === 'EACCES' || code === 'EPERM' ? 'no permission to write there' : code === 'ENOTDIR' ? 'a part of its path is a file, not a directory' : (err as Error).message}`,
      },
    ]);
  }
  return { file: where, robots };
}
