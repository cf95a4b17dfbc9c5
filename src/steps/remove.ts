// `provision remove NAME…`: the others' roles planned without them (promotions first); each one's node
// drained, demoted, left and removed; their keys revoked everywhere and their own blocks emptied; last,
// they leave the inventory file.
import { pollUntil } from '../run/retry.js';
import { nodeRemoveCommand, leaveCommand, nodeRoleCommand, removeTokensCommand, type NodeInfo } from '../remote/docker.js';
import { drainCommand, nodeTasksCommand, parseTaskCount } from '../remote/retire.js';
import { notDoneWhileGone, retirePlan, RETIRE_WORDS, type RetireInput } from '../plan/retire.js';
import { ensureOperatorKey, sshDir } from '../ssh/auth.js';
import { forgetHost, KnownHosts } from '../ssh/knownHosts.js';
import { removeRobotsFromFile } from '../inventory/removeRobots.js';
import { dirname } from 'node:path';
import { redact } from '../log.js';
import type { Robot } from '../inventory/schema.js';
import type { Fleet } from '../run/fleet.js';
import { readSsh, runKeys, wantedSshFiles, writeSshFiles } from './keys.js';
import { ManagerVia } from './managerVia.js';
import { runSwarm } from './swarm.js';
import { fleetClusters, gatherMembers, inSwarm, nodeOfRobot, withoutFalseClaims, type Member } from './swarmState.js';

/** How long a drained node's tasks get to move, and a demoted manager to leave the Raft group. */
const DRAIN_WAIT_MS = 60_000;
const DEMOTE_WAIT_MS = 60_000;
const POLL_MS = 1000;

export async function runRemove(fleet: Fleet, names: readonly string[]): Promise<{ json: object }> {
  const dry = fleet.options.dryRun;
  const leaving = fleet.inventory.robots.filter((r) => names.includes(r.name));
  const rest = fleet.without(names);

  // Facts of all first: a fleet without a swarm gets none (runSwarm would init one).
  const all = await gatherMembers(fleet);
  const own = new Map(all.filter((m) => names.includes(m.robot.name)).map((m) => [m.robot.name, m]));
  // 1. The others' roles without the leaving robots (promotions first).
  const swarm = all.some((m) => inSwarm(m.facts))
    ? await runSwarm(rest, { members: all.filter((m) => !names.includes(m.robot.name)) })
    : null;
  const planned = swarm?.plan?.managers.length;
  // 2. Their nodes.
  const removed = await retireNodes(fleet, rest, leaving, own, Boolean(swarm?.clusterId));
  // 3. Revocation over the robots that stay; the leaving ones' own blocks emptied.
  if (removed.length) {
    await runKeys(fleet.without(removed.map((r) => r.name)), { verify: false });
    await emptyOwnBlocks(fleet, removed);
    const knownHosts = new KnownHosts(dirname(sshDir()));
    for (const robot of removed) {
      // Every user file ssh reads for it (UserKnownHostsFile); the global ones are the machine's.
      for (const file of knownHosts.userFiles(robot.ssh)) {
        const n = forgetHost(file, robot.name, robot.ip, robot.port, dry);
        if (n)
          fleet.changed(
            robot.name,
            `${dry ? 'would remove' : 'removed'} its ${n} line${n === 1 ? '' : 's'} from the operator's ${knownHosts.shown(file)}`,
          );
      }
    }
    // 4. Last, the inventory: a robot whose swarm removal failed stays in it, so a re-run retries.
    if (!dry)
      removeRobotsFromFile(
        fleet.inventory.file,
        removed.map((r) => r.name),
      );
    for (const robot of removed) fleet.changed(robot.name, `${dry ? 'would be removed' : 'removed'} from ${fleet.inventory.file}`);
  }
  const notRemoved = leaving.filter((r) => !removed.includes(r)).map((r) => r.name);
  return { json: { removed: removed.map((r) => r.name), notRemoved, plannedManagers: planned ?? null } };
}

