// `provision keys`: step 1 of the brief. Phase 1 gathers every robot's key (generated on the robot
// when missing) and the files to merge; phase 2 writes the merged files where they differ.
import { gatherSshCommand, MANAGED_SSH_FILES, parseGatheredSsh, type GatheredSsh, type ManagedSshFile } from '../remote/keysScript.js';
import { mergeAuthorizedKeys, mergeKnownHosts, mergeSshConfig, type RobotKeyFacts } from '../remote/sshFiles.js';
import { ensureOperatorKey } from '../ssh/auth.js';
import type { Fleet } from './fleet.js';
import type { Robot } from '../inventory/schema.js';

const FILE_MODE = 0o600;

function lineDelta(before: string, after: string): string {
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  const added = [...b].filter((l) => l && !a.has(l)).length;
  const removed = [...a].filter((l) => l && !b.has(l)).length;
  return [added ? `+${added}` : '', removed ? `-${removed}` : ''].filter(Boolean).join(' ') || 'mode';
}

/** The step's first command on a robot (run together with the run lock, see Fleet.lock). */
export const keysFirstCommand = (robot: Robot, dryRun = false): string => gatherSshCommand(`${robot.user}@${robot.name}`, dryRun);

export async function runKeys(fleet: Fleet): Promise<void> {
  const dry = fleet.options.dryRun;
  const operator = ensureOperatorKey(!dry);
  if (operator.generated && !dry) fleet.notes.push(`the operator had no SSH key: generated ${operator.generated}`);
  if (operator.generated && dry) fleet.notes.push(`would generate an operator key ${operator.generated}`);
  const operatorKey = operator.key || 'ssh-ed25519 (operator-key-to-generate)';

  const gathered = new Map<string, GatheredSsh>();
  await fleet.eachConnected(async (robot, conn) => {
    const out = await fleet.firstRead(robot, conn, keysFirstCommand(robot, dry), 'preparing ~/.ssh');
    const g = parseGatheredSsh(out);
    gathered.set(robot.name, g);
    const words: Record<string, string> = { mkdir: 'created ~/.ssh', chmod: 'set ~/.ssh to 700', keygen: 'generated an ed25519 key pair', pubkey: 'restored ~/.ssh/id_ed25519.pub' };
    for (const a of g.actions) fleet.changed(robot.name, (dry ? 'would have ' : '') + (words[a] ?? a));
  });

  const facts: RobotKeyFacts[] = fleet.inventory.robots.map((robot) => {
    const r = fleet.reach.get(robot.name);
    const g = gathered.get(robot.name);
    const publicKey = g?.publicKey ?? (g && dry ? `ssh-ed25519 (key-to-generate-on-${robot.name})` : null);
    return { name: robot.name, ip: robot.ip, port: robot.port, user: robot.user, publicKey, hostKey: r?.ok && g ? r.hostKey : null };
  });

  await fleet.eachConnected(async (robot, conn) => {
    const g = gathered.get(robot.name);
    if (!g) return;
    const wanted: Record<ManagedSshFile, string> = {
      authorized_keys: mergeAuthorizedKeys(g.files.authorized_keys.content, facts, { key: operatorKey, label: operator.label }),
      known_hosts: mergeKnownHosts(g.files.known_hosts.content, facts),
      config: mergeSshConfig(g.files.config.content, facts),
    };
    await Promise.all(
      MANAGED_SSH_FILES.map(async (file) => {
        const current = g.files[file];
        if (current.content === wanted[file] && current.mode === FILE_MODE.toString(8)) return;
        const delta = lineDelta(current.content, wanted[file]);
        // Claimed only once done: a write that failed (full or read-only disk) fails the robot instead.
        if (!dry) await conn.writeFileAtomic(`.ssh/${file}`, wanted[file], FILE_MODE);
        fleet.changed(robot.name, `${dry ? 'would update' : 'updated'} ~/.ssh/${file} (${delta})`);
      }),
    );
  });
}
