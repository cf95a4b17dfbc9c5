#!/usr/bin/env node
// Command-line wiring only: parse flags, load the inventory, run a step, render, exit.
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { InventoryError, loadInventory } from './inventory/load.js';
import { registerSecret, redact } from './log.js';
import { Fleet, type RunOptions } from './steps/fleet.js';
import { runKeys } from './steps/keys.js';
import { outcomesJson, renderOutcomes } from './ui/report.js';

const EXIT_BAD_INPUT = 2;

interface CommonFlags {
  inventory: string;
  dryRun?: boolean;
  askPass?: boolean;
  connectTimeout: number;
  maxHandshakes: number;
  json?: boolean;
}

class UsageError extends Error {}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

async function password(flags: CommonFlags): Promise<string | undefined> {
  const fromEnv = process.env.PROVISION_PASSWORD;
  if (!flags.askPass) return fromEnv || undefined;
  if (!process.stdin.isTTY) throw new UsageError('--ask-pass needs a terminal to prompt on; without one, set PROVISION_PASSWORD in the environment');
  const { password: ask } = await import('@inquirer/prompts');
  return ask({ message: 'SSH password for the robots (first contact):', mask: '*' });
}

function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-i, --inventory <file>', 'inventory file', 'inventory/robots.yaml')
    .option('-n, --dry-run', 'show per robot what would change; change nothing')
    .option('--ask-pass', 'prompt once for the SSH password used where no key works yet (or set PROVISION_PASSWORD)')
    .option('--json', 'print one JSON object instead of text')
    .addOption(new Option('--connect-timeout <seconds>', 'SSH connect timeout per robot').default(5).argParser(positiveInt))
    .addOption(new Option('--max-handshakes <n>', 'SSH handshakes in flight at once').default(32).argParser(positiveInt));
}

interface StepResult { text?: string; json?: object; roleOf?: (robot: string) => string }

async function runStep(title: string, flags: CommonFlags, step: (fleet: Fleet) => Promise<StepResult | void>): Promise<number> {
  const inventory = loadInventory(flags.inventory);
  const secret = await password(flags);
  registerSecret(secret);
  const options: RunOptions = {
    dryRun: Boolean(flags.dryRun),
    connectTimeoutMs: flags.connectTimeout * 1000,
    maxHandshakes: flags.maxHandshakes,
    ...(secret ? { password: secret } : {}),
  };
  const fleet = await Fleet.open(inventory, options);
  let result: StepResult = {};
  try {
    result = (await step(fleet)) ?? {};
  } finally {
    fleet.close();
  }
  if (flags.json) console.log(JSON.stringify({ ...outcomesJson(fleet, result.roleOf), ...result.json }, null, 2));
  else console.log(renderOutcomes(title, fleet, result.roleOf) + (result.text ? '\n' + result.text : ''));
  return fleet.exitCode();
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('provision')
    .description('Turn a fleet of robots into one Docker Swarm over SSH, from the operator\'s laptop.')
    .version(version())
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  provision keys --ask-pass            first contact: keys on every robot, shared ~/.ssh/config
  provision keys --dry-run             show what would change, change nothing
  PROVISION_PASSWORD=… provision keys  the password from the environment (automation)
  provision keys -i fleet.yaml --json  another inventory, machine-readable result

Exit codes: 0 every robot done, 1 some robot unreachable or failed (the others are done), 2 bad input.`,
    );

  withCommonOptions(
    program
      .command('keys')
      .description('generate a key pair on every robot, distribute authorized_keys, known_hosts and ~/.ssh/config'),
  ).action(async (flags: CommonFlags) => setExit(await runStep('provision keys', flags, runKeys)));

  withCommonOptions(
    program
      .command('swarm')
      .description('init or reuse the swarm, plan roles by quorum rules, write ~/swarm_tokens, join and label every robot'),
  ).action(async (flags: CommonFlags) =>
    setExit(
      await runStep('provision swarm', flags, async (fleet) => {
        // Loaded only for this command: `keys` and `--help` do not pay for it.
        const [{ runSwarm }, { renderSwarmSummary, swarmJson }] = await Promise.all([import('./steps/swarm.js'), import('./ui/swarmReport.js')]);
        const report = await runSwarm(fleet);
        const roleOf = (robot: string) => report.plan?.decisions.find((d) => d.name === robot)?.role ?? '';
        return {
          roleOf,
          text: renderSwarmSummary(report, (id) => report.robotOfNode.get(id)),
          json: { swarm: swarmJson(report) },
        };
      }),
    ),
  );

  return program;
}

async function main(): Promise<void> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof InventoryError || err instanceof UsageError) {
      console.error(err.message);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    console.error(`provision: ${redact((err as Error).message)}`);
    process.exitCode = 1;
    return;
  }
  process.exitCode = code;
}

await main();
