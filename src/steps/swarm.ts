// `provision swarm`: steps 2 and 3 of the brief. Facts first, then: reuse the fleet's swarm or
// init one on the leader, plan roles by quorum rules, write ~/swarm_tokens, promote/join/demote
// in a quorum-safe order, label the nodes. Every decision is made by src/plan; this file does I/O.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Robot } from '../inventory/schema.js';
import {
  factsCommand,
  joinCommand,
  joinStateCommand,
  joinTokensCommand,
  parseJoinState,
  labelAddCommand,
  leaveCommand,
  rotateTokenCommand,
  nodeRemoveCommand,
  nodeRoleCommand,
  parseFacts,
  swarmInitCommand,
  syncTokensCommand,
  tokenFilesPayload,
  tokensInSync,
  type NodeInfo,
  type TokenFile,
} from '../remote/docker.js';
import { describeLabelUpdate, desiredLabels, isNoLabelUpdate, labelUpdate } from '../plan/labels.js';
import { strangerNodes } from '../plan/drift.js';
import { managerJoinBatches, planRoles, roleChanges, type PlanRobot, type RolePlan } from '../plan/quorum.js';
import { pendingVerdict, runPaced, PENDING_CAP_MS, PENDING_STALL_MS } from '../plan/pacing.js';
import { redact } from '../log.js';
import type { Fleet } from '../run/fleet.js';
import type { SwarmReport } from '../run/outcome.js';
import { ManagerVia, NoManagerError } from './managerVia.js';
import { QuorumLostError, fleetClusters, gatherMembers, halfJoined, inSwarm, nodeOfRobot, type Member } from './swarmState.js';

const SWARM_PORT = 2377;
const JOIN_TIMEOUT_MS = 90_000;
/** After the leader's demotion the managers elect another within seconds on the lab; give it a minute. */
const LEADER_HANDOVER_WAIT_MS = 60_000;
const PENDING_JOIN_POLL_MS = 3000;

export type { SwarmReport } from '../run/outcome.js';

export type RotateWhich = 'worker' | 'manager' | 'both';

/** `members`: facts the caller read already in this run (provision remove), so they are not read twice. */
export async function runSwarm(fleet: Fleet, options: { rotate?: RotateWhich; members?: Member[] } = {}): Promise<SwarmReport> {
  const report: SwarmReport = {
    plan: null,
    clusterId: null,
    nodes: [],
    initialised: null,
    robotOfNode: new Map(),
    handOver: null,
    notes: [],
  };
  // 1. Facts, from every reachable robot at once.
  const members = options.members ?? (await gatherMembers(fleet));
  try {
    return await formSwarm(fleet, members, report, options);
  } catch (err) {
    if (err instanceof QuorumLostError) quorumLost(fleet, members);
    else stopped(fleet, members, report, err as Error);
    return report;
  }
}

/**
 * No leader for 30 s: at the start, or because a manager lost while joining took the Raft majority
 * with it. No guessing: recovering means a new majority of one, the operator's choice.
 */
function quorumLost(fleet: Fleet, members: Member[]): void {
  const reachable = fleetClusters(fleet, members)[0]?.[1].map((m) => m.robot.name) ?? [];
  for (const m of members.filter((x) => fleet.outcomes.get(x.robot.name)?.status !== 'failed')) {
    fleet.failed(
      m.robot.name,
      `the swarm has lost quorum (no leader for 30 s; reachable managers: ${reachable.join(', ') || 'none'}). Bring the other managers back, ` +
        `or recover deliberately with \`provision recover --on ${reachable[0] ?? '<manager>'}\` (docker swarm init --force-new-cluster there)`,
    );
  }
}

/**
 * Any other error of a swarm phase (no manager left to work through, an answer that could not be
 * read): never an exception out of the step. Every robot not failed yet is reported as not finished;
 * what its line lists before that was done.
 */
function stopped(fleet: Fleet, members: Member[], report: SwarmReport, err: Error): void {
  const why = redact(err.message);
  for (const m of members) {
    if (fleet.outcomes.get(m.robot.name)?.status === 'failed') continue;
    fleet.failed(m.robot.name, `not finished — the run stopped: ${why}. What is listed before this was done; run provision swarm again`);
  }
  if (report.nodes.length)
    report.notes.push('the node list above is as read at the start of the run: the run stopped before it could be read again');
}

