#!/usr/bin/env node
// Command-line wiring only: parse flags, load the inventory, run a step, render, exit.
import { interruption } from './interrupt.js'; // first: Ctrl-C is handled while the rest loads
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { InventoryError, loadInventory } from './inventory/load.js';
import { InputError, problemText, unreadable } from './inputError.js';
import { SHELLS, completionScript, type Shell } from './ui/completion.js';
import { inputErrorsJson, type CommandName } from './ui/json.js';
import type { Inventory, Robot } from './inventory/schema.js';
import { loadSshConfig, operatorSshLookup } from './ssh/sshConfig.js';
import { printable, printableJson, registerSecret, redact } from './log.js';
import { Fleet, operatorIdentityFiles } from './run/fleet.js';
import type { SwarmReport } from './run/outcome.js';
import { keysOpening, rotateKeysOpening, runKeys } from './steps/keys.js';
import { LimitError, parseLimit } from './plan/limit.js';
import { factsFirstCommand, swarmOpening } from './steps/swarmState.js';
import type { RemoteCommand } from './remote/shell.js';
import type { CheckOptions } from './steps/check.js';
import { outcomesJson, renderOutcomes, type RunSummary } from './ui/report.js';
import { colourWanted, painter, progressMode } from './ui/terminal.js';

const EXIT_BAD_INPUT = 2;

interface Flags {
  inventory: string;
  dryRun?: boolean;
  askPass?: boolean;
  askBecomePass?: boolean;
  connectTimeout?: number;
  maxHandshakes: number;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
  limit?: string;
  prune?: boolean;
  color?: boolean; // --no-color
  live?: boolean; // false where the run prompts (roles): no live view
  verify?: boolean; // --no-verify
  operatorKey?: string[];
  revokeOperatorKey?: string[];
  installService?: boolean;
  keys?: boolean;
  yes?: boolean;
  check?: boolean;
  preflight?: boolean;
  image?: string;
  imageFile?: string;
}

/** Bad input that is one sentence (a flag, a missing terminal): exit 2, before any connection. */
class UsageError extends InputError {
  constructor(message: string) {
    super([{ message }]);
  }
}

const DEFAULT_INVENTORY = 'inventory/robots.yaml';
/** -i's default, relative to where provision runs. */
const defaultInventory = () => process.env.PROVISION_INVENTORY || DEFAULT_INVENTORY;

const printJson = (value: object) => console.log(printableJson(JSON.stringify(value, null, 2)));
/** Text output: robots' text in it has its control characters escaped (printable). */
const say = (text: string) => console.log(printable(text));
const inventoryFlag = (file: string) => (file === defaultInventory() ? '' : ` -i ${file}`);

function positiveInt(value: string) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

async function askHidden(message: string) {
  const { password } = await import('@inquirer/prompts');
  return password({ message, mask: '*' });
}

async function secret(ask: boolean | undefined, flag: string, envName: string, message: string) {
  if (ask && !process.stdin.isTTY)
    throw new UsageError(`${flag} needs a terminal to prompt on; without one, set ${envName} in the environment`);
  const value = ask ? await askHidden(message) : process.env[envName] || undefined;
  registerSecret(value);
  return value;
}

/** An encrypted key's passphrase, asked on the terminal; without one, the key is skipped with a note. */
const askPassphrase = async (file: string) => (process.stdin.isTTY ? askHidden(`passphrase for ${file}:`) : undefined);

/**
 * A command on the fleet: its own flags first (the help lists them in that order), then the common
 * ones, then --limit and --prune for the converging commands (keys, swarm, up).
 */
function fleetCommand(program: Command, name: CommandName, description: string, own = (cmd: Command) => cmd, converges = false) {
  const cmd = own(program.command(name).description(description))
    .option('-i, --inventory <file>', 'inventory file (or set PROVISION_INVENTORY)', defaultInventory())
    .option('-n, --dry-run', 'show per robot what would change; change nothing')
    .option('--ask-pass', 'prompt once for the SSH password used where no key works yet (or set PROVISION_PASSWORD)')
    .option('--ask-become-pass', 'prompt once for the sudo password of robots with sudo: true (or set PROVISION_BECOME_PASSWORD)')
    .option('--json', 'print one JSON object instead of text')
    .option('-q, --quiet', 'print only the robots that failed or were unreachable, and the counts')
    .option('-v, --verbose', 'print a line per robot per step as it happens, on stderr (the default on a terminal)')
    .option('--debug', 'print the stack trace of an unexpected error (it is always in the log)')
    .option('--no-color', 'no colour on a terminal (as with NO_COLOR=1)')
    .option(
      '--connect-timeout <seconds>',
      'SSH connect timeout per robot (default: ConnectTimeout from ~/.ssh/config, else 5)',
      positiveInt,
    )
    .option('--max-handshakes <n>', 'SSH handshakes in flight at once', positiveInt, 32);
  if (!converges) return cmd;
  return cmd
    .option('-l, --limit <names>', 'change only these robots (NAME[,NAME…]); the others are read where the plan needs them, never changed')
    .option(
      '--prune',
      'remove drift: swarm nodes of no inventory robot, managed-block lines of robots not in the inventory (without it: only reported)',
    );
}

