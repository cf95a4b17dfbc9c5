// `provision swarm`: steps 2 and 3 of the brief. Facts first, then: reuse the fleet's swarm or
// init one on the leader, plan roles by quorum rules, write ~/swarm_tokens, promote/join/demote
// in a quorum-safe order, label the nodes. Every decision is made by src/plan; this file does I/O.
import type { Robot } from '../inventory/schema.js';
import {
  factsCommand, joinCommand, joinStateCommand, joinTokensCommand, parseJoinState, labelAddCommand, rotateTokenCommand, nodeRemoveCommand, nodeRoleCommand, parseFacts,
  swarmInitCommand, syncTokensCommand, tokenFilesPayload, tokensInSync, type NodeInfo, type TokenFile,
} from '../remote/docker.js';
import { desiredLabels, labelChanges } from '../plan/labels.js';
import { managerJoinBatches, planRoles, roleChanges, type PlanRobot, type RolePlan } from '../plan/quorum.js';
import type { Fleet } from './fleet.js';
import { QuorumLostError, fleetClusters, gatherMembers, inSwarm, listNodes, nodeOfRobot, type Member } from './swarmState.js';

const SWARM_PORT = 2377;
const JOIN_TIMEOUT_MS = 90_000;

export interface SwarmReport {
  plan: RolePlan | null;
  clusterId: string | null;
  nodes: NodeInfo[];
  initialised: string | null; // the robot `swarm init` ran on, if it did
  robotOfNode: Map<string, string>; // node ID → robot name, from each robot's own docker info
}

export type RotateWhich = 'worker' | 'manager' | 'both';

export async function runSwarm(fleet: Fleet, options: { rotate?: RotateWhich } = {}): Promise<SwarmReport> {
  const report: SwarmReport = { plan: null, clusterId: null, nodes: [], initialised: null, robotOfNode: new Map() };
  // 1. Facts, from every reachable robot at once.
  const members = await gatherMembers(fleet);
  try {
    return await formSwarm(fleet, members, report, options);
  } catch (err) {
    // No leader for 30 s: at the start, or because a manager lost while joining took the Raft
    // majority with it. No guessing: recovering means a new majority of one, the operator's choice.
    if (!(err instanceof QuorumLostError)) throw err;
    const reachable = fleetClusters(fleet, members)[0]?.[1].map((m) => m.robot.name) ?? [];
    for (const m of members.filter((x) => fleet.outcomes.get(x.robot.name)?.status !== 'failed')) {
      fleet.failed(
        m.robot.name,
        `the swarm has lost quorum (no leader for 30 s; reachable managers: ${reachable.join(', ') || 'none'}). Bring the other managers back, ` +
          `or recover deliberately with \`provision recover --on ${reachable[0] ?? '<manager>'}\` (docker swarm init --force-new-cluster there)`,
      );
    }
    return report;
  }
}

