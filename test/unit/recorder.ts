// The stand-in executor of the orchestration tests (Kamal's test/commands are the model): every robot
// a RobotConnection.standIn whose commands are recorded in a readable form and answered from a small
// model of the robot (its ~/.ssh, its swarm node). The line a stand-in gets is the one sshd would get:
// the POSIX line travels base64 inside (forAnyLoginShell); it is decoded, split at `&&`, and each
// `sh -c SCRIPT provision ARGS…` named by matching SCRIPT against what the command builders produce
// (`gather-ssh anton@Anton 0`); a docker command reads `docker ARGS`, a file write `write PATH`, the
// mesh probe `mesh-probe TARGET`. Each command is filed under the live-view phase it was sent in ('-'
// outside one: a phase of the fleet as a whole shows none).
import type { Inventory } from '../../src/inventory/schema.js';
import type { RunOptions } from '../../src/run/fleet.js';
import type { ExecResult } from '../../src/ssh/connection.js';
import type { Reach } from '../../src/ssh/pool.js';

const { RobotConnection } = await import('../../src/ssh/connection.js');
const { Fleet } = await import('../../src/run/fleet.js');
const shell = await import('../../src/remote/shell.js');
const keysScript = await import('../../src/remote/keysScript.js');
const docker = await import('../../src/remote/docker.js');
const retire = await import('../../src/remote/retire.js');
const lock = await import('../../src/remote/lock.js');
const { lockCommand } = lock;
const sshFiles = await import('../../src/remote/sshFiles.js');
const { writeFileCommand, WRITTEN } = await import('../../src/remote/files.js');
const { splitRaw } = await import('../../src/remote/managedBlock.js');
const { createHash } = await import('node:crypto');
const { findTalkersCommand } = await import('../../src/remote/loginShell.js');
const service = await import('../../src/steps/service.js');
const preflight = await import('../../src/remote/preflight.js');
const { installServiceCommand } = service;

/** A POSIX line (as src/remote/shell.ts quotes it) split into words; an unquoted `&&` stays a word of its own. */
export function shellWords(line: string): { word: string; bare: boolean }[] {
  const words: { word: string; bare: boolean }[] = [];
  let word: { word: string; bare: boolean } | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === ' ') {
      if (word) words.push(word);
      word = null;
      continue;
    }
    word ??= { word: '', bare: true };
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word.word += line.slice(i + 1, end);
      word.bare = false;
      i = end;
    } else if (c === '\\') {
      word.word += line[++i];
      word.bare = false;
    } else word.word += c;
  }
  if (word) words.push(word);
  return words;
}