async function formSwarm(fleet: Fleet, members: Member[], report: SwarmReport, options: { rotate?: RotateWhich }): Promise<SwarmReport> {
  // 2. The fleet's swarm: the cluster most reachable managers belong to (the leader's on a tie).
  const found = await findOrInitSwarm(fleet, members, report);
  if (!found) return report;
  const formation = await Formation.start(fleet, members, report, found);
  await formation.writeTokens(options.rotate);
  if (fleet.options.dryRun) return formation.dryRunRest();
  await formation.apply();
  return report;
}

/** The manager of the fleet's swarm to start from; or, with none anywhere, `swarm init` on the leader. */
async function findOrInitSwarm(fleet: Fleet, members: Member[], report: SwarmReport): Promise<Member | null> {
  const clusters = fleetClusters(fleet, members);
  report.clusterId = clusters[0]?.[0] ?? null;
  const found = clusters[0]?.[1][0];
  if (found) return found;
  // A half-joined robot belongs to no swarm: it does not stop an init (it is cleaned up later).
  const stranded = members.filter((m) => inSwarm(m.facts) && !halfJoined(m.facts));
  if (stranded.length) {
    // Robots are in a swarm, but none of its managers answers: a second init would split the fleet.
    for (const m of stranded)
      fleet.failed(
        m.robot.name,
        `in a swarm (state ${m.facts.swarm?.LocalNodeState}) whose managers are not reachable: nothing was initialised; bring a manager back or run \`provision recover\``,
      );
    for (const m of members.filter((x) => !inSwarm(x.facts)))
      fleet.note(m.robot.name, 'waiting: no reachable manager of the existing swarm');
    return null;
  }
  const leader = chooseInitLeader(fleet, members);
  if (!leader) {
    for (const m of members)
      fleet.failed(m.robot.name, 'no reachable robot may lead (canBecomeLeader/canBecomeManager): nothing was initialised');
    return null;
  }
  if (!fleet.inLimit(leader.robot.name)) {
    // A new swarm starts on the leader: under --limit that is a change to a robot not named.
    for (const m of members.filter((x) => fleet.inLimit(x.robot.name))) {
      fleet.failed(
        m.robot.name,
        `there is no swarm yet and it would be initialised on ${leader.robot.name}, outside --limit: add ${leader.robot.name} to --limit, or run without it`,
      );
    }
    return null;
  }
  report.initialised = leader.robot.name;
  if (fleet.options.dryRun) {
    fleet.changed(leader.robot.name, `would run docker swarm init --advertise-addr ${leader.robot.ip} (new swarm, leader)`);
    planOnly(fleet, members, report, leader.robot.name);
    return null;
  }
  await leader.conn.run(swarmInitCommand(leader.robot.ip, fleet.inventory.swarm.init, leader.robot.sudo), 'docker swarm init');
  leader.facts = parseFacts(await leader.conn.run(factsCommand(leader.robot.sudo), 'reading facts'), leader.robot.sudo);
  fleet.changed(leader.robot.name, `initialised a new swarm (advertise ${leader.robot.ip})`);
  report.clusterId = leader.facts.swarm?.Cluster?.ID ?? null;
  return leader;
}

/** One run's work on an existing swarm, phase by phase, through a manager that may change (ManagerVia). */
class Formation {
  private swarmChanged = false; // when nothing changed, the node list read at the start is the final one
  /** An error that stops the run (no manager left, quorum lost) met inside a join: rethrown once the joins settle. */
  private stopping: unknown = null;
  private readonly joinedNow = new Set<Member>();
  private readonly newManagers = new Set<Member>(); // joined as or promoted to manager in this run
  private lastJoinAt = Date.now(); // the fleet's latest finished join: pending joins wait while this moves
  private readonly planRobots: PlanRobot[];
  private readonly managerAddrs: string[];

  private constructor(
    private readonly fleet: Fleet,
    private readonly report: SwarmReport,
    private readonly usable: Member[],
    private readonly nodes: NodeInfo[],
    private readonly plan: RolePlan,
    private readonly via: ManagerVia,
    private readonly currentLeader: Member | undefined,
  ) {
    this.planRobots = planInput(fleet, usable, (r) => this.nodeOf(r));
    this.managerAddrs = plan.managers.map((name) => `${fleet.inventory.robots.find((r) => r.name === name)?.ip}:${SWARM_PORT}`);
  }