const withYes = (cmd: Command) => cmd.option('-y, --yes', 'do not ask for confirmation');

/** The inventory, with the operator's ~/.ssh/config applied where the inventory sets nothing. */
function loadFleetInventory(file: string) {
  if (!existsSync(file)) {
    const init = `provision init${inventoryFlag(file)} --robot NAME=IP …`;
    throw new UsageError(`no inventory at ${resolve(file)} (-i FILE or PROVISION_INVENTORY name another): write one with ${init}`);
  }
  const home = homedir();
  let config: ReturnType<typeof loadSshConfig>;
  try {
    config = loadSshConfig(home);
  } catch (err) {
    throw new UsageError(`cannot read your ~/.ssh/config (${resolve(home, '.ssh', 'config')}, or a file it includes): ${unreadable(err)}`);
  }
  for (const warning of config.warnings) console.error(printable(`provision: ~/.ssh/config: ${warning}`));
  return loadInventory(file, operatorSshLookup(config, { localUser: userInfo().username, home }));
}

/** Names are unique ignoring case. */
const robotNamed = (inventory: Inventory, name: string) => inventory.robots.find((r) => r.name.toLowerCase() === name.toLowerCase());
const namesIn = (inventory: Inventory) => inventory.robots.map((r) => r.name).join(', ');

/** The inventory's spelling of each name; an unknown one is bad input. */
function robotsNamed(inventory: Inventory, names: readonly string[]) {
  const unknown = names.filter((n) => !robotNamed(inventory, n));
  if (unknown.length)
    throw new UsageError(`no robot named ${unknown.map((n) => `"${n}"`).join(', ')} in ${inventory.file} (robots: ${namesIn(inventory)})`);
  return [...new Set(names.map((n) => robotNamed(inventory, n)!.name))];
}

/** --operator-key / --revoke-operator-key: read and checked before any connection (bad input: exit 2). */
async function operatorKeyFlags(flags: Flags) {
  if (!flags.operatorKey?.length && !flags.revokeOperatorKey?.length) return undefined;
  const { loginKeys, readPublicKeyFile } = await import('./ssh/operatorKeys.js');
  const read = (file: string) => {
    try {
      return readPublicKeyFile(file);
    } catch (err) {
      throw new UsageError(`provision keys: ${(err as Error).message}`);
    }
  };
  const others = (flags.operatorKey ?? []).map(read);
  const revoke = (flags.revokeOperatorKey ?? []).map((file) => ({ file, ...read(file) }));
  const own = await loginKeys(operatorIdentityFiles(loadFleetInventory(flags.inventory)));
  const locksOut = revoke.filter((r) => own.has(r.key));
  if (locksOut.length)
    throw new UsageError(
      `provision keys: refusing to revoke ${locksOut.map((r) => r.file).join(', ')}: this run logs in with that key (revoke it from another laptop, or after switching keys)`,
    );
  const both = revoke.filter((r) => others.some((o) => o.key === r.key));
  if (both.length) throw new UsageError(`provision keys: ${both.map((r) => r.file).join(', ')} is both to install and to revoke`);
  return { others, revoke: revoke.map((r) => r.key) };
}

interface StepResult {
  text?: string;
  json?: object;
  roleOf?: (robot: string) => string;
  /** A failure no robot's outcome carries (check: the task did not move): exit 1 all the same. */
  failed?: boolean;
}

interface Step {
  run: (fleet: Fleet) => Promise<StepResult | void>;
  /** The step's first command per robot: it rides in the same remote call as the run lock (Fleet.lock). */
  opening?: (fleet: Fleet) => (robot: Robot) => string | RemoteCommand;
  /** The step only reads (status): no run lock, no look at the login shells. */
  readOnly?: boolean;
  /** The step's own text in place of the outcome report (status). */
  report?: (run: RunSummary, result: StepResult) => string;
}

