// `provision reset`: undo `provision swarm` (and with --keys, `provision keys`) on every reachable
// robot. Managers are demoted first so quorum holds while the others leave; the leader leaves last.
import { leaveCommand, nodeRoleCommand, removeTokensCommand } from '../remote/docker.js';
import { fileBytes, gatherSshCommand, MANAGED_SSH_FILES, parseGatheredSsh } from '../remote/keysScript.js';
import { withManagedBlock } from '../remote/managedBlock.js';
import type { Fleet } from '../run/fleet.js';
import { fleetClusters, gatherMembers, inSwarm, listNodes, type Member } from './swarmState.js';

export async function runReset(fleet: Fleet, options: { keys: boolean }): Promise<void> {
  const dry = fleet.options.dryRun;
  const would = dry ? 'would ' : '';
  const members = await gatherMembers(fleet);
  const cluster = fleetClusters(fleet, members)[0];
  const nodes = cluster ? await listNodes(cluster[1][0] as Member) : [];
  const inFleet = (m: Member) => nodes.some((n) => n.id === m.facts.swarm?.NodeID);
  const leaving = members.filter((m) => inSwarm(m.facts) && (inFleet(m) || !cluster));
  for (const m of members.filter((x) => inSwarm(x.facts) && cluster && !inFleet(x)))
    fleet.note(m.robot.name, "in a different swarm than the fleet's: left untouched");

  const leaderNode = nodes.find((n) => n.leader);
  const leader = leaving.find((m) => m.facts.swarm?.NodeID === leaderNode?.id) ?? leaving.find((m) => m.facts.swarm?.ControlAvailable);
  const roleOf = (m: Member) => nodes.find((n) => n.id === m.facts.swarm?.NodeID)?.role;
  const leave = async (m: Member) => {
    if (!dry) await m.conn.run(leaveCommand(m.robot.sudo), 'docker swarm leave');
    fleet.changed(m.robot.name, `${would}${dry ? 'leave' : 'left'} the swarm`);
  };
  const guarded = (work: (m: Member) => Promise<void>) => async (m: Member) => {
    try {
      await work(m);
    } catch (err) {
      fleet.failed(m.robot.name, (err as Error).message);
    }
  };

  // Demote the other managers from the leader first, so no step leaves the swarm without quorum.
  if (leader) {
    for (const m of leaving.filter((x) => x !== leader && roleOf(x) === 'manager')) {
      await guarded(async () => {
        if (!dry) await leader.conn.run(nodeRoleCommand('demote', m.facts.swarm?.NodeID ?? '', leader.robot.sudo), 'docker node demote');
        fleet.changed(m.robot.name, `${would}${dry ? 'demote' : 'demoted'} to worker before leaving`);
      })(m);
    }
  }
  const leavePhase = fleet.phase(dry ? 'checking who leaves' : 'leaving the swarm', leaving.length);
  await Promise.all(leaving.filter((m) => m !== leader).map((m) => guarded(leave)(m).finally(() => leavePhase.advance())));
  if (leader) await guarded(leave)(leader).finally(() => leavePhase.advance());
  leavePhase.finish();

  await fleet.eachConnected(
    async (robot, conn) => {
      const out = await conn.run(removeTokensCommand(dry), 'removing ~/swarm_tokens');
      if (out.trim()) fleet.changed(robot.name, `${would}remove ~/swarm_tokens`);
      if (!options.keys) return;
      const gathered = parseGatheredSsh(await conn.run(gatherSshCommand(`${robot.user}@${robot.name}`, true), 'reading ~/.ssh'));
      for (const file of MANAGED_SSH_FILES) {
        const current = gathered.files[file];
        const without = withManagedBlock(current.content, [], 'bottom');
        if (current.mode === null || without === current.content) continue;
        if (!dry) await conn.writeFileAtomic(`.ssh/${file}`, fileBytes(without), parseInt(current.mode, 8));
        fleet.changed(robot.name, `${would}remove the provision block from ~/.ssh/${file}`);
      }
    },
    options.keys ? 'removing ~/swarm_tokens and the ~/.ssh blocks' : 'removing ~/swarm_tokens',
  );
}
