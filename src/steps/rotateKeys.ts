// `provision rotate --keys`: a new key pair per robot, generated there, in phases that never leave a
// login without a key the target trusts: the new pair beside the old (~/.ssh/id_ed25519.next), trusted
// everywhere, offered first; after a pause it becomes ~/.ssh/id_ed25519; after another, the old keys
// are withdrawn. ssh reads its key files at start and again when it signs, so a file changes only when
// no login can be using it. A failure before all trust the new keys stops the rotation for all (nothing
// switched yet); a later one leaves both keys trusted until a later run.
import { pause } from '../interrupt.js';
import { keyOf, ROBOT_KEY_FILE, type OperatorKeys, type RobotKeyFacts } from '../remote/sshFiles.js';
import { parseGatheredSsh, type GatheredSsh } from '../remote/keysScript.js';
import { adoptKeyCommand, dropNextKeyCommand, NEXT_KEY_FILE, newKeyCommand } from '../remote/retire.js';
import { ensureOperatorKey } from '../ssh/auth.js';
import type { Fleet } from '../run/fleet.js';
import { runPhases, type Phase } from '../run/phases.js';
import { liveRobots, onRobot } from '../run/reached.js';
import { keptDrift, meshRobots, rotateKeysOpening, verifyMesh, wantedSshFiles, writeSshFiles } from './keys.js';

/** Longer than a robot-to-robot login takes. */
const SETTLE_MS = 3000;

/** What a rotation knows, phase by phase. `done`: every phase that changes keys has run. */
interface RotateState {
  fleet: Fleet;
  operator: OperatorKeys;
  settle: () => Promise<unknown>;
  verify: boolean;
  gathered: Map<string, GatheredSsh>;
  newKeys: Map<string, string>;
  adopted: Set<string>;
  done: boolean;
  mesh?: object;
}

export async function runRotateKeys(fleet: Fleet, options: { settleMs?: number; verify?: boolean } = {}): Promise<{ json: object } | void> {
  const operator = ensureOperatorKey(false);
  const state: RotateState = {
    fleet,
    operator: { key: operator.key, label: operator.label },
    settle: () => pause(options.settleMs ?? SETTLE_MS),
    verify: options.verify !== false,
    gathered: new Map(),
    newKeys: new Map(),
    adopted: new Set(),
    done: false,
  };
  await runPhases(fleet, state, ROTATE_KEYS_PHASES);
  if (state.done) return { json: { rotated: [...state.adopted], ...(state.mesh ? { mesh: state.mesh } : {}) } };
}

const rotating = (s: RotateState) => liveRobots(s.fleet).filter((n) => s.gathered.has(n));

/** Each robot's keys as `stage` wants them trusted; robots not reached keep what they had. */
function keyFacts(s: RotateState, stage: 'both' | 'final'): RobotKeyFacts[] {
  return s.fleet.inventory.robots.map((robot) => {
    const r = s.fleet.reach.get(robot.name);
    const fresh = s.newKeys.get(robot.name) ?? null;
    const old = s.gathered.get(robot.name)?.publicKey ?? null;
    // Until a robot has switched, its old key stays trusted; after, only the new one.
    const previousKey = fresh && (stage === 'both' || !s.adopted.has(robot.name)) ? old : null;
    const hostKey = r?.ok && s.gathered.has(robot.name) ? r.hostKey : null;
    return { name: robot.name, ip: robot.ip, port: robot.port, user: robot.user, publicKey: fresh ?? old, previousKey, hostKey };
  });
}

/** A phase writing one managed file, merged over the keys as `stage` wants. */
function writing(title: string, file: 'authorized_keys' | 'config', stage: 'both' | 'final', identityFiles?: string[]): Phase<RotateState> {
  return {
    title,
    robots: rotating,
    each: onRobot(async (s, { robot, conn }) => {
      const g = s.gathered.get(robot.name)!;
      const wanted = wantedSshFiles(g, keyFacts(s, stage), s.operator, identityFiles, keptDrift(s.fleet, g));
      await writeSshFiles(s.fleet, robot, conn, g, { [file]: wanted[file] });
    }),
  };
}

