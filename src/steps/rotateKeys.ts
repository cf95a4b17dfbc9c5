// `provision rotate --keys`: a new key pair on every reachable robot, generated there, in phases
// that never leave a robot-to-robot login without a key the target trusts:
//   1. a new pair beside the old one (~/.ssh/id_ed25519.next) on every robot;
//   2. every robot trusts the old and the new keys of all;
//   3. every robot's managed ~/.ssh/config offers the new key first (the old stays second);
//   4. (a pause: logins started before 3 end) the new pair becomes ~/.ssh/id_ed25519;
//   5. the config names ~/.ssh/id_ed25519 only again;
//   6. (a pause: logins started before 5 end) the old keys are withdrawn, the .next files removed;
//   7. the mesh check (keys.ts) shows that every robot logs in to another with its new key.
// ssh reads its key files when it starts and again when it signs, so a file is changed only when no
// login can be using it. A robot that fails before every robot trusts the new keys stops the rotation
// for all (nothing switched yet); a robot that fails later keeps both keys trusted until a later run.
import { setTimeout as sleep } from 'node:timers/promises';
import { keyOf, ROBOT_KEY_FILE, type OperatorKeys, type RobotKeyFacts } from '../remote/sshFiles.js';
import { parseGatheredSsh, type GatheredSsh } from '../remote/keysScript.js';
import { adoptKeyCommand, dropNextKeyCommand, NEXT_KEY_FILE, newKeyCommand } from '../remote/retire.js';
import { ensureOperatorKey } from '../ssh/auth.js';
import type { Fleet } from '../run/fleet.js';
import { keptDrift, keysFirstCommand, meshRobots, verifyMesh, wantedSshFiles, writeSshFiles } from './keys.js';

/** Longer than a robot-to-robot login takes: ssh may read a key file at its start and again when it signs. */
export const SETTLE_MS = 3000;

export async function runRotateKeys(fleet: Fleet, options: { settleMs?: number; verify?: boolean } = {}): Promise<{ json: object } | void> {
  const settle = () => sleep(options.settleMs ?? SETTLE_MS);
  const dry = fleet.options.dryRun;
  const operator = ensureOperatorKey(false);
  const operatorKeys: OperatorKeys = { key: operator.key, label: operator.label };

  const gathered = new Map<string, GatheredSsh>();
  await fleet.eachConnected(async (robot, conn) => {
    gathered.set(robot.name, parseGatheredSsh(await fleet.firstRead(robot, conn, keysFirstCommand(robot, dry), 'reading ~/.ssh')));
  });
  if (dry) {
    for (const name of gathered.keys())
      fleet.changed(
        name,
        'would generate a new key pair on the robot, have every robot trust it next to the old one, switch to it, then withdraw the old key everywhere',
      );
    return;
  }

  const oldKeys = new Map([...gathered].map(([name, g]) => [name, g.publicKey]));
  const newKeys = new Map<string, string>();
  const adopted = new Set<string>();
  /** Each robot's keys as the phase wants them trusted; robots not reached keep what they had. */
  const facts = (phase: 'both' | 'final'): RobotKeyFacts[] =>
    fleet.inventory.robots.map((robot) => {
      const r = fleet.reach.get(robot.name);
      const reached = r?.ok && gathered.has(robot.name);
      const fresh = newKeys.get(robot.name) ?? null;
      const old = oldKeys.get(robot.name) ?? null;
      // Until a robot has switched, its old key stays trusted; after, only the new one.
      const publicKey = fresh ?? old;
      const previousKey = fresh && (phase === 'both' || !adopted.has(robot.name)) ? old : null;
      return {
        name: robot.name,
        ip: robot.ip,
        port: robot.port,
        user: robot.user,
        publicKey,
        previousKey,
        hostKey: reached && r?.ok ? r.hostKey : null,
      };
    });
  const eachGathered = (work: (g: GatheredSsh, ...rest: Parameters<Parameters<Fleet['eachConnected']>[0]>) => Promise<void>) =>
    fleet.eachConnected(async (robot, conn, hostKey) => {
      const g = gathered.get(robot.name);
      if (g) await work(g, robot, conn, hostKey);
    });
  const rotating = () => [...gathered.keys()].filter((n) => fleet.outcomes.get(n)?.status !== 'failed');

  // 1. New pairs, generated on the robots.
  await eachGathered(async (_g, robot, conn) => {
    const key = keyOf(await conn.run(newKeyCommand(`${robot.user}@${robot.name}`), 'generating the new key pair'));
    if (!key) throw new Error('ssh-keygen wrote no new public key');
    newKeys.set(robot.name, key);
    fleet.changed(robot.name, `generated a new key pair (~/${NEXT_KEY_FILE})`);
  });
  // 2. Trusted everywhere next to the old ones.
  await eachGathered((g, robot, conn) =>
    writeSshFiles(fleet, robot, conn, g, {
      authorized_keys: wantedSshFiles(g, facts('both'), operatorKeys, undefined, keptDrift(fleet, g)).authorized_keys,
    }),
  );
  const notReady = [...gathered.keys()].filter((n) => !rotating().includes(n));
  if (notReady.length) {
    for (const name of rotating())
      fleet.note(
        name,
        `not switched to its new key: ${notReady.join(', ')} could not be given the new keys (every robot trusts its old and new keys until a later rotate)`,
      );
    return;
  }
  // 3. The new key offered first; 4. then it becomes the robot's key.
  await eachGathered((g, robot, conn) =>
    writeSshFiles(fleet, robot, conn, g, {
      config: wantedSshFiles(g, facts('both'), operatorKeys, [NEXT_KEY_FILE, ROBOT_KEY_FILE], keptDrift(fleet, g)).config,
    }),
  );
  await settle();
  await eachGathered(async (_g, robot, conn) => {
    await conn.run(adoptKeyCommand(), 'switching to the new key');
    adopted.add(robot.name);
    fleet.changed(robot.name, `switched to its new key (~/${ROBOT_KEY_FILE})`);
  });
  // 5. The config as provision keys writes it; 6. the old keys withdrawn, the .next files removed.
  await eachGathered((g, robot, conn) =>
    writeSshFiles(fleet, robot, conn, g, {
      config: wantedSshFiles(g, facts('final'), operatorKeys, undefined, keptDrift(fleet, g)).config,
    }),
  );
  await settle();
  await eachGathered(async (g, robot, conn) => {
    await writeSshFiles(fleet, robot, conn, g, {
      authorized_keys: wantedSshFiles(g, facts('final'), operatorKeys, undefined, keptDrift(fleet, g)).authorized_keys,
    });
    if (adopted.has(robot.name)) await conn.run(dropNextKeyCommand(), 'removing the rotated key files');
  });
  for (const name of [...gathered.keys()].filter((n) => newKeys.has(n) && !adopted.has(n))) {
    fleet.note(name, 'its old and new keys both stay trusted until a later provision rotate --keys completes it');
  }
  const mesh = options.verify === false ? undefined : await verifyMesh(fleet, meshRobots(fleet, rotating()));
  return { json: { rotated: [...adopted], ...(mesh ? { mesh } : {}) } };
}