const facts = () => factsFirstCommand;
const swarmFirst = () => swarmOpening;

async function runOptions(flags: Flags) {
  return {
    dryRun: Boolean(flags.dryRun),
    connectTimeoutMs: flags.connectTimeout === undefined ? undefined : flags.connectTimeout * 1000,
    maxHandshakes: flags.maxHandshakes,
    prune: flags.prune,
    password: await secret(flags.askPass, '--ask-pass', 'PROVISION_PASSWORD', 'SSH password for the robots (first contact):'),
    sudoPassword: await secret(
      flags.askBecomePass,
      '--ask-become-pass',
      'PROVISION_BECOME_PASSWORD',
      'sudo password on the robots (for docker):',
    ),
    askPassphrase,
    ...(await progress(flags)),
  };
}

/** --limit, checked against the inventory before any connection: an unknown name is bad input (exit 2). */
function limitOf(flags: Flags, inventory: Inventory) {
  try {
    return flags.limit === undefined
      ? undefined
      : parseLimit(
          flags.limit,
          inventory.robots.map((r) => r.name),
        );
  } catch (err) {
    if (err instanceof LimitError) throw new UsageError(err.message);
    throw err;
  }
}

async function progress(flags: Flags) {
  const mode = progressMode({ stderrTTY: process.stderr.isTTY, ...flags });
  if (mode === 'lines') return { progress: (robot: string, message: string) => console.error(printable(`${robot}: ${message}`)) };
  if (mode === 'none') return {};
  const { LiveView } = await import('./ui/liveView.js');
  const view = new LiveView(process.stderr, colourWanted(process.stderr.isTTY, process.env, flags.color));
  return { events: view.listener, view };
}

/** Sets the exit code from the outcomes. */
async function runStep(command: CommandName, flags: Flags, step: Step, inventory = loadFleetInventory(flags.inventory)) {
  const title = `provision ${command}`;
  const limit = limitOf(flags, inventory);
  const options = await runOptions(flags);
  const fleet = await Fleet.open(inventory, { ...options, limit });
  let result: StepResult = {};
  const unlocked = step.readOnly || fleet.options.dryRun;
  // Under --limit every robot reached is still locked: the plan reads the others (quorum, node list,
  // tokens, keys), and a second run changing them meanwhile would make that read stale.
  const locked = !unlocked && (await fleet.lock(step.opening?.(fleet)));
  try {
    if (locked || unlocked) result = (await step.run(fleet)) ?? {};
  } catch (err) {
    fleet.stoppedBy(title, err);
    if (flags.debug) console.error(printable(String((err as Error).stack ?? err)));
  } finally {
    if (!step.readOnly) await fleet.noteLoginShells().catch(() => undefined);
    if (locked || interruption.aborted) await fleet.unlock(); // after Ctrl-C: the release it started
    fleet.close();
    await options.view?.end();
  }
  const paint = painter(colourWanted(process.stdout.isTTY, process.env, flags.color));
  const run = summaryOf(fleet);
  if (result.failed) run.exitCode ||= 1; // 130 (Ctrl-C) stays
  if (result.json && ('check' in result.json || 'preflight' in result.json) && !fleet.options.dryRun)
    await storeCheck(command, inventory.file, run, result.json);
  if (flags.json) printJson({ command, ...outcomesJson(run, result.roleOf), ...result.json });
  else if (step.report) say(step.report(run, result));
  else {
    // renderOutcomes escapes what it shows itself: its colours are provision's own escape codes.
    console.log(renderOutcomes(title, run, result.roleOf, Boolean(flags.quiet), paint));
    if (!flags.quiet && result.text) say(result.text);
  }
  process.exitCode = run.exitCode;
}

/** A swarm step that cannot be undone asks first, or takes --yes; nothing runs when the operator says no. */
async function runConfirmed(
  command: CommandName,
  flags: Flags,
  inventory: Inventory,
  noTerminal: string,
  question: string,
  run: Step['run'],
) {
  if (!flags.yes && !flags.dryRun) {
    if (!process.stdin.isTTY) throw new UsageError(noTerminal);
    const { confirm } = await import('@inquirer/prompts');
    if (!(await confirm({ message: question, default: false }))) return;
  }
  await runStep(command, flags, { run, opening: facts }, inventory);
}