/** The pause before a phase: logins started before the config last changed end first. */
const settleFirst = async (s: RotateState): Promise<void> => void (await s.settle());

/** A dry run reads, says what it would do and stops. */
export const ROTATE_KEYS_PHASES: readonly Phase<RotateState>[] = [
  {
    title: 'reading ~/.ssh',
    robots: (s) => liveRobots(s.fleet),
    each: onRobot(async (s, { robot, conn }) => {
      const out = await s.fleet.firstRead(robot, conn, rotateKeysOpening(s.fleet)(robot), 'reading ~/.ssh');
      s.gathered.set(robot.name, parseGatheredSsh(out));
    }),
  },
  {
    title: 'generating new key pairs',
    robots: rotating,
    each: onRobot(async (s, { robot, conn }) => {
      const key = keyOf(await conn.run(newKeyCommand(`${robot.user}@${robot.name}`), 'generating the new key pair'));
      if (!key) throw new Error('ssh-keygen wrote no new public key');
      s.newKeys.set(robot.name, key);
      s.fleet.changed(robot.name, `generated a new key pair (~/${NEXT_KEY_FILE})`);
    }),
    dryRun: (s) => {
      for (const name of rotating(s)) s.fleet.changed(name, WOULD_ROTATE);
      return 'stop';
    },
  },
  writing('trusting the new keys', 'authorized_keys', 'both'),
  { title: 'checking every robot trusts the new keys', run: async (s) => (allTrust(s) ? undefined : 'stop'), dryRun: 'skip' },
  writing('offering the new keys first', 'config', 'both', [NEXT_KEY_FILE, ROBOT_KEY_FILE]),
  {
    title: 'switching to the new keys',
    robots: rotating,
    run: settleFirst,
    each: onRobot(async (s, { robot, conn }) => {
      await conn.run(adoptKeyCommand(), 'switching to the new key');
      s.adopted.add(robot.name);
      s.fleet.changed(robot.name, `switched to its new key (~/${ROBOT_KEY_FILE})`);
    }),
  },
  writing('offering the robot key only', 'config', 'final'),
  { ...writing('withdrawing the old keys', 'authorized_keys', 'final'), run: settleFirst },
  {
    title: 'removing the rotated key files',
    robots: (s) => rotating(s).filter((n) => s.adopted.has(n)),
    each: onRobot(async (_s, { conn }) => void (await conn.run(dropNextKeyCommand(), 'removing the rotated key files'))),
  },
  { title: 'noting unfinished rotations', run: noteUnfinished, dryRun: 'skip' },
  {
    title: 'checking the SSH mesh',
    robots: (s) => (s.verify ? meshRobots(s.fleet, rotating(s)) : []),
    run: async (s, progress) => void (s.mesh = await verifyMesh(s.fleet, meshRobots(s.fleet, rotating(s)), progress)),
  },
];

const WOULD_ROTATE =
  'would generate a new key pair on the robot, have every robot trust it next to the old one, switch to it, then withdraw the old key everywhere';

/** Robots read that could not be given the new keys stop the rotation for all (nothing switched yet). */
function allTrust(s: RotateState): boolean {
  const notReady = [...s.gathered.keys()].filter((n) => !rotating(s).includes(n));
  for (const name of notReady.length ? rotating(s) : [])
    s.fleet.note(
      name,
      `not switched to its new key: ${notReady.join(', ')} could not be given the new keys (every robot trusts its old and new keys until a later rotate)`,
    );
  return !notReady.length;
}

async function noteUnfinished(s: RotateState): Promise<void> {
  for (const name of [...s.gathered.keys()].filter((n) => s.newKeys.has(n) && !s.adopted.has(n)))
    s.fleet.note(name, 'its old and new keys both stay trusted until a later provision rotate --keys completes it');
  s.done = true;
}