/** The script of a `sh -c SCRIPT provision …` line, without docker's `dk` prelude (sudo or not). */
const scriptOf = (line: string) => withoutPrelude((shellWords(line)[2] as { word: string }).word);
const withoutPrelude = (script: string) => script.replace(/^[\s\S]*?dk\(\) \{[^\n]*\n/, '');

/** The scripts provision sends, by the name a test reads. */
const SCRIPTS = new Map<string, string>(
  Object.entries({
    lock: lockCommand('x').line, // its first argument says which: take, refresh or release
    'gather-ssh': keysScript.gatherSshCommand('x', false).line,
    write: writeFileCommand('x', 0o600, 1), // one file or more: the same script
    'new-key': retire.newKeyCommand('x'),
    'adopt-key': retire.adoptKeyCommand(),
    'drop-next-key': retire.dropNextKeyCommand(),
    facts: docker.factsCommand(false).line,
    'node-ls': docker.nodesCommand(false).line,
    join: docker.joinCommand('worker', '', [], false).line,
    'join-state': docker.joinStateCommand(false).line,
    'manager-state': docker.managerStateCommand(false).line,
    'join-tokens': docker.joinTokensCommand(false).line,
    'manager-read': docker.managerReadCommand(false).line,
    'rotate-token': docker.rotateTokenCommand('worker', false).line,
    'sync-tokens': docker.syncTokensCommand(false),
    'remove-tokens': docker.removeTokensCommand(false),
    'find-talkers': findTalkersCommand(),
    docker: shell.dockerCommand([], false).line,
    preflight: preflight.preflightCommand('x').line,
    'path-mtu': preflight.pathMtuCommand([]),
    'ingress-mtu': preflight.ingressMtuCommand(false).line,
    'recreate-ingress': preflight.recreateIngressCommand(1400, false).line,
    'install-service': installServiceCommand('u', false, { templates: { script: '', unit: '' } }).command,
  }).map(([name, line]) => [scriptOf(line), name]),
);

export interface Command {
  name: string;
  args: string[];
  stdin?: string;
}

/** A POSIX line, as the commands it joins with `&&` (andThen), each named. */
export function nameCommands(line: string): Command[] {
  const groups: string[][] = [[]];
  for (const w of shellWords(line)) {
    if (w.bare && w.word === '&&') groups.push([]);
    else groups.at(-1)?.push(w.word);
  }
  return groups.map(nameCommand);
}

/** A line as sent, raw: what is chained before a batch (shell.ts's batch), the batch's parts' lines; null without one. */
export function splitBatchLine(line: string): { head: string; parts: string[]; stopOnFailure: boolean } | null {
  const open = line.search(/\{\n(IFS= read -r provision_pw\n)?provision_end\(\) \{/);
  if (open < 0) return null;
  const head = line.slice(0, open).replace(/ && $/, '');
  const body = line.slice(line.indexOf('\n', line.indexOf('provision_end() {')) + 1, line.lastIndexOf('\n}'));
  const ends = /; provision_s=\$\?; provision_end \$provision_s(; \[ "\$provision_s" = 0 \] \|\| exit "\$provision_s")?\n/;
  const pieces = (body + '\n').split(ends);
  // split keeps the group: every other piece says whether the batch stops at a failure
  const parts = pieces
    .filter((_, i) => i % 2 === 0)
    .slice(0, -1)
    .map((p) => p.replace(`printf '%s\\n' "$provision_pw" | `, ''));
  return { head, parts, stopOnFailure: pieces[1] !== undefined };
}

/** A line as sent: the commands chained with `&&` (named) and, after them, a batch's parts, if any. */
export function nameLine(line: string): { chained: Command[]; parts: Command[] } {
  const split = splitBatchLine(line);
  if (!split) return { chained: nameCommands(line), parts: [] };
  return { chained: split.head ? nameCommands(split.head) : [], parts: split.parts.map((p) => nameCommands(p)[0] as Command) };
}

/**
 * The answer to a raw line: a batch's parts each answered by `one` (in order, with the marks shell.ts's
 * batch prints; after a failure no more where it stops), else the line itself. What is chained before a
 * batch (the run lock) is answered by `one` first.
 */
export function answerBatch(line: string, one: (line: string) => ExecResult): ExecResult {
  const split = splitBatchLine(line);
  if (!split) return one(line);
  let stdout = '';
  let stderr = '';
  if (split.head) {
    const r = one(split.head);
    if (r.code !== 0) return r;
    stdout += r.stdout;
    stderr += r.stderr;
  }
  for (const part of split.parts) {
    const r = one(part);
    const mark = `\n${shell.PART_MARK} ${r.code}\n`;
    stdout += r.stdout + mark;
    stderr += r.stderr + mark;
    if (split.stopOnFailure && r.code !== 0) return { code: r.code, stdout, stderr };
  }
  return { code: 0, stdout, stderr };
}

/** The answer to a line, each command named and answered by `answer` (its `&&` chain in order while each succeeds). */
export function answerLine(line: string, answer: (c: Command) => ExecResult): ExecResult {
  return answerBatch(line, (raw) => {
    let stdout = '';
    let stderr = '';
    for (const c of nameCommands(raw)) {
      const r = answer(c);
      stdout += r.stdout;
      stderr += r.stderr;
      if (r.code !== 0) return { code: r.code, stdout, stderr };
    }
    return { code: 0, stdout, stderr };
  });
}

/** Every command of a line, in order (see nameLine). */
export const commandsOf = (line: string): Command[] => {
  const { chained, parts } = nameLine(line);
  return [...chained, ...parts];
};

function nameCommand(words: string[]): Command {
  const target = words.at(-2) as string;
  if (words[0] === 'ssh' && shell.commandLine(words) === keysScript.meshProbeCommand(target)) return { name: 'mesh-probe', args: [target] };
  if (words[0] !== 'sh' || words[1] !== '-c' || words[3] !== 'provision') return { name: shell.commandLine(words), args: [] };
  const name = SCRIPTS.get(withoutPrelude(words[2] as string));
  if (!name) throw new Error(`a script the recorder does not know: ${(words[2] as string).trim().split('\n')[0]}…`);
  const args = words.slice(4);
  if (name !== 'lock') return { name, args };
  const [action, runId = ''] = args;
  return action === 'take' ? { name, args: args.slice(1) } : { name: action === 'release' ? 'unlock' : 'refresh-lock', args: [runId] };
}

/** What a test reads: `gather-ssh anton@Anton 0`, `docker swarm leave --force`, `write .ssh/config`. */
export function readable(c: Command, runId = ''): string {
  const args = c.name === 'write' ? writtenFiles(c).map((f) => f.path) : withoutConstants(c.args.map((a) => (a === runId ? 'RUN' : a)));
  return [c.name, ...args.map(shell.quote)].join(' ');
}

/** A write's files (write-file.sh's arguments: the answer, then PATH MODE SIZE per file). */
const writtenFiles = (c: Command) =>
  Array.from({ length: Math.floor((c.args.length - 1) / 3) }, (_, i) => ({
    path: c.args[1 + 3 * i] as string,
    size: Number(c.args[3 + 3 * i]),
  }));

/** Fixed values the scripts get as arguments (folder and file names): left out of what a test reads. */
const CONSTANTS = [
  [lock.LOCK_DIR, String(lock.NOT_LOCKED)],
  [sshFiles.ROBOT_KEY_FILE, ...keysScript.MANAGED_SSH_FILES],
  [docker.TOKEN_DIR, ...docker.TOKEN_FILES],
  [retire.NEXT_KEY_FILE, sshFiles.ROBOT_KEY_FILE],
  [retire.NEXT_KEY_FILE],
  [docker.TOKEN_DIR, service.ADVERTISE_FILE, service.SERVICE_NAME],
  [docker.TOKEN_DIR],
];

export function withoutConstants(args: string[]): string[] {
  for (const run of CONSTANTS) {
    const at = args.findIndex((_, i) => run.every((w, j) => args[i + j] === w));
    if (at >= 0) return withoutConstants([...args.slice(0, at), ...args.slice(at + run.length)]);
  }
  return args;
}

/** The POSIX line inside what sshd gets (see forAnyLoginShell). */
export function decodeWire(wire: string): string {
  const b64 = /echo ([A-Za-z0-9+/=]+) \| base64 -d/.exec(wire)?.[1];
  if (!b64 || wire !== shell.forAnyLoginShell(Buffer.from(b64, 'base64').toString('utf8')))
    throw new Error(`not a provision line: ${wire}`);
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** A robot as the stand-in answers for it: its ~/.ssh (file contents, null when absent) and its swarm node. */
export interface SimRobot {
  ssh: { dir: boolean; dirMode: string; dirOwner: number; homeMode: string; key: string | null; next?: string };
  files: Record<'authorized_keys' | 'known_hosts' | 'config', string | null>;
  node?: { id: string; role: 'manager' | 'worker'; leader?: boolean };
  tokens: string[];
  /** Targets its mesh probe cannot log in to. */
  refuses?: string[];
}

export const freshRobot = (): SimRobot => ({
  ssh: { dir: false, dirMode: '700', dirOwner: 1000, homeMode: '755', key: null },
  files: { authorized_keys: null, known_hosts: null, config: null },
  tokens: [],
});

export interface Sent {
  robot: string;
  phase: string;
  command: string;
}

export class Recorder {
  readonly sent: Sent[] = [];
  private phase = '-';
  private runId = '';
  /** Each robot's inventory address: where the swarm has its node. */
  private ips = new Map<string, string>();
  constructor(readonly robots: Map<string, SimRobot>) {}

  /** A fleet of stand-ins over `inventory` (every robot of it modelled in `robots`). */
  fleet(inventory: Inventory, options: Partial<RunOptions> = {}) {
    const titles = new Map<number, string>();
    const events: RunOptions['events'] = (e) => {
      if (e.kind === 'phase-started') titles.set(e.phase, (this.phase = e.title));
      if (e.kind === 'phase-finished' && this.phase === titles.get(e.phase)) this.phase = '-';
    };
    const reach = new Map<string, Reach>(
      inventory.robots.map((r) => {
        const target = { name: r.name, host: r.ip, port: r.port, username: r.user };
        const conn = RobotConnection.standIn(target, async (wire, stdin) => this.exec(r.name, decodeWire(wire), stdin));
        return [r.name, { ok: true, conn, hostKey: `ssh-ed25519 AAAAHostKeyOf${r.name}`, newHostKey: null }];
      }),
    );
    const fleet = Fleet.overStandIns(inventory, { dryRun: false, maxHandshakes: 8, events, ...options }, reach);
    this.runId = fleet.runId;
    this.ips = new Map(inventory.robots.map((r) => [r.name, r.ip]));
    return fleet;
  }

  /** What `robot` was sent, in order: `phase: command`. */
  of(robot: string): string[] {
    return this.sent.filter((s) => s.robot === robot).map((s) => `${s.phase}: ${s.command}`);
  }

  private async exec(robot: string, line: string, stdin: string | Buffer | undefined): Promise<ExecResult> {
    const { chained, parts } = nameLine(line);
    const named = (cs: Command[]) => cs.map((c) => readable(c, this.runId));
    const command = [...named(chained), ...(parts.length ? [`{ ${named(parts).join('; ')} }`] : [])].join(' && ');
    this.sent.push({ robot, phase: this.phase, command });
    const r = answerLine(line, (c) => answer(this.robots, robot, { ...c, stdin: stdin?.toString() }, this.ips));
    return { ...r, stdout: `${shell.OUTPUT_MARK}\n${r.stdout}`, stderr: `${shell.OUTPUT_MARK}\n${r.stderr}` };
  }
}

const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The commands of the run lock and of ~/.ssh, answered from the model (sshAnswer); the rest is docker. */
export const SSH_SIDE = new Set(['lock', 'unlock', 'refresh-lock', 'gather-ssh', 'write', 'mesh-probe']);

/** A lock, ~/.ssh or mesh command (SSH_SIDE) answered for `sim`; its stdout without OUTPUT_MARK. */
export function sshAnswer(sim: SimRobot, c: Command): ExecResult {
  return answer(new Map([['-', sim]]), '-', c, new Map());
}

function answer(robots: Map<string, SimRobot>, robot: string, c: Command, ips: ReadonlyMap<string, string>): ExecResult {
  const sim = robots.get(robot) as SimRobot;
  switch (c.name) {
    case 'lock':
      return ok('provision-lock locked\n');
    case 'unlock':
    case 'refresh-lock':
      return ok(c.name === 'refresh-lock' ? 'provision-lock refreshed\n' : '');
    case 'gather-ssh':
      return ok(gathered(sim, c.args[1] === '1', c.args[0] as string, c.args[2] === '1'));
    case 'write': {
      let at = 0;
      const answers = writtenFiles(c).map(({ path, size }) => {
        sim.files[path.replace('.ssh/', '') as keyof SimRobot['files']] = (c.stdin ?? '').slice(at, (at += size));
        return `${WRITTEN} ${path}\n`;
      });
      return ok(answers.join(''));
    }
    case 'mesh-probe':
      return sim.refuses?.includes(c.args[0] as string) ? { code: 255, stdout: '', stderr: 'Permission denied (publickey).' } : ok();
    case 'new-key':
      sim.ssh.next = `ssh-ed25519 AAAANewKeyOf${robot} ${c.args[0]}`;
      return ok(`${sim.ssh.next}\n`);
    case 'adopt-key':
      sim.ssh.key = sim.ssh.next ?? null;
      return ok();
    case 'drop-next-key':
      delete sim.ssh.next;
      return ok();
    case 'install-service':
      return ok('changed:script\nchanged:unit\nenabled\n');
    case 'remove-tokens':
      return ok(sim.tokens.map((t) => `${t}\n`).join(''));
    default:
      return swarmAnswer(robots, robot, c, ips);
  }
}

/** The gather script's answer for the model (see src/remote/keysScript.ts); a real run also acts on it. */
function gathered(sim: SimRobot, dry: boolean, comment: string, inParts: boolean): string {
  const { ssh } = sim;
  const mine = ssh.dirOwner === 1000;
  const state = [!ssh.dir && 'mkdir', mine && ssh.dir && ssh.dirMode !== '700' && 'chmod', mine && !ssh.key && 'keygen'].filter(Boolean);
  if (!dry)
    Object.assign(ssh, { dir: true, ...(mine ? { dirMode: '700', key: ssh.key ?? `ssh-ed25519 AAAAKeyOf${comment} ${comment}` } : {}) });
  const files = Object.entries(sim.files);
  return [
    `state: ${state.join(' ')}`,
    'uid:1000',
    'home:/home/robot',
    `perm:.:${ssh.homeMode}:1000`,
    ...(ssh.dir ? [`perm:.ssh:${ssh.dirMode}:${ssh.dirOwner}`] : []),
    ...files.filter(([, v]) => v !== null).map(([f]) => `perm:.ssh/${f}:600:1000`),
    ssh.key ? `id_ed25519.pub:644:${b64(ssh.key)}` : 'id_ed25519.pub:-:',
    ...files.map(([f, v]) => (v === null ? `${f}:-:` : `${f}:600:${inParts ? partsOf(v) : b64(v)}`)),
    '',
  ].join('\n');
}

/** A file as gather-ssh.sh's in_parts cuts it (test/unit/gatherParts.test.ts holds the script to the same cut). */
function partsOf(text: string): string {
  const { before, region, after } = splitRaw(text);
  const latin = (s: string) => Buffer.from(s, 'latin1').toString('base64');
  if (region === null) return `${latin(text)}:-:`;
  return `${latin(before)}:${createHash('sha256').update(region, 'latin1').digest('hex')}:${latin(after)}`;
}

/** docker as the model's node sees it: facts, the node list (every modelled node), demote, leave, force-new-cluster. */
function swarmAnswer(robots: Map<string, SimRobot>, robot: string, c: Command, ips: ReadonlyMap<string, string>): ExecResult {
  const sim = robots.get(robot) as SimRobot;
  const node = sim.node;
  if (c.name === 'facts') {
    const swarm = node
      ? {
          NodeID: node.id,
          LocalNodeState: 'active',
          ControlAvailable: node.role === 'manager',
          Cluster: node.role === 'manager' ? { ID: 'c1' } : null,
        }
      : { LocalNodeState: 'inactive', NodeID: '', ControlAvailable: false };
    return ok(`arch=x86_64\ncpus=2\nmemkb=8000000\nhostname=${robot}\nengine=e-${robot}\nswarm=${JSON.stringify(swarm)}\n`);
  }
  if (c.name === 'node-ls') return ok(inspectNodes(robots, ips));
  if (c.name === 'docker') {
    if (c.args[0] === 'swarm' && c.args[1] === 'leave') delete sim.node;
    return ok();
  }
  throw new Error(`no answer modelled for ${c.name}`);
}

/** Every modelled node as `docker node inspect` prints it, one JSON a line. */
function inspectNodes(robots: Map<string, SimRobot>, ips: ReadonlyMap<string, string>): string {
  return [...robots]
    .filter(([, r]) => r.node)
    .map(([name, r]) => {
      const n = r.node as NonNullable<SimRobot['node']>;
      const ip = ips.get(name) ?? '';
      const manager = n.role === 'manager' ? { Leader: Boolean(n.leader), Reachability: 'reachable', Addr: `${ip}:2377` } : null;
      return JSON.stringify({
        ID: n.id,
        Spec: { Role: n.role, Availability: 'active', Labels: {} },
        Description: { Hostname: name },
        Status: { State: 'ready', Addr: ip },
        ManagerStatus: manager,
      });
    })
    .join('\n');
}
