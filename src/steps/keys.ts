// `provision keys` (keysPhases): gather every robot's key (generated there when missing), its files and
// what sshd's StrictModes looks at; merge; write what differs; fail what StrictModes refuses (with the
// fix); last, the mesh check (robots log in to each other by name) shows the effect.
import {
  fileBytes,
  gatherSshCommand,
  MANAGED_SSH_FILES,
  meshProbeCommand,
  parseGatheredSsh,
  probeFailureReason,
  type GatheredSsh,
  type ManagedSshFile,
} from '../remote/keysScript.js';
import { mergeAuthorizedKeys, mergeKnownHosts, mergeSshConfig, type OperatorKeys, type RobotKeyFacts } from '../remote/sshFiles.js';
import { blockDriftText, strangerLines, strangersInBlock } from '../plan/drift.js';
import { fileNeedsFix, judgeStrictModes, type StrictModesVerdict } from '../plan/strictModes.js';
import { followUpPlan, meshVerdict, ringPlan, type Edge, type Probe } from '../plan/mesh.js';
import { ensureOperatorKey } from '../ssh/auth.js';
import { redact } from '../log.js';
import { mapLimit } from '../ssh/pool.js';
import type { Fleet } from '../run/fleet.js';
import { RemoteCommandError, type ExecResult, type RobotConnection } from '../ssh/connection.js';
import { WRITTEN, parseWritten, writeFilesCommand, writeFilesPayload } from '../remote/files.js';
import { unexpectedAnswer } from '../remote/answer.js';
import { batch, splitBatch, type RemoteCommand } from '../remote/shell.js';
import type { Robot } from '../inventory/schema.js';
import { runPhases, type Phase } from '../run/phases.js';
import { liveRobots, onRobot, type Reached } from '../run/reached.js';
import type { Phase as Progress } from '../progress.js';
import { throwIfInterrupted } from '../interrupt.js';

export interface KeysOptions {
  /** Check the mesh after writing (off with --no-verify). */
  verify: boolean;
  /** --operator-key, --revoke-operator-key. */
  operatorKeys?: Pick<OperatorKeys, 'others' | 'revoke'>;
  /**
   * The mesh check: 'now' (the default) as its last phase; 'last' too, each robot's run lock released in
   * the call of its probe (nothing follows it); 'later': not here, the caller checks the robots returned
   * in `meshed` (checkMeshLast) once its other work is done.
   */
  mesh?: 'now' | 'last' | 'later';
  /** A read to send with a robot's ~/.ssh write, if it has one (kept for Fleet.firstRead). */
  rideOnWrite?: (robot: Robot) => string | undefined;
}

const FILE_MODE = 0o600;

function lineDelta(before: string, after: string): string {
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  const added = [...b].filter((l) => l && !a.has(l)).length;
  const removed = [...a].filter((l) => l && !b.has(l)).length;
  return [added ? `+${added}` : '', removed ? `-${removed}` : ''].filter(Boolean).join(' ') || 'mode';
}

/** The step's first command (run with the lock); outside --limit it only reads, as in a dry run. */
export const keysFirstCommand = (robot: Robot, dryRun = false): RemoteCommand => gatherSshCommand(`${robot.user}@${robot.name}`, dryRun);
/** ~/.ssh, changing nothing. */
export async function readSsh(robot: Robot, conn: RobotConnection): Promise<GatheredSsh> {
  return parseGatheredSsh(await conn.run(keysFirstCommand(robot, true), 'reading ~/.ssh'));
}

/** The unknown robots a robot's managed blocks still trust. */
export const blockStrangers = (g: GatheredSsh, known: string[]) => [
  ...new Set(MANAGED_SSH_FILES.flatMap((f) => strangersInBlock(f, g.files[f].content, known))),
];

export const keysOpening =
  (fleet: Pick<Fleet, 'inLimit' | 'options'>) =>
  (robot: Robot): RemoteCommand =>
    keysFirstCommand(robot, fleet.options.dryRun || !fleet.inLimit(robot.name));

/** What `provision keys` learns, phase by phase (none re-reads what another knows). */
interface KeysState {
  fleet: Fleet;
  verify: boolean;
  operator: OperatorKeys;
  /** ~/.ssh as read; not where it is another user's (nothing can be written there). */
  gathered: Map<string, GatheredSsh>;
  refusals: Map<string, StrictModesVerdict['refused']>;
  /** The drift in its blocks and, inside --limit, the merged files. */
  planned: Map<string, { strangers: string[]; wanted?: Record<ManagedSshFile, string> }>;
  /** Taken before StrictModes fails any: the check shows what that costs. */
  meshed: string[];
  mesh?: object;
  meshWhen: 'now' | 'last' | 'later';
  rideOnWrite?: KeysOptions['rideOnWrite'];
}

