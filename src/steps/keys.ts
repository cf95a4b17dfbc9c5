// `provision keys` (keysPhases): gather every robot's key (generated there when missing), its files and
// what sshd's StrictModes looks at; merge; write what differs; fail what StrictModes refuses (with the
// fix); last, the mesh check (robots log in to each other by name) shows the effect.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  fileBytes,
  gatherSshCommand,
  MANAGED_SSH_FILES,
  meshProbeCommand,
  parseGatheredParts,
  parseGatheredSsh,
  probeFailureReason,
  type GatheredParts,
  type GatheredSsh,
  type ManagedSshFile,
  type SshFileParts,
} from '../remote/keysScript.js';
import {
  authorizedKeysBlock,
  BLOCK_POSITION,
  keyOf,
  keysOutside,
  knownHostsBlock,
  mergeAuthorizedKeys,
  mergeKnownHosts,
  mergeSshConfig,
  sshConfigBlock,
  type OperatorKeys,
  type RobotKeyFacts,
} from '../remote/sshFiles.js';
import { managedAround, renderBlock, splitManagedBlock, splitRaw } from '../remote/managedBlock.js';
import { blockDriftText, strangerBlockLines, strangerLines, strangerNames, strangersInBlock } from '../plan/drift.js';
import { fileNeedsFix, judgeStrictModes, type StrictModesVerdict } from '../plan/strictModes.js';
import { followUpPlan, meshVerdict, ringPlan, type Edge, type Probe } from '../plan/mesh.js';
import { ensureOperatorKey } from '../ssh/auth.js';
import { redact } from '../log.js';
import { mapLimit } from '../ssh/pool.js';
import type { Fleet } from '../run/fleet.js';
import { RemoteCommandError, type ExecResult, type RobotConnection } from '../ssh/connection.js';
import { WRITTEN, parseWritten, writeFilesCommand, writeFilesStream } from '../remote/files.js';
import { unexpectedAnswer } from '../remote/answer.js';
import { batch, splitBatch, type RemoteCommand } from '../remote/shell.js';
import type { Robot } from '../inventory/schema.js';
import { runPhases, type Phase } from '../run/phases.js';
import { liveRobots, onRobot, type Reached } from '../run/reached.js';
import type { Phase as Progress } from '../progress.js';
import { Interrupted, throwIfInterrupted } from '../interrupt.js';

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

/** In parts: each robot's blocks come as their sha256 (a line per robot in each: N² bytes a fleet otherwise). */
export const keysOpening =
  (fleet: Pick<Fleet, 'inLimit' | 'options'>) =>
  (robot: Robot): RemoteCommand =>
    gatherSshCommand(`${robot.user}@${robot.name}`, fleet.options.dryRun || !fleet.inLimit(robot.name), true);

/** `rotate --keys`' first read: the files whole (its merges are per robot, as `remove` and `reset` read them). */
export const rotateKeysOpening =
  (fleet: Pick<Fleet, 'options'>) =>
  (robot: Robot): RemoteCommand =>
    keysFirstCommand(robot, fleet.options.dryRun);

/** What `provision keys` learns, phase by phase (none re-reads what another knows). */
interface KeysState {
  fleet: Fleet;
  verify: boolean;
  operator: OperatorKeys;
  /** ~/.ssh as read; not where it is another user's (nothing can be written there). */
  gathered: Map<string, GatheredParts>;
  refusals: Map<string, StrictModesVerdict['refused']>;
  /** The drift in its blocks and, inside --limit, the files to write. */
  planned: Map<string, { strangers: string[]; writes?: SshWrite[] }>;
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
  const g = parseGatheredParts(await fleet.firstRead(robot, conn, keysOpening(fleet)(robot), 'preparing ~/.ssh'));
  if (!fleet.inLimit(name)) return void s.gathered.set(name, g); // read only: its key (if any) for the named robots' files
  for (const a of g.actions) fleet.changed(name, (fleet.options.dryRun ? 'would have ' : '') + (ACTION_WORDS[a] ?? a));
  const verdict = judgeStrictModes(g.strict, robot.user);
  if (verdict.refused.length) s.refusals.set(name, verdict.refused);
  if (!verdict.sshDirForeign) s.gathered.set(name, g);
}