  /** 3–4. The nodes as the swarm sees them, the robots that may take part, and the roles. */
  static async start(fleet: Fleet, members: Member[], report: SwarmReport, found: Member): Promise<Formation> {
    // Until the plan exists, the managers of the fleet's cluster (by their own facts) stand in.
    let candidates: () => Member[] = () => fleetClusters(fleet, members)[0]?.[1] ?? [];
    const via = new ManagerVia(fleet, found, () => candidates());
    const nodes = await via.nodes();
    report.nodes = nodes; // what could be read, should the run stop later
    const usable = withoutForeign(fleet, members, nodes);
    // Unreachable robots are recognised by their static address, only to count the Raft votes they hold.
    const nodeOf = (robot: Robot) => nodeOfRobot(robot, usable, nodes);
    const leaderNode = nodes.find((n) => n.leader);
    const leaderRobot = fleet.inventory.robots.find((r) => leaderNode && nodeOf(r)?.id === leaderNode.id);
    const plan = planRoles({
      robots: planInput(fleet, usable, nodeOf),
      managers: fleet.inventory.swarm.managers,
      ...(leaderRobot ? { leader: leaderRobot.name } : {}),
      ...(fleet.inventory.swarm.leader !== undefined ? { preferredLeader: fleet.inventory.swarm.leader } : {}),
    });
    report.plan = plan;
    const formation = new Formation(
      fleet,
      report,
      usable,
      nodes,
      plan,
      via,
      usable.find((m) => m.robot.name === leaderRobot?.name),
    );
    candidates = () => formation.managerCandidates();
    // Work through a manager that stays one (the leader first); the leader to hand over only if none does.
    via.current = formation.managerCandidates()[0] ?? found;
    return formation;
  }

  private nodeOf(robot: Robot): NodeInfo | undefined {
    return nodeOfRobot(robot, this.usable, this.nodes);
  }

  /** Outside --limit a robot is read (plan, quorum, tokens) but never changed. */
  private mine(m: Member): boolean {
    return this.fleet.inLimit(m.robot.name);
  }

  private ok(m: Member): boolean {
    return this.fleet.outcomes.get(m.robot.name)?.status !== 'failed';
  }

  private roleOf(name: string): 'manager' | 'worker' {
    return this.plan.decisions.find((d) => d.name === name)?.role ?? 'worker';
  }

  /** Managers this run is connected to, best first: staying ones (the leader first), new ones, then any other. */
  managerCandidates(): Member[] {
    const wasManager = (m: Member) => this.nodeOf(m.robot)?.role === 'manager';
    const stays = (m: Member) => wasManager(m) && this.plan.managers.includes(m.robot.name);
    const live = this.usable.filter((m) => this.ok(m) && !this.via.isDropped(m));
    const isLeader = (m: Member) => Boolean(this.nodeOf(m.robot)?.leader);
    return [
      ...new Set([
        ...live.filter((m) => stays(m) && isLeader(m)),
        ...live.filter(stays),
        ...live.filter((m) => this.newManagers.has(m)),
        ...live.filter(wasManager),
      ]),
    ];
  }

  /** 5. Tokens: each robot gets only the token of its planned role, plus where to join. */
  async writeTokens(rotate: RotateWhich | undefined): Promise<void> {
    const dry = this.fleet.options.dryRun;
    if (rotate && !dry) {
      for (const role of rotate === 'both' ? (['worker', 'manager'] as const) : [rotate]) {
        await this.via.run((sudo) => rotateTokenCommand(role, sudo), `rotating the ${role} join token`);
        this.fleet.note(this.via.current.robot.name, `rotated the ${role} join token`);
      }
    }
    const [workerToken, managerToken] = (await this.via.run(joinTokensCommand, 'reading join tokens')).trim().split('\n');
    if (!workerToken || !managerToken) throw new Error(`could not read the join tokens from ${this.via.current.robot.name}`);
    await this.eachAsPhase(
      dry ? 'comparing ~/swarm_tokens' : 'writing ~/swarm_tokens',
      this.usable.filter((m) => this.mine(m)),
      async (m) => {
        const role = this.roleOf(m.robot.name);
        const files: Partial<Record<TokenFile, string>> = {
          [`${role}_token`]: (role === 'manager' ? managerToken : workerToken) + '\n',
          join_addresses: this.managerAddrs.join('\n') + '\n',
          advertise_addr: m.robot.ip + '\n', // for the boot-time join (templates/provision-join.sh)
        };
        if (tokensInSync(m.facts.tokens, files)) return; // the facts carried their digests: nothing to send
        try {
          const out = await m.conn.run(syncTokensCommand(dry), 'writing ~/swarm_tokens', { stdin: tokenFilesPayload(files) });
          const changed = out
            .split('\n')
            .filter((l) => /^(changed|removed):/.test(l))
            .map((l) => l.replace(':', ' '));
          if (changed.length) this.fleet.changed(m.robot.name, `~/swarm_tokens: ${dry ? 'would have ' : ''}${changed.join(', ')}`);
        } catch (err) {
          this.fleet.failed(m.robot.name, (err as Error).message);
        }
      },
    );
  }