/** check's result, kept for provision ui (run/lastCheck.ts). */
async function storeCheck(command: CommandName, file: string, run: RunSummary, json: object) {
  const { storeLastCheck } = await import('./run/lastCheck.js');
  const robots = run.outcomes.map((o) => ({ name: o.robot, status: o.status, details: o.details }));
  storeLastCheck(file, { at: new Date().toISOString(), command, exitCode: run.exitCode, robots, ...json });
}

function summaryOf(fleet: Fleet) {
  const outcomes = fleet.inventory.robots.map((r) => ({ ...fleet.outcomes.get(r.name)!, ip: r.ip }));
  return { outcomes, dryRun: fleet.options.dryRun, notes: fleet.notes, exitCode: fleet.exitCode() };
}

const planRoles = (report: SwarmReport) => (robot: string) => report.plan?.decisions.find((d) => d.name === robot)?.role ?? '';

/** `swarm` runs runSwarm; `up` its own composition of keys and swarm (steps/up.ts). */
async function swarmStep(
  fleet: Fleet,
  installService?: boolean,
  steps?: (fleet: Fleet) => Promise<SwarmReport>,
): Promise<StepResult & { report: SwarmReport }> {
  // Loaded only for the commands that need it: `keys` and `--help` do not pay for it.
  const [{ runSwarm }, { renderSwarmSummary, swarmJson }] = await Promise.all([import('./steps/swarm.js'), import('./ui/swarmReport.js')]);
  const report = await (steps ?? runSwarm)(fleet);
  if (installService) await (await import('./steps/service.js')).installService(fleet);
  return {
    roleOf: planRoles(report),
    text: renderSwarmSummary(report, (id) => report.robotOfNode.get(id)),
    json: { swarm: swarmJson(report) },
    report,
  };
}

const DEFAULT_CHECK_IMAGE = 'busybox:latest';

/** --image / --image-file, checked before any connection: the file readable, the image named. */
async function checkOptions(flags: Flags) {
  if (!flags.imageFile) return { image: flags.image ?? DEFAULT_CHECK_IMAGE };
  if (!existsSync(flags.imageFile)) throw new UsageError(`--image-file ${flags.imageFile}: no such file`);
  if (flags.image) return { image: flags.image, imageFile: flags.imageFile }; // a gzipped tar too: docker load reads it
  const { imageNameInTar } = await import('./steps/check.js');
  let named: string | null;
  try {
    named = imageNameInTar(flags.imageFile);
  } catch (err) {
    throw new UsageError(`--image-file ${flags.imageFile}: ${unreadable(err)} (a docker save tar is expected)`);
  }
  const image = flags.image ?? named;
  if (!image) throw new UsageError(`--image-file ${flags.imageFile}: its manifest.json names no image: give it with --image NAME`);
  return { image, imageFile: flags.imageFile };
}

async function checkStep(fleet: Fleet, options: CheckOptions) {
  const [{ runCheck }, { checkJson, checkText }] = await Promise.all([import('./steps/check.js'), import('./ui/check.js')]);
  const report = await runCheck(fleet, options);
  return { text: checkText(report), json: checkJson(report), failed: report.failed };
}

const withImage = (cmd: Command) =>
  cmd
    .option(
      '--image <name>',
      `the image check's tasks run: one the robots have or can pull (default ${DEFAULT_CHECK_IMAGE}); it needs sh, httpd, wget, nslookup, timeout`,
    )
    .option(
      '--image-file <tar>',
      'a docker save tar on this laptop, loaded onto every robot that lacks its image (robots without internet)',
    );

const statusStep: Step = {
  readOnly: true,
  run: async (fleet) => {
    const [{ readStatus }, { renderStatus }] = await Promise.all([import('./steps/status.js'), import('./ui/status.js')]);
    const status = await readStatus(fleet);
    return { text: renderStatus(status), json: { status }, roleOf: (robot) => status.robots.find((r) => r.name === robot)?.role ?? '' };
  },
  report: (run, result) =>
    [
      ...(result.text ? [result.text] : []),
      ...run.outcomes
        .filter((o) => o.status !== 'ok' && o.status !== 'changed')
        .map((o) => `  ${o.robot}: ${o.status}: ${o.details.join('; ')}`),
    ].join('\n'),
};