async function formSwarm(fleet: Fleet, members: Member[], report: SwarmReport, options: { rotate?: RotateWhich }): Promise<SwarmReport> {
  const dry = fleet.options.dryRun;

  // 2. The fleet's swarm: the cluster most reachable managers belong to (the leader's on a tie).
  const clusters = fleetClusters(fleet, members);
  let found: Member | undefined = clusters[0]?.[1][0];
  report.clusterId = clusters[0]?.[0] ?? null;

  if (!found) {
    const stranded = members.filter((m) => inSwarm(m.facts));
    if (stranded.length) {
      // Robots are in a swarm, but none of its managers answers: a second init would split the fleet.
      for (const m of stranded) fleet.failed(m.robot.name, `in a swarm (state ${m.facts.swarm?.LocalNodeState}) whose managers are not reachable: nothing was initialised; bring a manager back or run \`provision recover\``);
      for (const m of members.filter((x) => !inSwarm(x.facts))) fleet.note(m.robot.name, 'waiting: no reachable manager of the existing swarm');
      return report;
    }
    const leader = chooseInitLeader(fleet, members);
    if (!leader) {
      for (const m of members) fleet.failed(m.robot.name, 'no reachable robot may lead (canBecomeLeader/canBecomeManager): nothing was initialised');
      return report;
    }
    const init = swarmInitCommand(leader.robot.ip, fleet.inventory.swarm.init, leader.robot.sudo);
    if (dry) {
      fleet.changed(leader.robot.name, `would run docker swarm init --advertise-addr ${leader.robot.ip} (new swarm, leader)`);
      report.initialised = leader.robot.name;
      return planOnly(fleet, members, report, leader.robot.name);
    }
    await leader.conn.run(init, 'docker swarm init');
    leader.facts = parseFacts(await leader.conn.run(factsCommand(leader.robot.sudo), 'reading facts'), leader.robot.sudo);
    fleet.changed(leader.robot.name, `initialised a new swarm (advertise ${leader.robot.ip})`);
    report.initialised = leader.robot.name;
    report.clusterId = leader.facts.swarm?.Cluster?.ID ?? null;
    found = leader;
  }
  let manager: Member = found;

  // 3. The nodes as the swarm sees them; robots are matched to nodes by node ID, never by hostname.
  const nodes = await listNodes(manager);
  const nodeIds = new Set(nodes.map((n) => n.id));
  const foreign = members.filter((m) => inSwarm(m.facts) && !nodeIds.has(m.facts.swarm?.NodeID ?? ''));
  for (const m of foreign) {
    const where = m.facts.swarm?.RemoteManagers?.map((r) => r.Addr).join(', ') || 'unknown managers';
    fleet.failed(m.robot.name, `in a different swarm than the fleet's (its managers: ${where}): left untouched. To bring it in, run \`docker swarm leave --force\` on it, then provision swarm again`);
  }
  const usable = members.filter((m) => !foreign.includes(m));
  // Unreachable robots are recognised by their static address, only to count the Raft votes they hold.
  const nodeOf = (robot: Robot): NodeInfo | undefined => nodeOfRobot(robot, usable, nodes);

  // 4. Roles.
  const leaderNode = nodes.find((n) => n.leader);
  const leaderRobot = fleet.inventory.robots.find((r) => leaderNode && nodeOf(r)?.id === leaderNode.id);
  const planRobots = planInput(fleet, usable, nodeOf);
  const plan = planRoles({
    robots: planRobots,
    managers: fleet.inventory.swarm.managers,
    ...(leaderRobot ? { leader: leaderRobot.name } : {}),
  });
  report.plan = plan;
  // Work through the leader where it answers (it is never demoted), else a manager that stays one.
  const keeps = (m: Member) => nodeOf(m.robot)?.role === 'manager' && plan.managers.includes(m.robot.name);
  manager = usable.find((m) => nodeOf(m.robot)?.leader) ?? usable.find(keeps) ?? manager;

  // 5. Tokens: each robot gets only the token of its planned role, plus where to join.
  if (options.rotate && !dry) {
    for (const role of options.rotate === 'both' ? (['worker', 'manager'] as const) : [options.rotate]) {
      await manager.conn.run(rotateTokenCommand(role, manager.robot.sudo), `rotating the ${role} join token`);
      fleet.note(manager.robot.name, `rotated the ${role} join token`);
    }
  }
  const [workerToken, managerToken] = (await manager.conn.run(joinTokensCommand(manager.robot.sudo), 'reading join tokens')).trim().split('\n');
  if (!workerToken || !managerToken) throw new Error('could not read the join tokens from the manager');
  const managerAddrs = plan.managers.map((name) => `${fleet.inventory.robots.find((r) => r.name === name)?.ip}:${SWARM_PORT}`);
  const roleOf = (name: string) => plan.decisions.find((d) => d.name === name)?.role ?? 'worker';
  await Promise.all(
    usable.map(async (m) => {
      const role = roleOf(m.robot.name);
      const files: Partial<Record<TokenFile, string>> = {
        [`${role}_token`]: (role === 'manager' ? managerToken : workerToken) + '\n',
        join_addresses: managerAddrs.join('\n') + '\n',
        advertise_addr: m.robot.ip + '\n', // for the boot-time join (templates/provision-join.sh)
      };
      if (tokensInSync(m.facts.tokens, files)) return; // the facts carried their digests: nothing to send
      try {
        const out = await m.conn.run(syncTokensCommand(dry), 'writing ~/swarm_tokens', { stdin: tokenFilesPayload(files) });
        const changed = out.split('\n').filter((l) => /^(changed|removed):/.test(l)).map((l) => l.replace(':', ' '));
        if (changed.length) fleet.changed(m.robot.name, `~/swarm_tokens: ${dry ? 'would have ' : ''}${changed.join(', ')}`);
      } catch (err) {
        fleet.failed(m.robot.name, (err as Error).message);
      }
    }),
  );

  if (dry) return dryRunRest(fleet, usable, nodes, plan, nodeOf, report);

  // 6. Promote before demote; managers join in quorum-safe batches, then all workers at once; each
  // node is labelled as soon as it is in. (Workers joining during the manager rounds was faster at 10
  // robots, but on the 2-core lab at 50 it starved the joining managers until their joins failed.)
  const ok = (m: Member) => fleet.outcomes.get(m.robot.name)?.status !== 'failed';
  const inFleet = usable.filter((m) => ok(m) && nodeIds.has(m.facts.swarm?.NodeID ?? ''));
  let swarmChanged = false; // when nothing changed, the node list read at the start is the final one
  const runOnManager = async (m: Member, change: 'promote' | 'demote') => {
    try {
      await manager.conn.run(nodeRoleCommand(change, m.facts.swarm?.NodeID ?? '', manager.robot.sudo), `docker node ${change}`);
      swarmChanged = true;
      fleet.changed(m.robot.name, `${change}d to ${change === 'promote' ? 'manager' : 'worker'}`);
    } catch (err) {
      fleet.failed(m.robot.name, (err as Error).message);
    }
  };
  // The planner never demotes the leader, and only robots already in the swarm change role here.
  const changes = roleChanges(plan, planRobots);
  const named = (names: string[]) => inFleet.filter((m) => names.includes(m.robot.name));
  for (const m of named(changes.promote)) await runOnManager(m, 'promote');

  // 7. Labels: only the difference, one `docker node update` per node that needs one. A node that
  // joined in this run starts without labels.
  const label = async (m: Member, current: Record<string, string>) => {
    const nodeId = m.facts.swarm?.NodeID;
    const missing = labelChanges(current, desiredLabels(m.robot, m.facts));
    if (!nodeId || !Object.keys(missing).length) return;
    try {
      await retryOutOfSequence(() => manager.conn.run(labelAddCommand(nodeId, missing, manager.robot.sudo), 'docker node update --label-add'));
      swarmChanged = true;
      fleet.changed(m.robot.name, `labels: ${Object.entries(missing).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    } catch (err) {
      fleet.failed(m.robot.name, (err as Error).message);
    }
  };

  // Managers to join through, best first: those this run is connected to right now (a manager that
  // just went away still looks ready to the swarm for some seconds), then the ones the swarm sees as
  // reachable, then every planned manager.
  const joinedManagers = new Set<Member>();
  const reachableManagerAddrs = () => {
    const isManager = (m: Member) => joinedManagers.has(m) || nodes.some((n) => n.id === m.facts.swarm?.NodeID && n.role === 'manager');
    const connected = usable.filter((m) => ok(m) && isManager(m)).map((m) => `${m.robot.ip}:${SWARM_PORT}`);
    const seen = nodes.filter((n) => n.role === 'manager' && n.state === 'ready' && n.reachability !== 'unreachable').map((n) => `${n.addr}:${SWARM_PORT}`);
    return [...connected, ...seen];
  };
  const joinedNow = new Set<Member>();
  const joinAndLabel = async (m: Member, role: 'manager' | 'worker') => {
    try {
      const out = await m.conn.run(joinCommand(role, m.robot.ip, [...new Set([...reachableManagerAddrs(), ...managerAddrs])], m.robot.sudo), `joining as ${role}`, {
        timeoutMs: JOIN_TIMEOUT_MS,
      });
      let id = /node=(\S+)/.exec(out)?.[1];
      // "will continue in the background": pending, not failed — wait for it, bounded.
      if (!id) id = await waitForPendingJoin(m);
      if (m.facts.swarm) m.facts.swarm.NodeID = id;
      swarmChanged = true;
      joinedNow.add(m);
      if (role === 'manager') joinedManagers.add(m);
      fleet.joined(m.robot.name, out.includes('pending') ? `joined as ${role} (after a join that went on in the background)` : `joined as ${role}`);
    } catch (err) {
      fleet.failed(m.robot.name, (err as Error).message);
      return;
    }
    await label(m, {});
  };
  const toJoin = usable.filter((m) => ok(m) && !inSwarm(m.facts));
  const joiningManagers = toJoin.filter((m) => roleOf(m.robot.name) === 'manager');
  const currentManagers = nodes.filter((n) => n.role === 'manager').length;
  const labelled = inFleet.map((m) => label(m, nodes.find((n) => n.id === m.facts.swarm?.NodeID)?.labels ?? {}));
  for (const batch of managerJoinBatches(Math.max(1, currentManagers), joiningManagers.map((m) => m.robot.name))) {
    await Promise.all(batch.map((name) => joinAndLabel(joiningManagers.find((m) => m.robot.name === name) as Member, 'manager')));
  }
  await Promise.all([...labelled, ...toJoin.filter((m) => roleOf(m.robot.name) === 'worker').map((m) => joinAndLabel(m, 'worker'))]);

  for (const m of named(changes.demote)) await runOnManager(m, 'demote');
  if (await removeStaleNodes(fleet, manager, usable.filter((m) => joinedNow.has(m) || nodeIds.has(m.facts.swarm?.NodeID ?? '')), nodes)) swarmChanged = true;
  for (const robot of fleet.inventory.robots) {
    const node = nodeOf(robot);
    if (node) report.robotOfNode.set(node.id, robot.name);
  }
  report.nodes = swarmChanged ? await listNodes(manager) : nodes;
  for (const m of joinedNow) report.robotOfNode.set(m.facts.swarm?.NodeID ?? '', m.robot.name);
  return report;
}

/**
 * A robot that left and joined again leaves its old node behind as `down`. Remove such nodes —
 * only those at the address of a robot of the inventory that is in the swarm under another ID.
 * `members` are robots whose current node ID is in the fleet's swarm. True when a node was removed.
 */
async function removeStaleNodes(fleet: Fleet, manager: Member, members: Member[], nodes: NodeInfo[]): Promise<boolean> {
  let removed = false;
  for (const m of members) {
    const current = m.facts.swarm?.NodeID;
    if (!current) continue;
    // The robot's engine now is node `current`: any other node at its address is its former self.
    for (const stale of nodes.filter((n) => n.addr === m.robot.ip && n.id !== current)) {
      try {
        if (stale.role === 'manager') await manager.conn.run(nodeRoleCommand('demote', stale.id, manager.robot.sudo), 'demoting a stale node');
        await manager.conn.run(nodeRemoveCommand(stale.id, manager.robot.sudo), 'removing a stale node');
        removed = true;
        fleet.changed(m.robot.name, `removed its stale node ${stale.id.slice(0, 12)} (left behind when it left the swarm)`);
      } catch (err) {
        fleet.note(m.robot.name, `could not remove its stale node ${stale.id.slice(0, 12)}: ${(err as Error).message}`);
      }
    }
  }
  return removed;
}

const PENDING_JOIN_WAIT_MS = 90_000;
const PENDING_JOIN_POLL_MS = 3000;

/** Poll a robot whose join went on in the background until it is active; its node ID, or an error. */
async function waitForPendingJoin(m: Member): Promise<string> {
  for (let waited = 0; waited < PENDING_JOIN_WAIT_MS; waited += PENDING_JOIN_POLL_MS) {
    const join = parseJoinState(await m.conn.run(joinStateCommand(m.robot.sudo), 'reading the swarm state'));
    if (join.state === 'active' && join.nodeId) return join.nodeId;
    if (join.state !== 'pending') throw new Error(`the join ended in state ${join.state || 'unknown'}: ${join.error || 'no error given'}`);
    await new Promise((r) => setTimeout(r, PENDING_JOIN_POLL_MS));
  }
  throw new Error(`the join is still pending after ${PENDING_JOIN_WAIT_MS / 1000} s: check that the managers' port 2377 is reachable from this robot`);
}

/** `docker node update` loses a race with the swarm's own updates of a node that just joined: retry it. */
async function retryOutOfSequence<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= 5 || !/update out of sequence/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

function chooseInitLeader(fleet: Fleet, members: Member[]): Member | undefined {
  const allowed = (m: Member) => m.robot.canBecomeLeader && m.robot.canBecomeManager && m.robot.role !== 'worker';
  const named = members.find((m) => m.robot.name === fleet.inventory.swarm.leader && allowed(m));
  return named ?? members.find(allowed);
}

function planInput(fleet: Fleet, usable: Member[], nodeOf: (r: Robot) => NodeInfo | undefined): PlanRobot[] {
  return fleet.inventory.robots.map((robot) => {
    const reachable = usable.some((m) => m.robot.name === robot.name) && fleet.outcomes.get(robot.name)?.status !== 'failed';
    const node = nodeOf(robot);
    return {
      name: robot.name,
      reachable,
      canBecomeManager: robot.canBecomeManager,
      canBecomeLeader: robot.canBecomeLeader,
      ...(robot.zone !== undefined ? { zone: robot.zone } : {}),
      pinnedRole: robot.role,
      currentRole: node ? node.role : 'none',
    };
  });
}

/** Dry run before any swarm exists: the plan as it would be after init. */
function planOnly(fleet: Fleet, members: Member[], report: SwarmReport, leader: string): SwarmReport {
  const plan = planRoles({ robots: planInput(fleet, members, () => undefined), managers: fleet.inventory.swarm.managers, leader });
  report.plan = plan;
  for (const d of plan.decisions) {
    if (!members.some((m) => m.robot.name === d.name) || d.name === leader) continue;
    fleet.changed(d.name, `would write ~/swarm_tokens (${d.role} token) and join as ${d.role} (${d.reason})`);
  }
  return report;
}

function dryRunRest(fleet: Fleet, usable: Member[], nodes: NodeInfo[], plan: RolePlan, nodeOf: (r: Robot) => NodeInfo | undefined, report: SwarmReport): SwarmReport {
  for (const m of usable) {
    const d = plan.decisions.find((x) => x.name === m.robot.name);
    if (!d || fleet.outcomes.get(m.robot.name)?.status === 'failed') continue;
    const node = nodeOf(m.robot);
    if (!node) fleet.changed(m.robot.name, `would write ~/swarm_tokens (${d.role} token) and join as ${d.role} (${d.reason})`);
    else if (node.role !== d.role) fleet.changed(m.robot.name, `would ${d.role === 'manager' ? 'promote' : 'demote'} to ${d.role} (${d.reason})`);
    if (node) {
      const changes = labelChanges(node.labels, desiredLabels(m.robot, m.facts));
      if (Object.keys(changes).length) fleet.changed(m.robot.name, `would set labels ${Object.keys(changes).join(' ')}`);
    }
  }
  report.nodes = nodes;
  return report;
}