  /**
   * `work` on each member at once, as a phase of the run counted per member done (none when empty).
   * Every member's work settles before the first error (one that stops the run) goes on up.
   */
  private async eachAsPhase<T>(title: string, members: Member[], work: (m: Member) => Promise<T>): Promise<T[]> {
    if (!members.length) return [];
    const phase = this.fleet.phase(title, members.length);
    try {
      const results = await Promise.allSettled(members.map((m) => work(m).finally(() => phase.advance())));
      throwFirst(results);
      return results.map((r) => (r as PromiseFulfilledResult<T>).value);
    } finally {
      phase.finish();
    }
  }

  /**
   * 6–7. Clean up interrupted joins; promote before anything is demoted; managers join in
   * quorum-safe batches, then the workers, paced; each node is labelled as soon as it is in; then
   * the demotions, the leader's (a hand-over) last. (Workers joining during the manager rounds was faster at
   * 10 robots, but on the 2-core lab at 50 it starved the joining managers until their joins failed.)
   */
  async apply(): Promise<void> {
    await this.cleanHalfJoined();
    const inFleet = this.usable.filter((m) => this.ok(m) && this.mine(m) && this.nodes.some((n) => n.id === m.facts.swarm?.NodeID));
    const named = (names: string[]) => inFleet.filter((m) => names.includes(m.robot.name));
    const changes = this.limitedRoleChanges();
    for (const m of named(changes.promote)) await this.changeRole(m, 'promote');

    // Every piece of work started here is awaited before an error that stops the run goes on up
    // (no manager left, quorum lost): nothing runs on after the connections close.
    const labelled = Promise.allSettled([
      this.eachAsPhase('labelling nodes', inFleet, (m) =>
        this.label(m, this.nodes.find((n) => n.id === m.facts.swarm?.NodeID)?.labels ?? {}),
      ),
    ]);
    const toJoin = this.usable.filter((m) => this.ok(m) && this.mine(m) && !inSwarm(m.facts));
    const joins = (async () => {
      await this.joinManagers(toJoin.filter((m) => this.roleOf(m.robot.name) === 'manager'));
      const workers = toJoin.filter((m) => this.roleOf(m.robot.name) === 'worker');
      if (!workers.length) return;
      const phase = this.fleet.phase('joining workers', workers.length);
      await runPaced(workers, (m) => this.joinAndLabel(m, 'worker').finally(() => phase.advance())).finally(() => phase.finish());
    })();
    throwFirst([...(await labelled), ...(await Promise.allSettled([joins]))]);
    if (this.stopping) throw this.stopping;

    for (const m of named(changes.demote)) await this.changeRole(m, 'demote');
    // The leader last: every other change is made, so the node elected next is one that stays.
    const leaving = named(changes.handOver ? [changes.handOver] : [])[0];
    if (leaving) await this.handOver(leaving);
    const current = this.usable.filter(
      (m) => this.mine(m) && (this.joinedNow.has(m) || this.nodes.some((n) => n.id === m.facts.swarm?.NodeID)),
    );
    await this.removeStaleNodes(current);
    this.noteOutsideLimit();
    await this.strangers();
    await this.finalReport();
  }

