// The swarm phases' work after the plan (swarm.ts lists them), through a manager that may change (ManagerVia).
import type { Robot } from '../inventory/schema.js';
import {
  joinCommand,
  joinStateCommand,
  joinTokensCommand,
  nodesCommand,
  parseJoinState,
  parseNodes,
  labelAddCommand,
  leaveCommand,
  managerReadCommand,
  parseManagerRead,
  rotateTokenCommand,
  nodeRemoveCommand,
  nodeRoleCommand,
  syncTokensCommand,
  tokenFilesPayload,
  tokensInSync,
  type NodeInfo,
  type TokenFile,
} from '../remote/docker.js';
import { describeLabelUpdate, desiredLabels, isNoLabelUpdate, labelUpdate } from '../plan/labels.js';
import { managerJoinBatches, planRoles, roleChanges, type PlanRobot, type RolePlan } from '../plan/quorum.js';
import {
  goneManagers,
  joinFailure,
  joinOrder,
  pendingVerdict,
  runPaced,
  swarmCount,
  swarmProgressed,
  PENDING_CAP_MS,
  PENDING_STALL_MS,
  type SwarmCount,
} from '../plan/pacing.js';
import { Interrupted, pause } from '../interrupt.js';
import { redact } from '../log.js';
import { batch, splitBatch, type RemoteCommand } from '../remote/shell.js';
import { RemoteCommandError, type ExecResult } from '../ssh/connection.js';
import type { Fleet } from '../run/fleet.js';
import type { SwarmReport } from '../run/outcome.js';
import type { Phase as Progress } from '../progress.js';
import { StopRun, eachRobot } from '../run/phases.js';
import { backoffMs, pollUntil, retry } from '../run/retry.js';
import { ManagerVia, NoManagerError } from './managerVia.js';
import {
  QuorumLostError,
  fleetClusters,
  halfJoined,
  inSwarm,
  nodeOfRobot,
  strangersOf,
  withoutFalseClaims,
  type Member,
} from './swarmState.js';

const SWARM_PORT = 2377;
const JOIN_TIMEOUT_MS = 90_000;
/** Label updates sent in one remote call at the end of a run (more: several calls side by side). */
const LABELS_PER_CALL = 16;
/** After the leader's demotion the managers elect another within seconds on the lab; give it a minute. */
const LEADER_HANDOVER_WAIT_MS = 60_000;
/**
 * How joins wait (the stand-in tests shrink these): a pending join's state is read every `pollMs`;
 * while joins wait, the node list is read for the whole fleet at most every `lookMs` (progress); a
 * join that failed for a passing reason is sent again after `retryMs`, doubling up to `retryMaxMs`.
 */
export const joinTiming = {
  pollMs: 3000,
  lookMs: 10_000,
  retryMs: 2000,
  retryMaxMs: 15_000,
  stallMs: PENDING_STALL_MS,
  capMs: PENDING_CAP_MS,
};

export type RotateWhich = 'worker' | 'manager' | 'both';

/** What the plan still wants of a robot, by phase (a dry run's lines, --limit's notes). */
type Pending = { kind: 'clean' | 'manager' | 'worker' | 'promote' | 'demote' | 'labels'; text: string };

export class Formation {
  private swarmChanged = false; // when nothing changed, the node list read at the start is the final one
  private readonly joinedNow = new Set<Member>();
  private readonly labelled = new Set<Member>(); // labelled, or tried (labelTogether)
  /** Each manager join round's labels, one call each, sent while the next round joins (see joinManagers). */
  private readonly labelling: Promise<void>[] = [];
  /** An error that stops the run met while labelling a node that just joined: thrown once the joins settle. */
  private stopping: StopRun | null = null;
  private readonly newManagers = new Set<Member>(); // joined as or promoted to manager in this run
  /** The swarm's latest progress (pacing.ts): joins that wait or retry go on while this moves. */
  private lastProgress = Date.now();
  private bestCount: SwarmCount;
  private looking: Promise<void> | null = null;
  private lastLook = 0;
  /** No leader for listNodes' 30 s at a look: joins waiting for progress stop the run with it rather than wait out the stall. */
  private quorumLost: QuorumLostError | null = null;
  /** Managers' swarm addresses a join found closed in this run (pacing.ts goneManagers): tried last. */
  private readonly goneAddrs = new Set<string>();
  private readonly planRobots: PlanRobot[];
  private readonly managerAddrs: string[];
  /** `held`: demotions --limit holds back, and the promotions they wait for. */
  private readonly changes: ReturnType<typeof roleChanges> & { held: { demote: string[]; promote: string[] } };
  private tokens = { worker: '', manager: '' };
  /** The join-tokens answer read with the node list (see nodesAndTokens); gone once a token is rotated. */
  private tokensRead: string | undefined;
  /**
   * Robots not failed when the plan was made: their nodes' role changes and labels go ahead even when
   * another of their phases fails later in the run (a failed label must not keep the leader from handing over).
   */
  private readonly okAtPlan: Set<string>;