export async function runKeys(fleet: Fleet, options: KeysOptions = { verify: true }): Promise<{ json: object; meshed?: string[] } | void> {
  const dry = fleet.options.dryRun;
  const operator = ensureOperatorKey(!dry);
  if (operator.generated)
    fleet.notes.push(
      dry ? `would generate an operator key ${operator.generated}` : `the operator had no SSH key: generated ${operator.generated}`,
    );
  const state: KeysState = {
    fleet,
    verify: options.verify,
    operator: { ...options.operatorKeys, key: operator.key || 'ssh-ed25519 (operator-key-to-generate)', label: operator.label },
    gathered: new Map(),
    refusals: new Map(),
    planned: new Map(),
    meshed: [],
    meshWhen: options.mesh ?? 'now',
    rideOnWrite: options.rideOnWrite,
  };
  await runPhases(fleet, state, keysPhases(dry));
  if (state.meshWhen === 'later') return { json: {}, meshed: state.meshed };
  return state.mesh ? { json: { mesh: state.mesh } } : undefined;
}

/** A dry run compares instead of writing, and checks no mesh. */
export function keysPhases(dryRun: boolean): Phase<KeysState>[] {
  return [
    { title: 'preparing ~/.ssh', robots: (s) => liveRobots(s.fleet), each: onRobot(gatherSsh) },
    { title: 'planning ~/.ssh', run: planSsh },
    {
      title: dryRun ? 'comparing ~/.ssh' : 'writing ~/.ssh',
      robots: (s) => liveRobots(s.fleet).filter((n) => s.planned.has(n)),
      each: onRobot(writePlanned),
    },
    { title: 'failing what StrictModes refuses', run: failStrictModes },
    {
      title: 'checking the SSH mesh',
      robots: (s) => (s.meshWhen === 'later' ? [] : s.meshed),
      run: async (s, p) => void (s.mesh = await verifyMesh(s.fleet, s.meshed, p, s.meshWhen === 'last')),
      dryRun: 'skip',
    },
  ];
}

const ACTION_WORDS: Record<string, string> = {
  mkdir: 'created ~/.ssh',
  chmod: 'set ~/.ssh to 700',
  keygen: 'generated an ed25519 key pair',
  pubkey: 'restored ~/.ssh/id_ed25519.pub',
};

/** Its key (generated when missing), files, and what StrictModes refuses (failed once its files are written). */
async function gatherSsh(s: KeysState, { robot, conn }: Reached): Promise<void> {
  const { fleet } = s;
  const name = robot.name;
  const g = parseGatheredSsh(await fleet.firstRead(robot, conn, keysOpening(fleet)(robot), 'preparing ~/.ssh'));
  if (!fleet.inLimit(name)) return void s.gathered.set(name, g); // read only: its key (if any) for the named robots' files
  for (const a of g.actions) fleet.changed(name, (fleet.options.dryRun ? 'would have ' : '') + (ACTION_WORDS[a] ?? a));
  const verdict = judgeStrictModes(g.strict, robot.user);
  if (verdict.refused.length) s.refusals.set(name, verdict.refused);
  if (!verdict.sshDirForeign) s.gathered.set(name, g);
}

/** Each robot read: its merged files and its blocks' drift. */
async function planSsh(s: KeysState): Promise<void> {
  const { fleet } = s;
  const facts: RobotKeyFacts[] = fleet.inventory.robots.map((robot) => {
    const r = fleet.reach.get(robot.name);
    const g = s.gathered.get(robot.name);
    const publicKey = g?.publicKey ?? (g && fleet.options.dryRun ? `ssh-ed25519 (key-to-generate-on-${robot.name})` : null);
    return { name: robot.name, ip: robot.ip, port: robot.port, user: robot.user, publicKey, hostKey: r?.ok && g ? r.hostKey : null };
  });
  for (const [name, g] of s.gathered) {
    const strangers = blockStrangers(g, knownRobots(fleet));
    const wanted = fleet.inLimit(name) ? wantedSshFiles(g, facts, s.operator, undefined, keptDrift(fleet, g)) : undefined;
    s.planned.set(name, { strangers, wanted });
  }
}