  /**
   * The planned role changes this run may make. Under --limit only the named robots' — and a named
   * robot's demotion waits while a promotion the plan pairs with it is outside the limit, so the
   * manager count never drops below the plan because of --limit.
   */
  private limitedRoleChanges(): ReturnType<typeof roleChanges> {
    const all = roleChanges(this.plan, this.planRobots, this.currentLeader?.robot.name);
    if (!this.fleet.options.limit) return all;
    const inLimit = (n: string) => this.fleet.inLimit(n);
    const heldPromotions = all.promote.filter((n) => !inLimit(n));
    const demotions = [...all.demote, ...(all.handOver ? [all.handOver] : [])].filter(inLimit);
    if (heldPromotions.length) {
      for (const n of demotions)
        this.fleet.note(
          n,
          `not demoted: the plan promotes ${heldPromotions.join(', ')} first, outside --limit (add it to --limit, or run without)`,
        );
      return { promote: all.promote.filter(inLimit), demote: [], handOver: null };
    }
    return {
      promote: all.promote.filter(inLimit),
      demote: all.demote.filter(inLimit),
      handOver: all.handOver && inLimit(all.handOver) ? all.handOver : null,
    };
  }

  /** What the plan wants of a robot: join, role change, labels (for a dry run, and for robots outside --limit). */
  private pendingFor(m: Member): string[] {
    const d = this.plan.decisions.find((x) => x.name === m.robot.name);
    if (!d || !this.ok(m)) return [];
    const node = this.nodeOf(m.robot);
    const out: string[] = [];
    if (halfJoined(m.facts))
      out.push(`clean up an interrupted join (state ${m.facts.swarm?.LocalNodeState}) with docker swarm leave --force`);
    if (!node) out.push(`write ~/swarm_tokens (${d.role} token) and join as ${d.role} (${d.reason})`);
    else if (node.role !== d.role) out.push(`${d.role === 'manager' ? 'promote' : 'demote'} to ${d.role} (${d.reason})`);
    if (node) {
      const update = labelUpdate(node.labels, desiredLabels(m.robot, m.facts));
      if (!isNoLabelUpdate(update)) out.push(`update labels: ${describeLabelUpdate(update)}`);
    }
    return out;
  }

  private noteOutsideLimit(): void {
    if (!this.fleet.options.limit) return;
    for (const m of this.usable.filter((x) => !this.mine(x))) {
      const pending = this.pendingFor(m);
      if (pending.length) this.fleet.note(m.robot.name, `outside --limit, not changed; would ${pending.join('; ')}`);
    }
  }

  /**
   * Drift: nodes of the swarm that belong to no inventory robot. Reported; removed only with --prune
   * and without --limit (they are no named robot's): a manager is demoted first, then `node rm --force`.
   */
  private async strangers(): Promise<void> {
    const ids = this.usable.map((m) => m.facts.swarm?.NodeID ?? '').filter(Boolean);
    const found = strangerNodes(
      this.nodes,
      this.fleet.inventory.robots.map((r) => r.ip),
      ids,
    );
    if (!found.length) return;
    const what = (n: NodeInfo) => `${n.hostname || '?'} (${n.id.slice(0, 12)}, ${n.addr}, ${n.role}, ${n.state})`;
    const prune = this.fleet.options.prune && !this.fleet.options.limit;
    if (!prune || this.fleet.options.dryRun) {
      this.report.notes.push(
        `drift: ${found.length} node${found.length === 1 ? '' : 's'} of no inventory robot: ${found.map(what).join(', ')} — ${prune ? 'would remove (--prune)' : this.fleet.options.prune ? 'kept (--prune does not remove nodes under --limit)' : 'kept; --prune removes them'}`,
      );
      return;
    }
    for (const n of found) {
      try {
        if (n.role === 'manager')
          await this.via.run((sudo) => nodeRoleCommand('demote', n.id, sudo), 'demoting a node of no inventory robot');
        await this.via.run((sudo) => nodeRemoveCommand(n.id, sudo), 'removing a node of no inventory robot');
        this.swarmChanged = true;
        this.report.notes.push(`drift: removed node ${what(n)} (no inventory robot; --prune)`);
      } catch (err) {
        if (err instanceof NoManagerError) throw err;
        this.report.notes.push(`drift: could not remove node ${what(n)}: ${redact((err as Error).message)}`);
      }
    }
  }