const INSTALL_SERVICE = 'also install the boot-time join (provision-join.service, through sudo -n) on every robot';
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** In the order of the help and the completion scripts. */
const COMMANDS: ((program: Command) => void)[] = [
  (program) =>
    fleetCommand(
      program,
      'keys',
      'generate a key pair on every robot, distribute authorized_keys, known_hosts and ~/.ssh/config, then verify that the robots log in to each other by name',
      (cmd) =>
        cmd
          .option('--no-verify', 'skip the mesh check (each robot logging in to another with ssh <Name>, BatchMode, host key checked)')
          .option('--operator-key <file>', "also install this public key (another laptop's) on every robot (repeatable)", collect)
          .option(
            '--revoke-operator-key <file>',
            "remove this public key from every robot's managed block (repeatable; never the key this run logs in with)",
            collect,
          ),
      true,
    ).action(async (flags: Flags) => {
      const operatorKeys = await operatorKeyFlags(flags);
      await runStep('keys', flags, {
        run: (fleet) => runKeys(fleet, { verify: flags.verify !== false, operatorKeys, mesh: 'last' }),
        opening: keysOpening,
      });
    }),

  (program) =>
    fleetCommand(
      program,
      'swarm',
      'init or reuse the swarm, plan roles by quorum rules, write ~/swarm_tokens, join and label every robot',
      (cmd) => cmd.option('--install-service', INSTALL_SERVICE),
      true,
    ).action((flags: Flags) => runStep('swarm', flags, { run: (fleet) => swarmStep(fleet, flags.installService), opening: swarmFirst })),

  (program) =>
    fleetCommand(
      program,
      'up',
      'converge in one run: keys, then swarm, over the same connections (one login per robot, one run lock, one report)',
      (cmd) =>
        withImage(
          cmd
            .option('--no-verify', 'skip the mesh check of the keys part')
            .option('--install-service', INSTALL_SERVICE)
            .option('--check', 'then prove the swarm works (provision check)'),
        ),
      true,
    ).action(async (flags: Flags) => {
      const check = flags.check ? await checkOptions(flags) : undefined;
      const { runUp, upOpening } = await import('./steps/up.js');
      const run = async (fleet: Fleet) => {
        let keys = undefined as { json: object } | void;
        const result = await swarmStep(fleet, flags.installService, async (f) => {
          const up = await runUp(f, { verify: flags.verify !== false, last: !check && !flags.installService });
          keys = up.keys;
          return up.report;
        });
        if (!check || fleet.options.dryRun) return { ...result, json: { ...keys?.json, ...result.json } };
        // The check failing on its own must not lose up's report.
        const proof = await checkStep(fleet, {
          ...check,
          ...(result.report.preflight ? { preflight: result.report.preflight } : {}),
        }).catch((err: Error) => ({ text: `  note: the check stopped on an error: ${redact(err.message)}`, json: {}, failed: true }));
        return {
          ...result,
          text: `${result.text}\n${proof.text}`,
          json: { ...keys?.json, ...result.json, ...proof.json },
          failed: proof.failed,
        };
      };
      await runStep('up', flags, { run, opening: upOpening });
    }),

  (program) =>
    fleetCommand(
      program,
      'roles',
      'interactive wizard: pick managers and the leader, write them into the inventory, then optionally run provision swarm',
    ).action(async (flags: Flags) => {
      const { NO_TERMINAL, rolesCommand } = await import('./steps/roles.js');
      const inventory = loadFleetInventory(flags.inventory);
      if (!process.stdin.isTTY) throw new UsageError(NO_TERMINAL); // exit 2, before any connection
      let swarmNow = false;
      await runStep('roles', { ...flags, live: false }, { run: async (fleet) => void (swarmNow = await rolesCommand(fleet)) }, inventory);
      // The wizard rewrote the inventory: swarm runs on what it wrote.
      if (swarmNow) await runStep('swarm', flags, { run: swarmStep, opening: swarmFirst });
    }),

  (program) =>
    fleetCommand(
      program,
      'check',
      'prove the swarm works: a task on every robot, 64 KiB between tasks over the overlay, a task that moves, replicas that spread (cleaned up after)',
      (cmd) =>
        withImage(cmd.option('--preflight', 'only the network preflight (clocks, ports, MTU, kernels): also before any swarm exists')),
    ).action(async (flags: Flags) => {
      if (flags.dryRun && !flags.preflight)
        throw new UsageError(
          'provision check runs services to prove the swarm and has no dry run; --preflight only reads (it may take --dry-run)',
        );
      const options = { ...(await checkOptions(flags)), preflightOnly: Boolean(flags.preflight) };
      await runStep('check', flags, { run: (fleet) => checkStep(fleet, options), opening: facts, readOnly: Boolean(flags.preflight) });
    }),

  (program) =>
    fleetCommand(program, 'status', 'one table of every robot, its swarm state and role, and whether quorum holds').action((flags: Flags) =>
      runStep('status', flags, statusStep),
    ),

  (program) =>
    fleetCommand(
      program,
      'context',
      'create or update the docker context provision-<fleet>, pointing at a reachable manager (the leader first)',
      (cmd) => cmd.option('--use', 'also make it the current docker context'),
    ).action((flags: Flags & { use?: boolean }) =>
      runStep('context', flags, {
        readOnly: true,
        run: async (fleet) => {
          const { contextJson, contextText, runContext } = await import('./steps/context.js');
          const result = await runContext(fleet, Boolean(flags.use));
          return {
            text: contextText(result, fleet.options.dryRun),
            json: contextJson(result),
            failed: !result.host || Boolean(result.problem),
          };
        },
      }),
    ),

  (program) =>
    program
      .command('ui')
      .description('a local web page that shows every robot live (SSH, roles, quorum, labels, checks); read-only; Ctrl-C stops it')
      .option('-i, --inventory <file>', 'inventory file (or set PROVISION_INVENTORY)', defaultInventory())
      .option('--port <n>', 'the port (default: a free one)', positiveInt)
      .option('--listen <addr>', 'serve on this address instead of 127.0.0.1 (the token is still required)', '127.0.0.1')
      .option('--open', 'open the page in the browser')
      .option('--allow-actions', 'buttons on the page run provision status, check and up (asking first), one run at a time')
      .option('--interval <seconds>', 'seconds between two reads of every robot', positiveInt, 3)
      .option('--ask-pass', 'prompt once for the SSH password used where no key works yet (or set PROVISION_PASSWORD)')
      .option('--ask-become-pass', 'prompt once for the sudo password of robots with sudo: true (or set PROVISION_BECOME_PASSWORD)')
      .option(
        '--connect-timeout <seconds>',
        'SSH connect timeout per robot (default: ConnectTimeout from ~/.ssh/config, else 5)',
        positiveInt,
      )
      .option('--max-handshakes <n>', 'SSH handshakes in flight at once', positiveInt, 32)
      .action(async (flags: Flags & { port?: number; listen: string; open?: boolean; interval: number; allowActions?: boolean }) => {
        const inventory = loadFleetInventory(flags.inventory);
        if (!/^[0-9a-fA-F:.]+$/.test(flags.listen) || flags.listen === '0.0.0.0' || flags.listen === '::')
          throw new UsageError(
            `--listen ${flags.listen}: give one address of this laptop (not a name, not 0.0.0.0): the page checks the Host header against it`,
          );
        const { runUi } = await import('./steps/ui.js');
        const options = await runOptions({ ...flags, quiet: true });
        await runUi(inventory, {
          host: flags.listen,
          port: flags.port ?? 0,
          open: Boolean(flags.open),
          allowActions: Boolean(flags.allowActions),
          intervalMs: flags.interval * 1000,
          connectTimeoutMs: options.connectTimeoutMs,
          maxHandshakes: flags.maxHandshakes,
          password: options.password,
          sudoPassword: options.sudoPassword,
          askPassphrase,
          say: (line) => console.log(line),
        });
        setTimeout(() => process.exit(0), 1000).unref(); // a login still in flight must not hold Ctrl-C up
      }),

  (program) =>
    fleetCommand(
      program,
      'rotate',
      "rotate the swarm join tokens and write the new ones into every robot's ~/swarm_tokens; with --keys, the robots' SSH keys instead",
      (cmd) =>
        cmd
          .addOption(new Option('--token <which>', 'which token').choices(['worker', 'manager', 'both']).default('both'))
          .option('--keys', 'a new key pair generated on every robot, trusted everywhere before the old one is withdrawn'),
    ).action(async (flags: Flags & { token: 'worker' | 'manager' | 'both' }, cmd: Command) => {
      if (flags.keys && cmd.getOptionValueSource('token') === 'cli')
        throw new UsageError('provision rotate: --keys and --token are separate runs: rotate one, then the other');
      const keys = async (fleet: Fleet) => (await import('./steps/rotateKeys.js')).runRotateKeys(fleet);
      const tokens = async (fleet: Fleet) => {
        const { runSwarm } = await import('./steps/swarm.js');
        return { roleOf: planRoles(await runSwarm(fleet, { rotate: flags.token })) };
      };
      await runStep('rotate', flags, flags.keys ? { run: keys, opening: rotateKeysOpening } : { run: tokens, opening: facts });
    }),

  (program) =>
    fleetCommand(
      program,
      'remove',
      'retire robots: drain, demote, leave and remove their nodes (quorum-safe), revoke their keys and host keys everywhere, take them out of the inventory',
      (cmd) => withYes(cmd.argument('<names...>', 'robots of the inventory to remove')),
    ).action(async (names: string[], flags: Flags) => {
      // Every check before any connection: unknown names and a missing confirmation are bad input.
      const inventory = loadFleetInventory(flags.inventory);
      const robots = robotsNamed(inventory, names);
      await runConfirmed(
        'remove',
        flags,
        inventory,
        'provision remove retires robots for good and asks first; without a terminal, confirm with --yes (or look first with --dry-run)',
        `Remove ${robots.join(', ')} from the swarm, revoke their keys on every robot and take them out of ${flags.inventory}?`,
        async (fleet) => (await import('./steps/remove.js')).runRemove(fleet, robots),
      );
    }),

  (program) =>
    fleetCommand(
      program,
      'reset',
      'leave the swarm on every robot (workers, then managers, the leader last) and remove ~/swarm_tokens',
      (cmd) => withYes(cmd).option('--keys', 'also remove the provision blocks from ~/.ssh/authorized_keys, known_hosts and config'),
    ).action(async (flags: Flags) => {
      await runConfirmed(
        'reset',
        flags,
        loadFleetInventory(flags.inventory), // a bad inventory is refused before the question
        'provision reset dismantles the swarm and asks first; without a terminal, confirm with --yes (or look first with --dry-run)',
        `Leave the swarm on every robot of ${flags.inventory}${flags.keys ? ' and remove the provision SSH blocks' : ''}?`,
        async (fleet) => (await import('./steps/reset.js')).runReset(fleet, { keys: Boolean(flags.keys) }),
      );
    }),

  (program) =>
    fleetCommand(
      program,
      'recover',
      'after quorum is lost for good: make one manager the only one (docker swarm init --force-new-cluster)',
      (cmd) => withYes(cmd.requiredOption('--on <robot>', "the manager to recover on (it keeps the swarm's state)")),
    ).action(async (flags: Flags & { on: string }) => {
      const inventory = loadFleetInventory(flags.inventory);
      if (!robotNamed(inventory, flags.on))
        throw new UsageError(`--on ${flags.on}: no robot of that name in ${flags.inventory} (robots: ${namesIn(inventory)})`);
      await runConfirmed(
        'recover',
        flags,
        inventory,
        'provision recover rebuilds the swarm around one manager and asks first; without a terminal, confirm with --yes',
        `Force a new cluster on ${flags.on}? Lost managers will have to leave and join again.`,
        async (fleet) => (await import('./steps/recover.js')).runRecover(fleet, flags.on),
      );
    }),

  (program) =>
    program
      .command('init')
      .description('write a first, commented inventory (from --robot NAME=IP pairs, or asked on a terminal); never overwrites')
      .option('-i, --inventory <file>', 'where to write it (or set PROVISION_INVENTORY)', defaultInventory())
      .option('-r, --robot <name=ip>', 'a robot, e.g. Anton=192.168.50.11 (repeat for each robot)', collect, [] as string[])
      .option('-u, --user <user>', 'the Linux user on the robots (defaults.user)')
      .option('--json', 'print one JSON object instead of text')
      .action(async (flags: { inventory: string; robot: string[]; user?: string; json?: boolean }) => {
        const { initInventory } = await import('./steps/init.js');
        const result = await initInventory(flags.inventory, flags.robot, flags.user);
        const robots = result.robots.map((r) => ({ ...r, status: 'changed', details: [`added to ${flags.inventory}`] }));
        if (flags.json) printJson({ command: 'init', dryRun: false, exitCode: 0, robots, notes: [], inventory: result.file });
        else
          say(
            `wrote ${result.file} with ${result.robots.map((r) => r.name).join(', ')}: read its comments, then run provision keys --ask-pass${inventoryFlag(flags.inventory)}`,
          );
      }),

  (program) =>
    program
      .command('completion')
      .description('print a shell completion script: source <(provision completion bash), or zsh, or provision completion fish | source')
      .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
      .action((shell: Shell) => {
        process.stdout.write(completionScript(program, shell));
      }),
];