/** Each robot read: its blocks' drift and, inside --limit, the files that differ from the merge. */
async function planSsh(s: KeysState): Promise<void> {
  const { fleet } = s;
  const facts: RobotKeyFacts[] = fleet.inventory.robots.map((robot) => {
    const r = fleet.reach.get(robot.name);
    const g = s.gathered.get(robot.name);
    const publicKey = g?.publicKey ?? (g && fleet.options.dryRun ? `ssh-ed25519 (key-to-generate-on-${robot.name})` : null);
    return { name: robot.name, ip: robot.ip, port: robot.port, user: robot.user, publicKey, hostKey: r?.ok && g ? r.hostKey : null };
  });
  const blocks = new FleetBlocks(fleet, facts, s.operator);
  await fetchUnknownBlocks(s, blocks);
  for (const [name, g] of s.gathered) {
    const strangers = [...new Set(MANAGED_SSH_FILES.flatMap((f) => blocks.strangers(f, g.files[f].block).names))];
    s.planned.set(name, { strangers, writes: fleet.inLimit(name) ? blocks.writes(g) : undefined });
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'latin1').digest('hex');

/** A block as it is or will be: its lines (CR dropped) and its bytes, markers included. */
interface Block {
  lines: readonly string[];
  raw: string;
}

/** A block to write: rendered once for every robot that gets it, its bytes one Buffer. */
interface Rendered extends Block {
  sha: string | null; // null: no block
  bytes: Buffer;
  /** Lines of the file it adds and removes, before the robot's own lines are counted out (lineDelta). */
  added: string[];
  removed: string[];
}

/**
 * The fleet's blocks, by sha256: every robot's blocks are the same but for --limit, drift, unreached
 * robots, another operator's keys. Each is known once (rendered here, or read from one robot holding it)
 * and each merge computed once for all the robots whose block and own keys are the same.
 */
class FleetBlocks {
  private known = new Map<string, Block>();
  private rendered = new Map<string, Rendered>();
  private strangerCache = new Map<string, { lines: string[]; names: string[] }>();
  private candidateKeys = new Map<string, Set<string>>();
  private knownNames: Set<string>;

  constructor(
    private fleet: Fleet,
    private facts: readonly RobotKeyFacts[],
    private operator: OperatorKeys,
  ) {
    this.knownNames = new Set(knownRobots(fleet));
    // What a re-run finds on most robots: the blocks of these facts, nothing else kept.
    for (const file of MANAGED_SSH_FILES) this.learn(renderBlock(this.merge(file, null, new Set(), [])));
  }

  /** A block's bytes as read from a robot (or rendered); false if it is no block. */
  learn(raw: string): boolean {
    const block = splitManagedBlock(raw).block;
    if (block === null || !raw) return false;
    this.known.set(sha256(raw), { lines: block, raw });
    return true;
  }

  has(sha: string) {
    return this.known.has(sha);
  }

  private block(sha: string | null): Block | null {
    if (sha === null) return null;
    const block = this.known.get(sha);
    if (!block) throw new Error(`a block of ~/.ssh that was not read (sha256 ${sha})`);
    return block;
  }

  private merge(file: ManagedSshFile, previous: readonly string[] | null, userKeys: ReadonlySet<string>, keep: string[]): string[] {
    if (file === 'authorized_keys') return authorizedKeysBlock(previous, userKeys, this.facts, this.operator, keep);
    if (file === 'known_hosts') return knownHostsBlock(previous, this.facts, keep);
    return sshConfigBlock(this.facts, undefined, keep);
  }

  /** The lines of a block about robots not in the inventory, and their names. */
  strangers(file: ManagedSshFile, sha: string | null): { lines: string[]; names: string[] } {
    const key = `${file} ${sha}`;
    let found = this.strangerCache.get(key);
    if (!found) {
      const lines = strangerBlockLines(file, this.block(sha)?.lines ?? [], this.knownNames);
      this.strangerCache.set(key, (found = { lines, names: strangerNames(file, lines) }));
    }
    return found;
  }

  /** Keys a merge onto this block may add: a user's own line with one of them changes the merge (it is not repeated). */
  private candidates(sha: string | null): Set<string> {
    const key = sha ?? '-';
    let keys = this.candidateKeys.get(key);
    if (!keys) {
      const lines = [...this.merge('authorized_keys', null, new Set(), []), ...(this.block(sha)?.lines ?? [])];
      this.candidateKeys.set(key, (keys = new Set(lines.map(keyOf).filter((k) => k !== null))));
    }
    return keys;
  }

  private next(file: ManagedSshFile, f: SshFileParts): Rendered {
    let userKeys = new Set<string>();
    if (file === 'authorized_keys') {
      const candidates = this.candidates(f.block);
      userKeys = new Set([...keysOutside(f.before, f.after)].filter((k) => candidates.has(k)));
    }
    const key = `${file} ${f.block} ${[...userKeys].sort().join(' ')}`;
    let r = this.rendered.get(key);
    if (!r) {
      const previous = this.block(f.block);
      const keep = this.fleet.options.prune ? [] : this.strangers(file, f.block).lines;
      const lines = this.merge(file, previous?.lines ?? null, userKeys, keep);
      const raw = renderBlock(lines);
      const was = new Set((previous?.raw ?? '').split('\n'));
      const now = new Set(raw.split('\n'));
      r = {
        lines,
        raw,
        sha: raw ? sha256(raw) : null,
        bytes: Buffer.from(raw, 'latin1'),
        added: [...now].filter((l) => l && !was.has(l)),
        removed: [...was].filter((l) => l && !now.has(l)),
      };
      this.rendered.set(key, r);
    }
    return r;
  }

  /** The robot's files that differ from the merge (or whose mode or owner sshd refuses). */
  writes(g: GatheredParts): SshWrite[] {
    return MANAGED_SSH_FILES.flatMap((file) => {
      const f = g.files[file];
      const r = this.next(file, f);
      const fix = fileNeedsFix(g.strict.perms[file], g.strict.uid);
      const same = r.sha === f.block;
      if (same && !fix) return [];
      const { head, withBlock, tail } = managedAround({ ...f, hasBlock: f.block !== null }, !r.raw, BLOCK_POSITION[file]);
      // The delta as the whole files' lines count it: a line the user has too is neither added nor removed.
      const own = new Set((f.before + '\n' + f.after).split('\n'));
      const added = r.added.filter((l) => !own.has(l)).length;
      const removed = r.removed.filter((l) => !own.has(l)).length;
      const what = same ? (fix as string) : [added ? `+${added}` : '', removed ? `-${removed}` : ''].filter(Boolean).join(' ') || 'mode';
      const pieces = [Buffer.from(head, 'latin1'), ...(withBlock ? [r.bytes] : []), Buffer.from(tail, 'latin1')];
      const written: SshFileParts = { mode: '600', before: head, block: withBlock ? r.sha : null, after: tail };
      return [{ file, pieces, what, done: () => void (g.files[file] = written) }];
    });
  }
}

/**
 * Blocks no merge here produced (an older fleet, drift, another operator's keys) are read whole, once
 * each, from one robot holding them: a re-run of an unchanged fleet reads none.
 */
async function fetchUnknownBlocks(s: KeysState, blocks: FleetBlocks): Promise<void> {
  const holders = new Map<string, string[]>();
  for (const [name, g] of s.gathered)
    for (const f of MANAGED_SSH_FILES) {
      const sha = g.files[f].block;
      if (sha && !blocks.has(sha)) holders.set(sha, [...(holders.get(sha) ?? []), name]);
    }
  // One robot at a time per block: the first that answers teaches the others.
  await Promise.all(
    [...holders].map(async ([sha, names]) => {
      for (const name of names) {
        const r = s.fleet.reach.get(name);
        const robot = s.fleet.inventory.robots.find((x) => x.name === name);
        if (blocks.has(sha) || !s.gathered.has(name) || !r?.ok || !robot) continue;
        try {
          const whole = await readSsh(robot, r.conn);
          for (const f of MANAGED_SSH_FILES) blocks.learn(splitRaw(whole.files[f].content).region ?? '');
          if (!blocks.has(sha)) throw new Error('reading ~/.ssh: a file changed while it was read; run again');
        } catch (err) {
          if (err instanceof Interrupted) throw err; // Ctrl-C: the run stops, no robot is failed as unreadable
          s.fleet.failed(name, (err as Error).message);
          s.gathered.delete(name);
        }
      }
      if (blocks.has(sha)) return;
      // None could be read (each failed above, or not reached): a merge without the block would lose its lines.
      for (const name of names.filter((n) => s.gathered.delete(n)))
        s.fleet.failed(name, 'reading ~/.ssh: its provision block could not be read whole from any robot holding it');
    }),
  );
}

async function writePlanned(s: KeysState, { robot, conn }: Reached): Promise<void> {
  const { strangers, writes } = s.planned.get(robot.name)!;
  const { prune, dryRun } = s.fleet.options;
  if (strangers.length) s.fleet.note(robot.name, blockDriftText(strangers, Boolean(prune) && s.fleet.inLimit(robot.name), dryRun));
  if (writes) await sendSshWrites(s.fleet, robot, conn, writes, s.gathered.get(robot.name)!, s.rideOnWrite?.(robot));
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

/** A file to write: its bytes in pieces (a fleet block shared, not copied), what the report says, what the robot then holds. */
interface SshWrite {
  file: ManagedSshFile;
  pieces: readonly Buffer[];
  what: string;
  done: () => void;
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
  const writes = MANAGED_SSH_FILES.flatMap((file): SshWrite[] => {
    const want = wanted[file];
    if (want === undefined) return [];
    const current = g.files[file];
    // Right content is not enough: sshd ignores an authorized_keys with a loose mode or another owner.
    const fix = fileNeedsFix(g.strict.perms[file], g.strict.uid);
    if (current.content === want && !fix) return [];
    const what = current.content === want ? (fix as string) : lineDelta(current.content, want);
    return [{ file, pieces: [fileBytes(want)], what, done: () => void (g.files[file] = { content: want, mode: '600' }) }];
  });
  await sendSshWrites(fleet, robot, conn, writes, g, ride);
}

/** The writes in one remote call, each claimed only once the robot says it is in place. */
async function sendSshWrites(
  fleet: Fleet,
  robot: Robot,
  conn: RobotConnection,
  writes: readonly SshWrite[],
  g: Pick<GatheredSsh, 'strict'>,
  ride?: string,
): Promise<void> {
  if (!writes.length) return;
  const dry = fleet.options.dryRun;
  const files = writes.map(({ file, pieces }) => ({ path: `.ssh/${file}`, mode: FILE_MODE, content: pieces }));
  const result = dry ? null : await writeRiding(fleet, robot, conn, writeFilesCommand(files), () => writeFilesStream(files), ride);
  const written = result ? parseWritten(result.stdout) : new Set<string>();
  // Claimed only once done: a write that failed (full or read-only disk) fails the robot instead.
  for (const { file, what, done } of writes) {
    if (!dry && !written.has(`.ssh/${file}`)) continue;
    if (!dry) {
      done();
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
async function writeRiding(fleet: Fleet, robot: Robot, conn: RobotConnection, write: string, payload: () => Readable, ride?: string) {
  if (ride === undefined) return conn.exec(write, { stdin: payload() });
  const call = batch([write, ride]);
  const [written, read] = splitBatch(await conn.exec(call, { stdin: payload() }), call.parts) as [ExecResult, ExecResult];
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