  /** A robot whose join never finished (see halfJoined): it leaves, and joins again below. */
  private async cleanHalfJoined(): Promise<void> {
    await Promise.all(
      this.usable
        .filter((m) => this.ok(m) && this.mine(m) && halfJoined(m.facts))
        .map(async (m) => {
          const swarm = m.facts.swarm;
          if (!swarm) return;
          const was = `state ${swarm.LocalNodeState}${swarm.Error ? `: ${swarm.Error}` : ''}`;
          try {
            await m.conn.run(leaveCommand(m.robot.sudo), 'leaving an interrupted join');
            swarm.LocalNodeState = 'inactive';
            this.fleet.changed(m.robot.name, `cleaned up an interrupted join (${was}) with docker swarm leave --force; it joins again`);
          } catch (err) {
            this.fleet.failed(m.robot.name, `an interrupted join (${was}) could not be cleaned up: ${(err as Error).message}`);
          }
        }),
    );
  }

  /** A per-robot piece of manager-side work: its error fails that robot, unless no manager is left at all. */
  private async forRobot(m: Member, work: () => Promise<void>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (err) {
      if (err instanceof NoManagerError || err instanceof QuorumLostError) throw err;
      this.fleet.failed(m.robot.name, (err as Error).message);
      return false;
    }
  }

  private async changeRole(m: Member, change: 'promote' | 'demote'): Promise<void> {
    await this.forRobot(m, async () => {
      await this.via.run((sudo) => nodeRoleCommand(change, m.facts.swarm?.NodeID ?? '', sudo), `docker node ${change}`);
      this.swarmChanged = true;
      this.fleet.changed(m.robot.name, `${change}d to ${change === 'promote' ? 'manager' : 'worker'}`);
      if (change === 'promote') this.newManagers.add(m);
      else await this.via.avoid(m, `${m.robot.name} was demoted`); // never worked through again
    });
  }

  /**
   * The leader must stop managing: its demotion is sent from a manager that stays one (after the
   * promotions), then the run waits for another node to lead and goes on through a staying manager.
   */
  private async handOver(leader: Member): Promise<void> {
    const id = leader.facts.swarm?.NodeID ?? '';
    const reason = this.plan.decisions.find((d) => d.name === leader.robot.name)?.reason ?? 'planned worker';
    try {
      await this.via.avoid(leader, `${leader.robot.name} hands over the lead`);
    } catch (err) {
      if (!(err instanceof NoManagerError)) throw err;
      this.fleet.failed(
        leader.robot.name,
        `is the leader and must stop managing (${reason}), but no other manager that stays one answers: it stays leader for now; run again when one does`,
      );
      return;
    }
    const from = this.via.current.robot.name;
    if (
      !(await this.forRobot(leader, () =>
        this.via.run((sudo) => nodeRoleCommand('demote', id, sudo), 'docker node demote (the leader)').then(() => undefined),
      ))
    )
      return;
    this.swarmChanged = true;
    this.fleet.changed(leader.robot.name, `handed over the lead: demoted to worker from ${from} (${reason})`);
    const successor = await this.waitForNewLeader(id);
    if (!successor) {
      this.fleet.failed(leader.robot.name, `no other node was Leader within ${LEADER_HANDOVER_WAIT_MS / 1000} s of its demotion`);
      return;
    }
    this.report.handOver = { from: leader.robot.name, to: successor };
    this.fleet.note(leader.robot.name, `${successor} leads now`);
    this.fleet.note(successor, `leads the swarm now (took over from ${leader.robot.name})`);
  }

  /** The robot (or node hostname) that leads once `oldId` is a worker, or null after the bounded wait. */
  private async waitForNewLeader(oldId: string): Promise<string | null> {
    for (const until = Date.now() + LEADER_HANDOVER_WAIT_MS; Date.now() < until; await sleep(1000)) {
      // A deliberate demotion is an election, not a lost quorum: keep waiting to the bound.
      const nodes = await this.via.nodes().catch((err: unknown) => {
        if (err instanceof QuorumLostError) return [];
        throw err;
      });
      const lead = nodes.find((n) => n.leader && n.id !== oldId);
      if (lead && nodes.find((n) => n.id === oldId)?.role === 'worker') {
        return this.usable.find((m) => m.facts.swarm?.NodeID === lead.id)?.robot.name ?? lead.hostname;
      }
    }
    return null;
  }