const EXAMPLES = `
Examples:
  provision init --robot Anton=192.168.50.11 --robot Ida=192.168.50.12   a first inventory
  provision keys --ask-pass            first contact: keys on every robot, shared ~/.ssh/config
  provision keys --dry-run             show what would change, change nothing
  PROVISION_PASSWORD=… provision keys  the password from the environment (automation)
  provision keys -i fleet.yaml --json  another inventory, machine-readable result
  provision swarm                      leader, quorum roles, ~/swarm_tokens, join, labels
  provision swarm --dry-run            the plan, changing nothing
  provision up                         keys, then swarm, in one run (one login per robot)
  provision up --limit Otto            change only Otto; the others are read, never changed
  provision status --json              every robot's swarm state and the fleet's quorum
  provision check --image-file bb.tar  prove the swarm runs, moves and spreads tasks (image loaded from the laptop)
  provision check --preflight          clocks, ports, MTU and kernels only (before a swarm exists too)
  provision up --check                 converge, then prove it works
  provision rotate --token worker      new worker join token, redistributed
  provision rotate --keys              new robot key pairs; no robot-to-robot login fails meanwhile
  provision remove Otto --yes          retire Otto: node drained and removed, keys revoked, inventory updated
  provision reset --yes                every robot leaves the swarm; ~/swarm_tokens removed
  provision recover --on Ida           quorum lost for good: Ida becomes the only manager
  provision ui                         the fleet live in a local web page (prints its URL with the token)
  provision ui --listen 10.0.0.5 --port 8080   serve it on another address of this laptop
  provision context --use              docker context provision-<fleet> on a reachable manager: docker node ls
  source <(provision completion bash)  complete commands and flags in bash (also zsh, fish)

The inventory: -i FILE, else $PROVISION_INVENTORY, else ${DEFAULT_INVENTORY}.
Exit codes: 0 every robot done, 1 some robot unreachable or failed (the others are done), 2 bad input.`;