/** The robots whose node is gone (or never was). */
async function retireNodes(
  fleet: Fleet,
  rest: Fleet,
  leaving: readonly Robot[],
  own: Map<string, Member>,
  swarmFound: boolean,
): Promise<Robot[]> {
  const dry = fleet.options.dryRun;
  const managers = swarmFound ? (fleetClusters(rest, await gatherMembers(rest))[0]?.[1] ?? []) : [];
  const first = managers[0];
  const via = first ? new ManagerVia(rest, first, () => managers) : null;
  let nodes: NodeInfo[] = via ? await via.nodes() : [];
  const trusted = withoutFalseClaims(fleet, [...own.values()], nodes); // the others failed: not removed, their claimed node untouched
  const done: Robot[] = [];
  for (const robot of leaving) {
    const member = own.get(robot.name);
    if (member && !trusted.includes(member)) continue;
    const reachable = member !== undefined;
    const node = member ? nodes.find((n) => n.id === member.facts.swarm?.NodeID) : nodeOfRobot(robot, [], nodes);
    if (member && inSwarm(member.facts) && !node) {
      fleet.failed(
        robot.name,
        `in a swarm that is not the fleet's${via ? '' : " (no manager of the fleet's swarm answers)"}: left untouched, not removed`,
      );
      continue;
    }
    if (!member && fleet.outcomes.get(robot.name)?.status === 'failed') continue; // failed reading its facts: said already
    if (node && !via) {
      fleet.failed(robot.name, "no manager of the fleet's swarm answers: its node cannot be removed; not removed");
      continue;
    }
    const input: RetireInput = { node: node ? { role: node.role, availability: node.availability, leader: node.leader } : null, reachable };
    const steps = retirePlan(input);
    if (dry) {
      for (const s of steps) fleet.changed(robot.name, `would ${RETIRE_WORDS[s]}`);
      if (!reachable) fleet.note(robot.name, notDoneWhileGone(input));
      done.push(robot);
      continue;
    }
    try {
      for (const step of steps) await retireStep(fleet, via, robot, member, node as NodeInfo, step);
      if (!reachable) fleet.note(robot.name, notDoneWhileGone(input));
      if (!node) fleet.note(robot.name, "was not a node of the fleet's swarm");
      done.push(robot);
    } catch (err) {
      fleet.failed(
        robot.name,
        `not removed: ${redact((err as Error).message)}; what is listed before this was done — run provision remove ${robot.name} again`,
      );
    }
    if (via && node) nodes = await via.nodes();
  }
  return done;
}

async function retireStep(
  fleet: Fleet,
  via: ManagerVia | null,
  robot: Robot,
  member: Member | undefined,
  node: NodeInfo,
  step: ReturnType<typeof retirePlan>[number],
): Promise<void> {
  const manager = () => {
    if (!via) throw new Error("no manager of the fleet's swarm answers");
    return via;
  };
  switch (step) {
    case 'drain': {
      await manager().run((sudo) => drainCommand(node.id, sudo), 'docker node update --availability drain');
      const left = await waitFor(
        DRAIN_WAIT_MS,
        async () => parseTaskCount(await manager().run((sudo) => nodeTasksCommand(node.id, sudo), 'docker node ps')) === 0,
      );
      fleet.changed(
        robot.name,
        left
          ? 'drained its node: its tasks moved to other nodes'
          : `drained its node; tasks were still on it after ${DRAIN_WAIT_MS / 1000} s (removed anyway: the swarm reschedules them)`,
      );
      return;
    }
    case 'demote': {
      await manager().run((sudo) => nodeRoleCommand('demote', node.id, sudo), 'docker node demote');
      // Removed only once it is out of the Raft group (docker refuses before); a leader hands over.
      const out = await waitFor(DEMOTE_WAIT_MS, async () => {
        const now = (await manager().nodes()).find((n) => n.id === node.id);
        return !now || (now.reachability === null && !now.leader);
      });
      if (!out) throw new Error(`demoted, but still a Raft member after ${DEMOTE_WAIT_MS / 1000} s`);
      fleet.changed(robot.name, `demoted to worker${node.leader ? ' (it led the swarm: another manager leads now)' : ''}`);
      return;
    }
    case 'leave':
      if (!member) return;
      await member.conn.run(leaveCommand(robot.sudo), 'docker swarm leave');
      fleet.changed(robot.name, 'left the swarm');
      return;
    case 'remove-node':
      await manager().run((sudo) => nodeRemoveCommand(node.id, sudo), 'docker node rm --force');
      fleet.changed(robot.name, `removed its node ${node.id.slice(0, 12)} from the swarm`);
      return;
    case 'remove-tokens':
      if (!member) return;
      if ((await member.conn.run(removeTokensCommand(false), 'removing ~/swarm_tokens')).trim())
        fleet.changed(robot.name, 'removed ~/swarm_tokens');
  }
}

const waitFor = async (ms: number, check: () => Promise<boolean>) =>
  Boolean(await pollUntil(async () => (await check()) || undefined, POLL_MS, ms));

/** A leaving robot's blocks are emptied, but for the operator's key (to log in and wipe or re-use it). */
async function emptyOwnBlocks(fleet: Fleet, removed: readonly Robot[]): Promise<void> {
  const operator = ensureOperatorKey(false);
  const names = removed.map((r) => r.name);
  const only = fleet.without(fleet.inventory.robots.filter((r) => !names.includes(r.name)).map((r) => r.name));
  await only.eachConnected(async (robot, conn) => {
    const g = await readSsh(robot, conn);
    await writeSshFiles(fleet, robot, conn, g, wantedSshFiles(g, [], { key: operator.key, label: operator.label }));
  });
}