  /**
   * Labels follow the inventory: only the difference, one `docker node update` per node that needs
   * one; labels provision recorded as its own and no longer wants are removed, others' never.
   */
  private async label(m: Member, current: Record<string, string>): Promise<void> {
    const nodeId = m.facts.swarm?.NodeID;
    const update = labelUpdate(current, desiredLabels(m.robot, m.facts));
    if (!nodeId || isNoLabelUpdate(update)) return;
    await this.forRobot(m, async () => {
      await retryOutOfSequence(() =>
        this.via.run((sudo) => labelAddCommand(nodeId, update.add, sudo, update.remove), 'docker node update --label-add/--label-rm'),
      );
      this.swarmChanged = true;
      this.fleet.changed(m.robot.name, `labels: ${describeLabelUpdate(update)}`);
    });
  }

  private async joinManagers(joining: Member[]): Promise<void> {
    const currentManagers = this.nodes.filter((n) => n.role === 'manager').length;
    if (!joining.length) return;
    const phase = this.fleet.phase('joining managers', joining.length);
    try {
      for (const batch of managerJoinBatches(
        Math.max(1, currentManagers),
        joining.map((m) => m.robot.name),
      )) {
        await Promise.allSettled(
          batch.map((name) =>
            this.joinAndLabel(joining.find((m) => m.robot.name === name) as Member, 'manager').finally(() => phase.advance()),
          ),
        );
        if (this.stopping) return;
      }
    } finally {
      phase.finish();
    }
  }

  /**
   * Managers to join through, best first: those this run is connected to and still works through
   * (a manager that just went away still looks ready to the swarm for some seconds), then the ones
   * the swarm saw as reachable, then every planned manager.
   */
  private joinAddresses(): string[] {
    const connected = this.managerCandidates().map((m) => `${m.robot.ip}:${SWARM_PORT}`);
    const seen = this.nodes
      .filter((n) => n.role === 'manager' && n.state === 'ready' && n.reachability !== 'unreachable')
      .map((n) => `${n.addr}:${SWARM_PORT}`);
    return [...new Set([...connected, ...seen, ...this.managerAddrs])];
  }

  /** Join one robot and label it; true when it joined (the pacing widens on that). */
  private async joinAndLabel(m: Member, role: 'manager' | 'worker'): Promise<boolean> {
    try {
      const out = await m.conn.run(joinCommand(role, m.robot.ip, this.joinAddresses(), m.robot.sudo), `joining as ${role}`, {
        timeoutMs: JOIN_TIMEOUT_MS,
      });
      let id = /node=(\S+)/.exec(out)?.[1];
      // "will continue in the background": pending, not failed — wait for it while the fleet progresses.
      if (!id) id = await this.waitForPendingJoin(m);
      if (m.facts.swarm) m.facts.swarm.NodeID = id;
      this.lastJoinAt = Date.now();
      this.swarmChanged = true;
      this.joinedNow.add(m);
      if (role === 'manager') this.newManagers.add(m);
      this.fleet.joined(
        m.robot.name,
        out.includes('pending') ? `joined as ${role} (after a join that went on in the background)` : `joined as ${role}`,
      );
    } catch (err) {
      this.fleet.failed(m.robot.name, (err as Error).message);
      return false;
    }
    // It joined whatever happens to its labels; an error that stops the run is kept for apply().
    await this.label(m, {}).catch((err: unknown) => (this.stopping ??= err));
    return true;
  }

  /** Poll a robot whose join went on in the background until it is active; its node ID, or an error. */
  private async waitForPendingJoin(m: Member): Promise<string> {
    const since = Date.now();
    for (;;) {
      const join = parseJoinState(await m.conn.run(joinStateCommand(m.robot.sudo), 'reading the swarm state'));
      if (join.state === 'active' && join.nodeId) return join.nodeId;
      if (join.state !== 'pending')
        throw new Error(`the join ended in state ${join.state || 'unknown'}: ${join.error || 'no error given'}`);
      const verdict = pendingVerdict(Date.now(), since, this.lastJoinAt);
      if (verdict === 'stalled')
        throw new Error(
          `the join is still pending, and no robot of the fleet finished joining for ${PENDING_STALL_MS / 1000} s: check that the managers' port 2377 is reachable from this robot`,
        );
      if (verdict === 'too long')
        throw new Error(
          `the join is still pending after ${PENDING_CAP_MS / 60_000} min: check that the managers' port 2377 is reachable from this robot`,
        );
      await sleep(PENDING_JOIN_POLL_MS);
    }
  }