async function writePlanned(s: KeysState, { robot, conn }: Reached): Promise<void> {
  const { strangers, wanted } = s.planned.get(robot.name)!;
  const { prune, dryRun } = s.fleet.options;
  if (strangers.length) s.fleet.note(robot.name, blockDriftText(strangers, Boolean(prune) && s.fleet.inLimit(robot.name), dryRun));
  if (wanted) await writeSshFiles(s.fleet, robot, conn, s.gathered.get(robot.name)!, wanted, s.rideOnWrite?.(robot));
}

/** The mesh takes the robots StrictModes fails: the cause is reported first, its effect on the mesh after. */
async function failStrictModes(s: KeysState): Promise<void> {
  if (!s.fleet.options.dryRun && s.verify)
    s.meshed = meshRobots(
      s.fleet,
      [...s.gathered.keys()].filter((n) => s.fleet.inLimit(n)),
    );
  for (const [robot, refused] of s.refusals) for (const r of refused) s.fleet.failed(robot, `${r.reason}. Fix: ${r.fix}`);
}

/** Robots whose block lines are not drift: the inventory's, and those `provision remove` retired (their lines go: revocation). */
function knownRobots(fleet: Fleet): string[] {
  return [...fleet.inventory.robots.map((r) => r.name), ...fleet.inventory.retired];
}

/** Drift is kept (and reported) unless --prune. */
export function keptDrift(fleet: Fleet, g: GatheredSsh): (file: ManagedSshFile) => string[] {
  return (file) => (fleet.options.prune ? [] : strangerLines(file, g.files[file].content, knownRobots(fleet)));
}

/** The managed files a robot should hold; `keep`: per file, drift lines to keep. */
export function wantedSshFiles(
  g: GatheredSsh,
  facts: readonly RobotKeyFacts[],
  operator: OperatorKeys,
  identityFiles?: readonly string[],
  keep: (file: ManagedSshFile) => string[] = () => [],
): Record<ManagedSshFile, string> {
  return {
    authorized_keys: mergeAuthorizedKeys(g.files.authorized_keys.content, facts, operator, keep('authorized_keys')),
    known_hosts: mergeKnownHosts(g.files.known_hosts.content, facts, keep('known_hosts')),
    config: mergeSshConfig(g.files.config.content, facts, identityFiles, keep('config')),
  };
}

/**
 * Write the files that differ from `wanted` (or whose mode or owner sshd refuses), all in one remote call,
 * each atomically and reported on its own; `g` becomes what the robot holds. A file not written fails the robot.
 */
export async function writeSshFiles(
  fleet: Fleet,
  robot: Robot,
  conn: RobotConnection,
  g: GatheredSsh,
  wanted: Partial<Record<ManagedSshFile, string>>,
  ride?: string,
): Promise<void> {
  const dry = fleet.options.dryRun;
  const writes = MANAGED_SSH_FILES.flatMap((file) => {
    const want = wanted[file];
    if (want === undefined) return [];
    const current = g.files[file];
    // Right content is not enough: sshd ignores an authorized_keys with a loose mode or another owner.
    const fix = fileNeedsFix(g.strict.perms[file], g.strict.uid);
    if (current.content === want && !fix) return [];
    return [{ file, want, what: current.content === want ? fix : lineDelta(current.content, want) }];
  });
  if (!writes.length) return;
  const files = writes.map(({ file, want }) => ({ path: `.ssh/${file}`, mode: FILE_MODE, content: fileBytes(want) }));
  const result = dry ? null : await writeRiding(fleet, robot, conn, writeFilesCommand(files), writeFilesPayload(files), ride);
  const written = result ? parseWritten(result.stdout) : new Set<string>();
  // Claimed only once done: a write that failed (full or read-only disk) fails the robot instead.
  for (const { file, want, what } of writes) {
    if (!dry && !written.has(`.ssh/${file}`)) continue;
    if (!dry) {
      g.files[file] = { content: want, mode: '600' };
      g.strict.perms[file] = { mode: FILE_MODE, owner: g.strict.uid }; // as written: nothing left to fix
    }
    fleet.changed(robot.name, `${dry ? 'would update' : 'updated'} ~/.ssh/${file} (${what})`);
  }
  const failed = writes.filter(({ file }) => result && !written.has(`.ssh/${file}`)).map(({ file }) => `~/.ssh/${file}`);
  if (!result || !failed.length) return;
  const what = `writing ${failed.join(', ')}`;
  // Exit 0 without the answer: not write-file.sh's doing (a login shell's text, a cut stream).
  throw result.code === 0
    ? unexpectedAnswer(what, `"${WRITTEN} PATH" for each file`, result.stdout)
    : new RemoteCommandError(robot.name, what, result);
}