  private constructor(
    private readonly fleet: Fleet,
    private readonly report: SwarmReport,
    private readonly usable: Member[],
    private readonly nodes: NodeInfo[],
    private readonly plan: RolePlan,
    private readonly via: ManagerVia,
    private readonly currentLeader: Member | undefined,
    private readonly disputed: readonly string[],
  ) {
    this.planRobots = planInput(fleet, usable, (r) => this.nodeOf(r));
    this.managerAddrs = plan.managers.map((name) => `${fleet.inventory.robots.find((r) => r.name === name)?.ip}:${SWARM_PORT}`);
    this.changes = this.limitedRoleChanges();
    this.okAtPlan = new Set(usable.filter((m) => this.ok(m)).map((m) => m.robot.name));
    this.bestCount = swarmCount(nodes);
  }

  /** The plan phase; `known`: the node list read already (with swarm init). */
  static async start(fleet: Fleet, members: Member[], report: SwarmReport, found: Member, known?: NodeInfo[]): Promise<Formation> {
    // Until the plan exists, the managers of the fleet's cluster (by their own facts) stand in.
    let candidates: () => Member[] = () => fleetClusters(fleet, members)[0]?.[1] ?? [];
    const via = new ManagerVia(fleet, found, () => candidates());
    const early = known ? null : (openedManagerRead(fleet, found) ?? (await nodesAndTokens(found)));
    const nodes = known ?? early?.nodes ?? (await via.nodes());
    report.nodes = nodes; // what could be read, should the run stop later
    const inFleet = withoutForeign(fleet, members, nodes);
    const usable = withoutFalseClaims(fleet, inFleet, nodes);
    // Nodes a refused robot claims are left alone: never pruned as stale or as drift.
    const refused = inFleet.filter((m) => !usable.includes(m));
    const disputed = refused.map((m) => m.facts.swarm?.NodeID ?? '');
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
    const leader = usable.find((m) => m.robot.name === leaderRobot?.name);
    const formation = new Formation(fleet, report, usable, nodes, plan, via, leader, disputed);
    formation.tokensRead = early?.tokens;
    candidates = () => formation.managerCandidates();
    // Work through a manager that stays one (the leader first); the leader to hand over only if none does.
    via.current = formation.managerCandidates()[0] ?? found;
    // Never through a robot refused for its node's identity: with no other manager, the run stops here.
    if (refused.includes(via.current)) await via.avoid(via.current, `${via.current.robot.name}'s node is not its own`);
    formation.noteHeldDemotions(); // now: a run that stops early still says why
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

  private inFleet(m: Member): boolean {
    return this.nodes.some((n) => n.id === m.facts.swarm?.NodeID);
  }

  private member(name: string): Member {
    return this.usable.find((m) => m.robot.name === name) as Member;
  }

  /** `since: 'plan'`: robots not failed when the plan was made (see okAtPlan); else those not failed now. */
  private names(test: (m: Member) => boolean, since: 'now' | 'plan' = 'now'): string[] {
    const ok = (m: Member) => (since === 'plan' ? this.okAtPlan.has(m.robot.name) : this.ok(m));
    return this.usable.filter((m) => ok(m) && this.mine(m) && test(m)).map((m) => m.robot.name);
  }

  private roleOf(name: string): 'manager' | 'worker' {
    return this.plan.decisions.find((d) => d.name === name)?.role ?? 'worker';
  }

  /** Connected managers, best first: staying ones (the leader first), new ones, then any other. */
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

  async rotateTokens(which: RotateWhich): Promise<void> {
    this.tokensRead = undefined;
    for (const role of which === 'both' ? (['worker', 'manager'] as const) : [which]) {
      await this.via.run((sudo) => rotateTokenCommand(role, sudo), `rotating the ${role} join token`);
      this.fleet.note(this.via.current.robot.name, `rotated the ${role} join token`);
    }
  }

  tokenRobots(): string[] {
    return this.usable.filter((m) => this.mine(m)).map((m) => m.robot.name);
  }

  /** `known`: the join-tokens answer read already (with swarm init). */
  async readTokens(known?: string): Promise<void> {
    const answer = known ?? this.tokensRead ?? (await this.via.run(joinTokensCommand, 'reading join tokens'));
    const [worker, manager] = answer.trim().split('\n');
    if (!worker || !manager) throw new Error(`could not read the join tokens from ${this.via.current.robot.name}`);
    this.tokens = { worker, manager };
  }

  /** A robot that joins in this run gets its token files with the join, in the same remote call (see join). */
  joinsLater(name: string): boolean {
    const m = this.member(name);
    return !this.fleet.options.dryRun && this.ok(m) && (!inSwarm(m.facts) || halfJoined(m.facts)); // the half-joined leave first
  }

  /** Only the token of its planned role, plus where to join; null when the facts' digests show them in place. */
  private tokenFiles(m: Member): Partial<Record<TokenFile, string>> | null {
    const role = this.roleOf(m.robot.name);
    const files: Partial<Record<TokenFile, string>> = {
      [`${role}_token`]: this.tokens[role] + '\n',
      join_addresses: this.managerAddrs.join('\n') + '\n',
      advertise_addr: m.robot.ip + '\n', // for the boot-time join (templates/provision-join.sh)
    };
    return tokensInSync(m.facts.tokens, files) ? null : files;
  }

  async writeTokens(name: string): Promise<void> {
    const m = this.member(name);
    const dry = this.fleet.options.dryRun;
    const files = this.tokenFiles(m);
    if (!files) return; // the facts carried their digests: nothing to send
    const out = await m.conn.run(syncTokensCommand(dry), 'writing ~/swarm_tokens', { stdin: tokenFilesPayload(files) });
    this.tokensWritten(name, out);
  }

  private tokensWritten(name: string, out: string): void {
    const dry = this.fleet.options.dryRun;
    const changed = out
      .split('\n')
      .filter((l) => /^(changed|removed):/.test(l))
      .map((l) => l.replace(':', ' '));
    if (changed.length) this.fleet.changed(name, `~/swarm_tokens: ${dry ? 'would have ' : ''}${changed.join(', ')}`);
  }

  halfJoinedRobots(): string[] {
    return this.names((m) => halfJoined(m.facts));
  }

  /** A join that never finished (see halfJoined): leave, and join again later. */
  async cleanHalfJoined(name: string): Promise<void> {
    const { conn, robot, facts } = this.member(name);
    const swarm = facts.swarm;
    if (!swarm) return;
    const was = `state ${swarm.LocalNodeState}${swarm.Error ? `: ${swarm.Error}` : ''}`;
    try {
      await conn.run(leaveCommand(robot.sudo), 'leaving an interrupted join');
    } catch (err) {
      throw new Error(`an interrupted join (${was}) could not be cleaned up: ${(err as Error).message}`);
    }
    swarm.LocalNodeState = 'inactive';
    this.fleet.changed(name, `cleaned up an interrupted join (${was}) with docker swarm leave --force; it joins again`);
  }

  /**
   * Under --limit only the named robots' role changes, and their demotions wait (`held`) while a
   * promotion of the plan is outside it: the manager count never drops below the plan because of --limit.
   */
  private limitedRoleChanges(): Formation['changes'] {
    const all = roleChanges(this.plan, this.planRobots, this.currentLeader?.robot.name);
    if (!this.fleet.options.limit) return { ...all, held: { demote: [], promote: [] } };
    const inLimit = (n: string) => this.fleet.inLimit(n);
    const heldPromotions = all.promote.filter((n) => !inLimit(n));
    const demotions = [...all.demote, ...(all.handOver ? [all.handOver] : [])].filter(inLimit);
    const held = { demote: demotions, promote: heldPromotions };
    if (heldPromotions.length) return { promote: all.promote.filter(inLimit), demote: [], handOver: null, held };
    return {
      promote: all.promote.filter(inLimit),
      demote: all.demote.filter(inLimit),
      handOver: all.handOver && inLimit(all.handOver) ? all.handOver : null,
      held: { demote: [], promote: [] },
    };
  }

  promotions(): string[] {
    return this.names((m) => this.inFleet(m) && this.changes.promote.includes(m.robot.name), 'plan');
  }

  /** The leader's demotion (a hand-over) last: all else is done, so the node elected next is one that stays. */
  demotions(): string[] {
    const leaving = this.changes.handOver;
    return this.names((m) => this.inFleet(m) && this.changes.demote.includes(m.robot.name), 'plan').concat(
      this.names((m) => this.inFleet(m) && m.robot.name === leaving, 'plan'),
    );
  }

  /** One robot after the other (promotions before any demotion). */
  async changeRoles(names: readonly string[], change: 'promote' | 'demote', progress: Progress): Promise<void> {
    for (const name of names) {
      if (name === this.changes.handOver) await this.handOver(this.member(name));
      else await this.changeRole(this.member(name), change);
      progress.advance();
    }
  }

  /** Its error fails the robot, unless it stops the run. */
  private async forRobot(m: Member, work: () => Promise<void>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (err) {
      if (err instanceof StopRun) throw err;
      this.fleet.failed(m.robot.name, (err as Error).message);
      return false;
    }
  }

  private async changeRole(m: Member, change: 'promote' | 'demote'): Promise<void> {
    await this.forRobot(m, async () => {
      await this.via.run((sudo) => nodeRoleCommand(change, m.facts.swarm?.NodeID ?? '', sudo), `docker node ${change}`);
      this.swarmChanged = true;
      this.fleet.changed(m.robot.name, `${change}d to ${change === 'promote' ? 'manager' : 'worker'}`);
      if (change === 'promote') this.managerUp(m);
      else await this.via.avoid(m, `${m.robot.name} was demoted`); // never worked through again
    });
  }

  /** The leader is demoted from a manager that stays one (after the promotions); the run waits for another leader. */
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
    const demote = () => this.via.run((sudo) => nodeRoleCommand('demote', id, sudo), 'docker node demote (the leader)');
    if (!(await this.forRobot(leader, () => demote().then(() => undefined)))) return;
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

  /** The robot (or node hostname) leading once `oldId` is a worker; null after the wait. */
  private async waitForNewLeader(oldId: string): Promise<string | null> {
    const successor = await pollUntil(
      async () => {
        // A deliberate demotion is an election, not a lost quorum: keep waiting to the bound.
        const nodes = await this.via.nodes().catch((err: unknown) => {
          if (err instanceof QuorumLostError) return [];
          throw err;
        });
        const lead = nodes.find((n) => n.leader && n.id !== oldId);
        if (!lead || nodes.find((n) => n.id === oldId)?.role !== 'worker') return undefined;
        return this.usable.find((m) => m.facts.swarm?.NodeID === lead.id)?.robot.name ?? lead.hostname;
      },
      1000,
      LEADER_HANDOVER_WAIT_MS,
    );
    return successor ?? null;
  }

  toJoin(role: 'manager' | 'worker'): string[] {
    return this.names((m) => !inSwarm(m.facts) && this.roleOf(m.robot.name) === role);
  }

  /** Managers join in quorum-safe batches (1→3, then 2 at a time). */
  async joinManagers(names: readonly string[], progress: Progress): Promise<void> {
    const currentManagers = this.nodes.filter((n) => n.role === 'manager').length;
    for (const batch of managerJoinBatches(Math.max(1, currentManagers), [...names])) {
      await eachRobot(this.fleet, batch, async (name) => void (await this.join(this.member(name), 'manager')), progress);
      if (this.stopping) throw this.stopping;
      // The round's labels in one call, not waited for: the next round needs only the joins.
      const joined = batch.map((n) => this.member(n)).filter((m) => this.joinedNow.has(m));
      const labelled = this.labelTogether(joined).then(
        () => undefined,
        (err: unknown) => void this.stopOrFail(err, joined),
      );
      // Awaited in settleLabels; a run that stops before (Ctrl-C rethrown here, a lost quorum) must not crash on it.
      labelled.catch(() => undefined);
      this.labelling.push(labelled);
    }
  }

  /**
   * Workers join after the managers, paced (src/plan/pacing.ts): joining during the manager rounds was
   * faster at 10 robots, but on the 2-core lab at 50 it starved the joining managers.
   */
  async joinWorkers(names: readonly string[], progress: Progress): Promise<void> {
    await runPaced(names, (name) => this.join(this.member(name), 'worker').finally(() => progress.advance()));
    if (this.stopping) throw this.stopping;
    if (this.quorumLost) throw this.quorumLost; // runPaced counts a stopped join as a failed one
  }

  /**
   * Managers to join through, best first: those this run still works through (one that just went away
   * still looks ready to the swarm for seconds), then those the swarm saw reachable, then every planned one.
   */
  private joinAddresses(): string[] {
    return joinOrder([...new Set([...this.managersNow(), ...this.managerAddrs])], this.goneAddresses());
  }

  /** The managers' swarm addresses: those this run works through, then those the swarm saw reachable. */
  private managersNow(): string[] {
    const connected = this.managerCandidates().map((m) => `${m.robot.ip}:${SWARM_PORT}`);
    const seen = this.nodes
      .filter((n) => n.role === 'manager' && n.state === 'ready' && n.reachability !== 'unreachable')
      .map((n) => `${n.addr}:${SWARM_PORT}`);
    return [...connected, ...seen];
  }

  /**
   * A pending join through `through` is left when that manager is gone and another is not: with every
   * manager "gone" (as one robot's own link may say of all), a new join would only go to them again.
   */
  private joinGoesElsewhere(through: string): boolean {
    const gone = this.goneAddresses();
    return gone.has(through) && this.managersNow().some((a) => !gone.has(a));
  }

  /**
   * A manager now (joined or promoted in this run): its swarm port answers, whatever a join found before
   * (a planned manager's port is closed until it joins: not gone, only not yet there).
   */
  private managerUp(m: Member): void {
    this.newManagers.add(m);
    this.goneAddrs.delete(`${m.robot.ip}:${SWARM_PORT}`);
  }

  /** Managers' swarm addresses found closed by a join, and those of managers this run dropped (docker or connection lost). */
  private goneAddresses(): Set<string> {
    const lost = this.usable.filter((m) => this.via.isDropped(m));
    return new Set([...this.goneAddrs, ...lost.map((m) => `${m.robot.ip}:${SWARM_PORT}`)]);
  }

  /** True when it joined (the pacing widens on that); its error fails it only. */
  private async join(m: Member, role: 'manager' | 'worker'): Promise<boolean> {
    const joined = await this.forRobot(m, async () => {
      const { id, how } = await this.joinNode(m, role);
      if (m.facts.swarm) m.facts.swarm.NodeID = id;
      this.progressed();
      this.swarmChanged = true;
      this.joinedNow.add(m);
      if (role === 'manager') this.managerUp(m);
      this.fleet.joined(m.robot.name, `joined as ${role}${how}`);
    });
    // Its labels follow: with its round's (managers) or in the run's last call (workers); it joined whatever they do.
    return joined;
  }

  /** The join, after its token files (when they differ) in the same remote call: the token only on stdin. */
  private async withTokens(m: Member, join: RemoteCommand, what: string): Promise<string> {
    const files = this.tokenFiles(m);
    if (!files) return m.conn.run(join, what, { timeoutMs: JOIN_TIMEOUT_MS });
    const both = batch([syncTokensCommand(false), join], { stopOnFailure: true });
    const result = await m.conn.exec(both, { timeoutMs: JOIN_TIMEOUT_MS, stdin: tokenFilesPayload(files) });
    const [sync, joined] = splitBatch(result, both.parts) as [ExecResult, ExecResult];
    if (sync.code !== 0) throw new RemoteCommandError(m.robot.name, 'writing ~/swarm_tokens', sync);
    this.tokensWritten(m.robot.name, sync.stdout);
    if (joined.code !== 0) throw new RemoteCommandError(m.robot.name, what, joined);
    return joined.stdout;
  }

  /**
   * The join, sent again while it fails for a passing reason (pacing.ts joinFailure: a loaded or
   * electing swarm) and the swarm progresses; a join docker goes on with in the background (`pending`,
   * also after a failed answer) is waited for on the same terms. A refusal fails at once.
   */
  private async joinNode(m: Member, role: 'manager' | 'worker'): Promise<{ id: string; how: string }> {
    const since = Date.now();
    const background = ' (after a join that went on in the background)';
    for (let attempt = 1; ; attempt++) {
      if (this.quorumLost) throw this.quorumLost; // no join can finish without a leader: none sent
      let out = '';
      let failure = 'the join docker went on with in the background ended without joining';
      try {
        const command = joinCommand(role, m.robot.ip, this.joinAddresses(), m.robot.sudo);
        out = await this.withTokens(m, command, `joining as ${role}`);
      } catch (err) {
        if (err instanceof Interrupted || err instanceof StopRun) throw err;
        failure = (err as Error).message;
        // The script's whole stderr: one answer per manager tried (the message keeps the last three).
        const answers = err instanceof RemoteCommandError ? err.result.stderr : failure;
        for (const addr of goneManagers(answers)) this.goneAddrs.add(addr);
        const kind = joinFailure(answers);
        if (kind === 'refused') throw err;
        if (kind === 'gone')
          throw new Error(
            `${failure}: no manager it was sent to answers on TCP ${SWARM_PORT} (its docker stopped, the robot is down, or it is no manager); not retried`,
          );
      }
      const id = /node=(\S+)/.exec(out)?.[1];
      if (id) return { id, how: attempt > 1 ? ` (at attempt ${attempt})` : '' };
      // Pending, or a failed answer after which docker may have gone on with it: joined, or still at it.
      const later = await this.waitForPendingJoin(m, since, /^pending (\S+)/m.exec(out)?.[1]);
      if (later) return { id: later, how: background };
      const verdict = this.verdict(since);
      if (verdict !== 'wait') throw new Error(this.stuckMessage(verdict, `the join failed ${attempt} times, the last: ${failure}`));
      void this.lookAtSwarm();
      await pause(backoffMs({ baseMs: joinTiming.retryMs, maxMs: joinTiming.retryMaxMs }, attempt));
    }
  }

  /** pacing.ts pendingVerdict; a lost quorum seen by a look stops the run (no join can finish without a leader). */
  private verdict(since: number): ReturnType<typeof pendingVerdict> {
    if (this.quorumLost) throw this.quorumLost;
    return pendingVerdict(Date.now(), since, this.lastProgress, joinTiming);
  }

  private stuckMessage(verdict: 'stalled' | 'too long', what: string): string {
    const check = "check that the managers' port 2377 is reachable from this robot";
    return verdict === 'stalled'
      ? `${what}; the swarm made no progress (no join finished, no node came in or up) for ${joinTiming.stallMs / 1000} s: ${check}`
      : `${what}; still not joined after ${joinTiming.capMs / 60_000} min: ${check}`;
  }

  /** A join of this run finished. */
  private progressed(): void {
    this.lastProgress = Date.now();
  }

  /**
   * Progress of the swarm as the managers see it (more nodes, or more ready: joins finishing anywhere),
   * read only while some join waits, at most once per joinTiming.lookMs for the whole fleet. A read that
   * fails is no progress; one that found no leader for 30 s (QuorumLostError) stops the run at the
   * joins' next look at their verdict, not after the stall time.
   */
  private lookAtSwarm(): Promise<void> {
    if (this.looking || Date.now() - this.lastLook < joinTiming.lookMs) return this.looking ?? Promise.resolve();
    this.lastLook = Date.now();
    this.looking = this.via
      .nodes()
      .then((nodes) => {
        const now = swarmCount(nodes);
        if (swarmProgressed(this.bestCount, now)) this.progressed();
        this.bestCount = { nodes: Math.max(now.nodes, this.bestCount.nodes), ready: Math.max(now.ready, this.bestCount.ready) };
      })
      .catch((err: unknown) => {
        if (err instanceof QuorumLostError) this.quorumLost ??= err;
      })
      .finally(() => (this.looking = null));
    return this.looking;
  }

  /**
   * The node ID once the join is active; null when the robot is not joining (inactive); waits while pending.
   * `through`: the manager the pending join goes to (docker knows no other): once this run finds it gone
   * (its docker stopped, its port closed), the join is left and sent again through the others at once.
   */
  private async waitForPendingJoin(m: Member, since: number, through?: string): Promise<string | null> {
    const id = await pollUntil(
      async () => {
        const join = parseJoinState(await m.conn.run(joinStateCommand(m.robot.sudo), 'reading the swarm state'));
        if (join.state === 'active' && join.nodeId) return join.nodeId;
        if (join.state === 'inactive') return null;
        if (join.state === 'error') return this.cleanFailedJoin(m, join.error);
        if (join.state !== 'pending')
          throw new Error(`the join ended in state ${join.state || 'unknown'}: ${join.error || 'no error given'}`);
        if (through && this.joinGoesElsewhere(through)) return this.leaveJoinTo(m, through);
        const verdict = this.verdict(since);
        if (verdict !== 'wait') throw new Error(this.stuckMessage(verdict, 'the join is still pending'));
        void this.lookAtSwarm();
        return undefined;
      },
      joinTiming.pollMs,
      Infinity, // pendingVerdict bounds the wait
    );
    return id ?? null;
  }

  /** A pending join through a manager that is gone: left, so that it can join through another. */
  private async leaveJoinTo(m: Member, through: string): Promise<null> {
    await m.conn.run(leaveCommand(m.robot.sudo), 'leaving a join through a manager that is gone');
    this.fleet.note(m.robot.name, `its join waited on ${through}, a manager that is gone: left, to join through another`);
    return null;
  }

  /** A join docker gave up in the background leaves the node in state `error`: left, so that it can join again. */
  private async cleanFailedJoin(m: Member, error: string): Promise<null> {
    await m.conn.run(leaveCommand(m.robot.sudo), 'leaving a failed join');
    this.fleet.note(
      m.robot.name,
      `its join failed in the background (${error || 'no error given'}): left with docker swarm leave --force, to join again`,
    );
    return null;
  }

  /** None on a node that joined in this run. */
  private labelsNow(m: Member): Record<string, string> {
    if (this.joinedNow.has(m)) return {};
    return this.nodes.find((n) => n.id === m.facts.swarm?.NodeID)?.labels ?? {};
  }

  toLabel(): string[] {
    return this.names(
      (m) =>
        Boolean(m.facts.swarm?.NodeID) &&
        !this.labelled.has(m) &&
        (this.joinedNow.has(m) ? this.ok(m) : this.inFleet(m)) && // a join's failed label is not tried twice
        !isNoLabelUpdate(labelUpdate(this.labelsNow(m), desiredLabels(m.robot, m.facts))),
      'plan',
    );
  }

  /**
   * Labels follow the inventory: one `docker node update` with the difference; only labels provision
   * recorded as its own are removed. It loses races with the swarm's updates of a node just joined: retried.
   */
  async label(name: string): Promise<void> {
    const m = this.member(name);
    const nodeId = m.facts.swarm?.NodeID ?? '';
    const update = labelUpdate(this.labelsNow(m), desiredLabels(m.robot, m.facts));
    if (!nodeId || isNoLabelUpdate(update)) return;
    const send = () =>
      this.via.run((sudo) => labelAddCommand(nodeId, update.add, sudo, update.remove), 'docker node update --label-add/--label-rm');
    await retry(send, { attempts: 5, baseMs: 200, retryIf: (err) => /update out of sequence/.test((err as Error).message) });
    this.wasLabelled(m, update);
  }

  private wasLabelled(m: Member, update: ReturnType<typeof labelUpdate>): void {
    this.swarmChanged = true;
    this.labelled.add(m);
    this.fleet.changed(m.robot.name, `labels: ${describeLabelUpdate(update)}`);
  }

  /**
   * The label updates of `members` in one remote call through the current manager (each answered
   * apart), `after` last in it; a label that failed there goes again alone (label: its retries and
   * manager switches). `send`: how the call goes (default: on its own). `after`'s answer, if sent.
   */
  private async labelTogether(
    members: readonly Member[],
    after?: (sudo: boolean) => RemoteCommand,
    send?: (manager: Member, parts: RemoteCommand[]) => Promise<ExecResult[]>,
  ): Promise<ExecResult | null> {
    const manager = this.via.current;
    const sudo = manager.robot.sudo;
    const due = members
      .map((m) => ({ m, nodeId: m.facts.swarm?.NodeID ?? '', update: labelUpdate(this.labelsNow(m), desiredLabels(m.robot, m.facts)) }))
      .filter((d) => d.nodeId && !isNoLabelUpdate(d.update) && !this.labelled.has(d.m));
    for (const d of due) this.labelled.add(d.m); // tried once here (a failed one is not tried again later)
    const parts = [...due.map((d) => labelAddCommand(d.nodeId, d.update.add, sudo, d.update.remove)), ...(after ? [after(sudo)] : [])];
    if (!parts.length) return null;
    const alone = async (m: Member, ps: RemoteCommand[]) => {
      const call = batch(ps);
      return splitBatch(await m.conn.exec(call), call.parts);
    };
    let lost = '';
    const answers = await (send ?? alone)(manager, parts).catch((err: unknown) => {
      if (err instanceof Interrupted) throw err;
      lost = (err as Error).message;
      return [] as ExecResult[]; // none answered
    });
    const failed = due.map((d, i) => ({ ...d, r: answers[i] })).filter((d) => d.r?.code !== 0);
    for (const d of due) if (!failed.some((x) => x.m === d.m)) this.wasLabelled(d.m, d.update);
    // As ManagerVia.run would: the manager replaced or the lead followed, then sent again alone; else failed.
    const again: Member[] = [];
    for (const d of failed) {
      const why = d.r?.stderr ?? lost;
      const what = 'docker node update --label-add/--label-rm';
      if (/update out of sequence/.test(why) || (await this.via.recover(manager, why))) again.push(d.m);
      // No answer at all (the call lost, not as a manager loss): the label's fate is unknown, the robot fails as label would.
      else
        this.fleet.failed(
          d.m.robot.name,
          d.r
            ? new RemoteCommandError(manager.robot.name, `${what} (on ${manager.robot.name})`, d.r).message
            : `${what} (on ${manager.robot.name}): ${lost}`,
        );
    }
    let stop: unknown = null;
    await Promise.all(again.map((m) => this.label(m.robot.name).catch((err: unknown) => void (stop ??= this.stopOrFail(err, [m])))));
    if (stop) throw stop;
    return after && !failed.length ? (answers[due.length] ?? null) : null; // after a label went again: read anew
  }

  /** Labels due now, in one call, when demotions follow (they wait for no label; see finalReport). */
  async labelBeforeDemotions(): Promise<void> {
    if (this.demotions().length) await this.labelTogether(this.toLabel().map((n) => this.member(n)));
  }

  /** A StopRun (returned, to throw once the joins settle); any other error fails `members`. */
  private stopOrFail(err: unknown, members: readonly Member[]): StopRun | null {
    if (err instanceof StopRun) return (this.stopping ??= err);
    if (err instanceof Interrupted) throw err;
    for (const m of members) this.fleet.failed(m.robot.name, (err as Error).message);
    return null;
  }

  /** The manager rounds' labels, sent while others joined: settled before the run's last call. */
  async settleLabels(): Promise<void> {
    await Promise.all(this.labelling);
    if (this.stopping) throw this.stopping;
  }

  /**
   * A robot that left and joined again leaves its old node behind, `down`: nodes at an inventory
   * robot's address under another ID than its own are removed. Then the drift (strangers).
   */
  async prune(): Promise<void> {
    const current = this.usable.filter((m) => this.mine(m) && (this.joinedNow.has(m) || this.inFleet(m)));
    for (const m of current) {
      const id = m.facts.swarm?.NodeID;
      for (const stale of this.nodes.filter((n) => id && n.addr === m.robot.ip && n.id !== id && !this.disputed.includes(n.id))) {
        const short = stale.id.slice(0, 12);
        const done = await this.removeNode(stale, 'a stale node');
        if (done === true) this.fleet.changed(m.robot.name, `removed its stale node ${short} (left behind when it left the swarm)`);
        else this.fleet.note(m.robot.name, `could not remove its stale node ${short}: ${done}`);
      }
    }
    await this.strangers();
  }

  /** True, or why it could not be removed. */
  private async removeNode(n: NodeInfo, what: string): Promise<true | string> {
    try {
      if (n.role === 'manager') await this.via.run((sudo) => nodeRoleCommand('demote', n.id, sudo), `demoting ${what}`);
      await this.via.run((sudo) => nodeRemoveCommand(n.id, sudo), `removing ${what}`);
      this.swarmChanged = true;
      return true;
    } catch (err) {
      if (err instanceof NoManagerError) throw err;
      return redact((err as Error).message);
    }
  }

  /** Drift: removed only with --prune and without --limit (they are no named robot's). */
  async strangers(): Promise<void> {
    const found = strangersOf(this.fleet, this.usable, this.nodes).filter((n) => !this.disputed.includes(n.id));
    if (!found.length) return;
    const what = (n: NodeInfo) => `${n.hostname || '?'} (${n.id.slice(0, 12)}, ${n.addr}, ${n.role}, ${n.state})`;
    const { prune, limit, dryRun } = this.fleet.options;
    if (!prune || limit || dryRun) {
      const verdict =
        prune && !limit
          ? 'would remove (--prune)'
          : prune
            ? 'kept (--prune does not remove nodes under --limit)'
            : 'kept; --prune removes them';
      const count = `${found.length} node${found.length === 1 ? '' : 's'}`;
      this.report.notes.push(`drift: ${count} of no inventory robot: ${found.map(what).join(', ')} — ${verdict}`);
      return;
    }
    for (const n of found) {
      const done = await this.removeNode(n, 'a node of no inventory robot');
      this.report.notes.push(
        done === true ? `drift: removed node ${what(n)} (no inventory robot; --prune)` : `drift: could not remove node ${what(n)}: ${done}`,
      );
    }
  }

  private pendingFor(m: Member): Pending[] {
    const d = this.plan.decisions.find((x) => x.name === m.robot.name);
    if (!d || !this.ok(m)) return [];
    const node = this.nodeOf(m.robot);
    const out: Pending[] = [];
    if (halfJoined(m.facts))
      out.push({
        kind: 'clean',
        text: `clean up an interrupted join (state ${m.facts.swarm?.LocalNodeState}) with docker swarm leave --force`,
      });
    if (!node) out.push({ kind: d.role, text: `write ~/swarm_tokens (${d.role} token) and join as ${d.role} (${d.reason})` });
    else if (node.role !== d.role)
      out.push({
        kind: d.role === 'manager' ? 'promote' : 'demote',
        text: `${d.role === 'manager' ? 'promote' : 'demote'} to ${d.role} (${d.reason})`,
      });
    const update = node ? labelUpdate(node.labels, desiredLabels(m.robot, m.facts)) : null;
    if (update && !isNoLabelUpdate(update)) out.push({ kind: 'labels', text: `update labels: ${describeLabelUpdate(update)}` });
    return out;
  }

  wouldDo(kind: Pending['kind']): void {
    for (const m of this.usable.filter((x) => this.mine(x)))
      for (const p of this.pendingFor(m)) if (p.kind === kind) this.fleet.changed(m.robot.name, `would ${p.text}`);
  }

  /** Under --limit: what the others would need. */
  noteLimit(): void {
    if (!this.fleet.options.limit) return;
    for (const m of this.usable.filter((x) => !this.mine(x))) {
      const pending = this.pendingFor(m).map((p) => p.text);
      if (pending.length) this.fleet.note(m.robot.name, `outside --limit, not changed; would ${pending.join('; ')}`);
    }
  }

  private noteHeldDemotions(): void {
    const { demote, promote } = this.changes.held;
    for (const n of this.fleet.options.dryRun ? [] : demote)
      this.fleet.note(n, `not demoted: the plan promotes ${promote.join(', ')} first, outside --limit (add it to --limit, or run without)`);
  }

  /**
   * The labels still due (workers that joined, nodes already in) and the node list for the report, in
   * one call: the list read again only if this run changed the swarm. `send`: how that call goes (up
   * sends it with the manager's last call, see runUp).
   */
  async finalReport(send?: (manager: Member, parts: RemoteCommand[]) => Promise<ExecResult[]>): Promise<void> {
    for (const robot of this.fleet.inventory.robots) {
      const node = this.nodeOf(robot);
      if (node) this.report.robotOfNode.set(node.id, robot.name);
    }
    for (const m of this.joinedNow) this.report.robotOfNode.set(m.facts.swarm?.NodeID ?? '', m.robot.name);
    const due = this.toLabel().map((n) => this.member(n));
    if (!due.length && !this.swarmChanged) return void (this.report.nodes = this.nodes);
    // Many at once (hundreds of workers): all but the last few first, in calls side by side, not in a row in one.
    const last = due.slice(-LABELS_PER_CALL);
    const chunks = [];
    for (let i = 0; i < due.length - last.length; i += LABELS_PER_CALL) chunks.push(due.slice(i, i + LABELS_PER_CALL));
    await Promise.all(chunks.map((c) => this.labelTogether(c)));
    const listed = await this.labelTogether(last, nodesCommand, send);
    this.report.nodes = listed?.code === 0 ? parseNodes(listed.stdout) : await this.via.nodes();
  }
}

/**
 * The node list and the join tokens from `manager` in one remote call (the tokens phase then asks
 * nothing); null when that fails: ManagerVia.nodes then reads the list with its waits and hand-overs.
 */
export async function nodesAndTokens(manager: Pick<Member, 'robot' | 'conn'>): Promise<{ nodes: NodeInfo[]; tokens: string } | null> {
  const both = batch([nodesCommand(manager.robot.sudo), joinTokensCommand(manager.robot.sudo)], { stopOnFailure: true });
  const result = await manager.conn.exec(both).catch(() => null);
  if (result?.code !== 0) return null;
  const [nodes, tokens] = splitBatch(result, both.parts) as [ExecResult, ExecResult];
  // Each part on its own: splitBatch fails a part over its output limit in a call that exited 0.
  if (nodes.code !== 0 || tokens.code !== 0) return null;
  return { nodes: parseNodes(nodes.stdout), tokens: tokens.stdout };
}

/** The node list and join tokens `found` answered in the run's opening call (up's), if it did. */
function openedManagerRead(fleet: Fleet, found: Member): { nodes: NodeInfo[]; tokens: string } | null {
  const answer = fleet.takeOpened(found.robot.name, managerReadCommand(found.robot.sudo));
  if (answer?.code !== 0) return null;
  try {
    return parseManagerRead(answer.stdout);
  } catch {
    return null; // an answer not understood: read again (nodesAndTokens)
  }
}

/** Robots in another swarm than the fleet's are failed and left alone. */
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

export function planInput(fleet: Fleet, usable: Member[], nodeOf: (r: Robot) => NodeInfo | undefined): PlanRobot[] {
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