function buildProgram() {
  const program = new Command('provision')
    .description("Turn a fleet of robots into one Docker Swarm over SSH, from the operator's laptop.")
    .version((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version)
    // Usage errors are one line with a hint, printed by main (text or JSON), never the whole help.
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .addHelpText('after', EXAMPLES);
  for (const add of COMMANDS) add(program);
  return program;
}

/** Bad input (exit 2): as JSON on stdout with --json, else on stderr; helpHint for an error commander found. */
function refuse(program: Command, errors: InputError['errors'], helpHint = false) {
  // The command named on the command line: the error may come before any action ran.
  const first = process.argv.slice(2).find((a) => !a.startsWith('-'));
  const command = program.commands.find((c) => c.name() === first)?.name() ?? null;
  const who = `provision${command ? ` ${command}` : ''}`;
  if (process.argv.includes('--json'))
    printJson(
      inputErrorsJson(
        command,
        errors.map((e) => ({ ...e, message: redact(e.message) })),
      ),
    );
  else
    console.error(
      printable(`${who}: ${errors.length > 1 ? `\n${errors.map((e) => `  - ${problemText(e)}`).join('\n')}` : problemText(errors[0]!)}`) +
        (helpHint ? ` (${who} --help for more)` : ''),
    );
  process.exitCode = EXIT_BAD_INPUT;
}

async function main() {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with their own exit code 0.
      if (err.exitCode === 0) return;
      // `provision` alone: commander printed the help, as people expect; still bad input.
      if (err.code === 'commander.help') return void (process.exitCode = EXIT_BAD_INPUT);
      return refuse(program, [{ message: err.message.replace(/^error: /, '').replace(/\n+/g, ' ') }], true);
    }
    if (err instanceof InventoryError && !process.argv.includes('--json')) {
      console.error(printable(err.message));
      return void (process.exitCode = EXIT_BAD_INPUT);
    }
    if (err instanceof InputError) return refuse(program, err.errors);
    console.error(`provision: ${printable((err as Error).message)}`);
    if (process.argv.includes('--debug')) console.error(printable(String((err as Error).stack)));
    process.exitCode = 1;
  }
}

await main();