  /**
   * A robot that left and joined again leaves its old node behind as `down`. Remove such nodes —
   * only those at the address of a robot of the inventory that is in the swarm under another ID.
   * `members` are robots whose current node ID is in the fleet's swarm.
   */
  private async removeStaleNodes(members: Member[]): Promise<void> {
    for (const m of members) {
      const current = m.facts.swarm?.NodeID;
      if (!current) continue;
      // The robot's engine now is node `current`: any other node at its address is its former self.
      for (const stale of this.nodes.filter((n) => n.addr === m.robot.ip && n.id !== current)) {
        try {
          if (stale.role === 'manager') await this.via.run((sudo) => nodeRoleCommand('demote', stale.id, sudo), 'demoting a stale node');
          await this.via.run((sudo) => nodeRemoveCommand(stale.id, sudo), 'removing a stale node');
          this.swarmChanged = true;
          this.fleet.changed(m.robot.name, `removed its stale node ${stale.id.slice(0, 12)} (left behind when it left the swarm)`);
        } catch (err) {
          if (err instanceof NoManagerError) throw err;
          this.fleet.note(m.robot.name, `could not remove its stale node ${stale.id.slice(0, 12)}: ${(err as Error).message}`);
        }
      }
    }
  }

  private async finalReport(): Promise<void> {
    for (const robot of this.fleet.inventory.robots) {
      const node = this.nodeOf(robot);
      if (node) this.report.robotOfNode.set(node.id, robot.name);
    }
    for (const m of this.joinedNow) this.report.robotOfNode.set(m.facts.swarm?.NodeID ?? '', m.robot.name);
    this.report.nodes = this.swarmChanged ? await this.via.nodes() : this.nodes;
  }

  dryRunRest(): SwarmReport {
    for (const m of this.usable.filter((x) => this.mine(x)))
      for (const p of this.pendingFor(m)) this.fleet.changed(m.robot.name, `would ${p}`);
    this.noteOutsideLimit();
    void this.strangers(); // a dry run only reports (no await needed: it sends nothing)
    return this.report;
  }
}

/** Robots in another swarm than the fleet's are reported and left alone; the rest take part. */
function withoutForeign(fleet: Fleet, members: Member[], nodes: NodeInfo[]): Member[] {
  const nodeIds = new Set(nodes.map((n) => n.id));
  const foreign = members.filter((m) => inSwarm(m.facts) && !halfJoined(m.facts) && !nodeIds.has(m.facts.swarm?.NodeID ?? ''));
  for (const m of foreign) {
    const where = m.facts.swarm?.RemoteManagers?.map((r) => r.Addr).join(', ') || 'unknown managers';
    fleet.failed(
      m.robot.name,
      `in a different swarm than the fleet's (its managers: ${where}): left untouched. To bring it in, run \`docker swarm leave --force\` on it, then provision swarm again`,
    );
  }
  return members.filter((m) => !foreign.includes(m));
}

/** Rethrow the first rejection among settled pieces of work (each robot's own errors were reported already). */
function throwFirst(results: PromiseSettledResult<unknown>[]): void {
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

/** `docker node update` loses a race with the swarm's own updates of a node that just joined: retry it. */
async function retryOutOfSequence<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= 5 || !/update out of sequence/.test((err as Error).message)) throw err;
      await sleep(200 * attempt);
    }
  }
}

function chooseInitLeader(fleet: Fleet, members: Member[]): Member | undefined {
  const allowed = (m: Member) => m.robot.canBecomeLeader && m.robot.canBecomeManager && m.robot.role !== 'worker' && !inSwarm(m.facts);
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
function planOnly(fleet: Fleet, members: Member[], report: SwarmReport, leader: string): void {
  const plan = planRoles({ robots: planInput(fleet, members, () => undefined), managers: fleet.inventory.swarm.managers, leader });
  report.plan = plan;
  for (const d of plan.decisions) {
    if (!members.some((m) => m.robot.name === d.name) || d.name === leader) continue;
    fleet.changed(d.name, `would write ~/swarm_tokens (${d.role} token) and join as ${d.role} (${d.reason})`);
  }
}