/** The write, and `ride` after it in the same call (its answer kept for Fleet.firstRead, whatever the write did). */
async function writeRiding(fleet: Fleet, robot: Robot, conn: RobotConnection, write: string, payload: Buffer, ride?: string) {
  if (ride === undefined) return conn.exec(write, { stdin: payload });
  const call = batch([write, ride]);
  const [written, read] = splitBatch(await conn.exec(call, { stdin: payload }), call.parts) as [ExecResult, ExecResult];
  if (read.code !== 255) fleet.keepAnswer(robot.name, ride, read); // not reached: the preflight reads it itself
  return written;
}

const PROBE_TIMEOUT_MS = 20_000; // ConnectTimeout=5 covers the TCP connect; this bounds a stalled login
const PROBES_AT_ONCE = 32;

/** Those of `robots` still in the run, if two or more (one has nothing to verify). */
export function meshRobots(fleet: Fleet, robots: readonly string[]): string[] {
  const names = liveRobots(fleet).filter((n) => robots.includes(n));
  return names.length < 2 ? [] : names;
}

/** runKeys' mesh: 'later' (see KeysOptions), as its last call on each robot: the run lock released with its probe. */
export async function checkMeshLast(fleet: Fleet, meshed: readonly string[]): Promise<{ json: object } | undefined> {
  throwIfInterrupted();
  const names = meshRobots(fleet, meshed); // those the work in between failed are not probed (unlock() releases them)
  if (!names.length) return undefined;
  const progress = fleet.phase('checking the SSH mesh', names.length);
  const mesh = await verifyMesh(fleet, names, progress, true).finally(() => progress.finish());
  return { json: { mesh } };
}

/**
 * The mesh check: each robot logs in to the next by name (a ring, in parallel); a failed login gets a
 * few more probes to pin the blame (plan/mesh.ts). Blamed robots fail; the rest is one summary note.
 * `release`: each robot's ring probe is its last call of the run, its run lock released in the same call
 * (after the probe, whatever it answered); the follow-ups, only logins, need no lock.
 */
export async function verifyMesh(fleet: Fleet, names: readonly string[], progress: Progress, release = false): Promise<object> {
  const ringEdges = ringPlan(names);
  const probe = async (edge: Edge): Promise<Probe> => {
    try {
      const r = fleet.reach.get(edge.from);
      if (!r?.ok) throw new Error('no connection to this robot');
      const command = meshProbeCommand(edge.to);
      const options = { timeoutMs: PROBE_TIMEOUT_MS };
      const result =
        release && ringEdges.includes(edge)
          ? await fleet.releaseWith(edge.from, r.conn, command, options)
          : await r.conn.exec(command, options);
      return { ...edge, ok: result.code === 0, reason: result.code === 0 ? '' : redact(probeFailureReason(result)) };
    } catch (err) {
      return { ...edge, ok: false, reason: redact((err as Error).message) };
    }
  };
  const counted = (edge: Edge) => probe(edge).finally(() => progress.advance());
  const ring = await mapLimit(ringEdges, PROBES_AT_ONCE, counted);
  const followUps = followUpPlan(names, ring);
  progress.grow(followUps.length);
  const probes = [...ring, ...(await mapLimit(followUps, PROBES_AT_ONCE, counted))];
  const verdict = meshVerdict(names, probes);
  for (const [robot, why] of verdict.blamed) fleet.failed(robot, `SSH mesh check: ${why}`);
  const unclear = names.filter((n) => !verdict.verified.includes(n) && !verdict.blamed.has(n));
  fleet.notes.push(
    verdict.verified.length === names.length
      ? `SSH mesh verified: each of the ${names.length} robots reached logs in to another by name and is logged in to (BatchMode, its own key, host key checked; ${probes.length} logins)`
      : `SSH mesh: ${verdict.verified.length} of ${names.length} robots verified${unclear.length ? `; not shown either way: ${unclear.join(', ')}` : ''} (${probes.length} logins)`,
  );
  return { robots: names.length, verified: verdict.verified, failed: Object.fromEntries(verdict.blamed), logins: probes.length };
}
