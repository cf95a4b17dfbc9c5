// Pure role planning by Raft quorum rules: robots in, roles with reasons out. No I/O.
// N managers tolerate floor((N-1)/2) failures; an even count adds none; more than 7 only slows elections.

export type Role = 'manager' | 'worker';
/** The robot's role in the fleet's swarm now; 'none' = not in it (or unknown because unreachable). */
type SwarmRole = Role | 'none';

export interface PlanRobot {
  name: string;
  reachable: boolean;
  canBecomeManager: boolean;
  canBecomeLeader: boolean;
  zone?: string;
  pinnedRole: 'auto' | Role;
  currentRole: SwarmRole;
}

interface RoleDecision {
  name: string;
  role: Role;
  reason: string;
}

export interface RolePlan {
  decisions: RoleDecision[];
  managers: string[];
  leader: string;
  tolerance: number;
  warnings: string[];
}

export const MAX_USEFUL_MANAGERS = 7;

export function faultTolerance(managerCount: number): number {
  return managerCount <= 0 ? 0 : Math.floor((managerCount - 1) / 2);
}

export function toleranceText(managerCount: number): string {
  const t = faultTolerance(managerCount);
  return `${managerCount} manager${managerCount === 1 ? '' : 's'} — tolerates ${t} failure${t === 1 ? '' : 's'}`;
}

export function defaultManagerCount(eligibleReachable: number): number {
  const n = Math.min(MAX_USEFUL_MANAGERS, Math.max(0, Math.floor(eligibleReachable)));
  return n % 2 === 1 ? n : Math.max(0, n - 1);
}

const zoneOf = (r: PlanRobot) => r.zone ?? '(none)';
const canManage = (r: PlanRobot) => r.canBecomeManager && r.pinnedRole !== 'worker';
const canLead = (r: PlanRobot) => r.reachable && canManage(r) && r.canBecomeLeader;

/**
 * Order of seats: the leader, then "fixed" managers (pinned ones, and unreachable current managers, which
 * still hold a Raft vote), then reachable current managers (no needless demotion), then new managers
 * spread over zones. Kept managers give way to the spread only when one zone would otherwise hold a
 * majority that the other zones could avoid.
 */
export function planRoles(input: { robots: PlanRobot[]; managers: 'auto' | number; leader?: string; preferredLeader?: string }): RolePlan {
  const { robots } = input;
  const warnings = pinWarnings(robots);
  const leader = chooseLeader(robots, input.leader, input.preferredLeader, warnings);
  const seats = new Seats(robots, leader);
  const target = targetCount(input.managers, seats.pool().size, seats.fixed.size, warnings);
  seats.keepCurrent(target);
  seats.fill(target);
  seats.rebalance();
  warnings.push(...seats.warnings());
  const managers = robots.filter((r) => seats.has(r)).map((r) => r.name);
  return {
    decisions: robots.map((r) => decision(r, seats)),
    managers,
    leader: leader?.name ?? '',
    tolerance: faultTolerance(managers.length),
    warnings,
  };
}

const pinWarnings = (robots: PlanRobot[]) =>
  robots
    .filter((r) => r.pinnedRole === 'manager')
    .flatMap((r) =>
      !r.canBecomeManager
        ? [`${r.name} is pinned as manager but may not manage (canBecomeManager: false): it stays a worker`]
        : !r.reachable && r.currentRole !== 'manager'
          ? [`${r.name} is pinned as manager but unreachable: it becomes one on a later run`]
          : [],
    );

/**
 * The requested leader (the swarm's leader now, or the inventory's choice) keeps leading when it is a
 * manager already (a running swarm is not disturbed) or may lead. Otherwise, preferring the inventory's
 * swarm.leader at each step: a current manager allowed to lead (a hand-over needs no new manager to
 * catch up first), then any robot allowed to lead.
 */
function chooseLeader(robots: PlanRobot[], name: string | undefined, preferredName: string | undefined, warnings: string[]) {
  const requested = robots.find((r) => r.name === name);
  const requestedOk = requested && canManage(requested) && (requested.currentRole === 'manager' || canLead(requested));
  if (requested && !requestedOk)
    warnings.push(`${requested.name} cannot lead (unreachable, not allowed to lead/manage, or pinned worker): another robot leads`);
  else if (name !== undefined && !requested) warnings.push(`leader ${name} is not in the inventory: another robot leads`);
  const preferred = robots.find((r) => r.name === preferredName && canLead(r));
  return (
    (requestedOk ? requested : undefined) ??
    (preferred?.currentRole === 'manager' ? preferred : undefined) ??
    robots.find((r) => canLead(r) && r.currentRole === 'manager') ??
    preferred ??
    robots.find(canLead) ??
    leaderOfLastResort(robots, warnings)
  );
}

/**
 * No robot may lead: the first reachable manager-eligible robot leads with a warning — a swarm needs
 * someone to init it — and with nobody reachable, an unreachable current manager is named so the
 * leader stays among managers.
 */
function leaderOfLastResort(robots: PlanRobot[], warnings: string[]) {
  const leader = robots.find((r) => r.reachable && canManage(r)) ?? robots.find((r) => !r.reachable && r.currentRole === 'manager');
  if (!leader) warnings.push('no reachable robot may manage: there can be no swarm');
  else if (leader.reachable) warnings.push(`no robot may lead: ${leader.name} leads although canBecomeLeader is false`);
  else warnings.push(`no reachable robot may lead: ${leader.name} (unreachable) is named leader`);
  return leader;
}

/** Pinned and unreachable managers are never demoted by the planner: with more of them, the count is theirs. */
function targetCount(managers: 'auto' | number, pool: number, fixed: number, warnings: string[]) {
  if (managers === 'auto') return Math.max(defaultManagerCount(pool), fixed);
  let target = Math.max(0, Math.floor(managers));
  if (target > pool) {
    warnings.push(`${target} managers requested but only ${pool} robots can manage now: fewer managers than requested`);
    target = pool;
  }
  if (target > MAX_USEFUL_MANAGERS) warnings.push(`${target} managers requested: more than ${MAX_USEFUL_MANAGERS} only slows elections`);
  if (fixed <= target) return target;
  warnings.push(`${fixed} managers are fixed (leader, pinned, unreachable) — more than the ${target} requested`);
  return fixed;
}

const zonesOf = (robots: PlanRobot[]) => [...new Set(robots.map(zoneOf))];
const inZone = (robots: Iterable<PlanRobot>, zone: string) => [...robots].filter((r) => zoneOf(r) === zone);

/** The robots holding a manager seat, and why each got or lost one. */
class Seats extends Set<PlanRobot> {
  fixed = new Set<PlanRobot>(); // never dropped: the leader, pinned and unreachable managers
  reasons = new Map<string, string>();
  candidates: PlanRobot[];

  constructor(
    readonly robots: PlanRobot[],
    leader: PlanRobot | undefined,
  ) {
    super();
    if (leader)
      this.choose(
        leader,
        leader.currentRole === 'manager' ? 'leader, keeps manager role' : 'leader (initialises or leads the swarm)',
        true,
      );
    for (const r of robots) {
      if (r.pinnedRole === 'manager' && r.canBecomeManager && (r.reachable || r.currentRole === 'manager'))
        this.choose(r, 'pinned manager', true);
      else if (!r.reachable && r.currentRole === 'manager') this.choose(r, 'unreachable — keeps manager role (holds a Raft vote)', true);
    }
    this.candidates = robots.filter((r) => r.reachable && canManage(r));
  }

  /** Every robot that could hold a seat now; unreachable robots only count if they hold a vote already. */
  pool() {
    return new Set([...this.candidates, ...this.fixed]);
  }

  get zoned() {
    return this.robots.some((r) => r.zone !== undefined);
  }

  choose(r: PlanRobot, reason: string, isFixed = false) {
    if (this.has(r)) return;
    this.add(r);
    this.reasons.set(r.name, reason);
    if (isFixed) this.fixed.add(r);
  }

  drop(r: PlanRobot, reason: string) {
    this.delete(r);
    this.reasons.set(r.name, reason);
  }

  count(zone: string) {
    return inZone(this, zone).length;
  }

  droppable() {
    return this.robots.filter((r) => this.has(r) && !this.fixed.has(r));
  }

  open() {
    return this.candidates.filter((r) => !this.has(r));
  }

  openOutside(zone: string | undefined, half: number) {
    return this.open().filter((r) => zoneOf(r) !== zone && this.count(zoneOf(r)) + 1 <= half);
  }

  /** The first of `rest` in the zone with the fewest managers so far; ties: the larger zone (the seats it could fill), then inventory order. */
  firstInFewest(rest: PlanRobot[]) {
    const size = (z: string) => inZone(this.pool(), z).length;
    const order = zonesOf(this.robots);
    const [zone] = zonesOf(rest).sort((a, b) => this.count(a) - this.count(b) || size(b) - size(a) || order.indexOf(a) - order.indexOf(b));
    return rest.find((r) => zoneOf(r) === zone);
  }

  /**
   * Keep reachable current managers; if there are more than the target, drop the ones in the zones
   * holding the most managers (later in inventory order first), never a fixed one.
   */
  keepCurrent(target: number) {
    for (const r of this.candidates) if (r.currentRole === 'manager') this.choose(r, 'keeps manager role');
    while (this.size > target) {
      const droppable = this.droppable();
      const worst = Math.max(...droppable.map((r) => this.count(zoneOf(r))));
      this.drop(droppable.filter((r) => this.count(zoneOf(r)) === worst).pop()!, 'demoted: more managers than target');
    }
  }

  fill(target: number) {
    while (this.size < target) {
      const pick = this.firstInFewest(this.open());
      if (!pick) break;
      this.choose(pick, this.zoned ? `zone ${zoneOf(pick)} spread` : 'needed for quorum');
    }
  }

  /**
   * A kept manager gives way when its zone holds a majority and another zone can take the seat without
   * gaining one itself (zones that cannot avoid a majority, e.g. 5 over two zones, are left as they are).
   */
  rebalance() {
    const half = Math.floor(this.size / 2);
    for (;;) {
      const heavy = zonesOf(this.robots).find((z) => this.count(z) > half && inZone(this.droppable(), z).length);
      const pick = this.firstInFewest(this.openOutside(heavy, half));
      if (heavy === undefined || !pick) break;
      this.drop(inZone(this.droppable(), heavy).pop()!, `demoted: zone ${heavy} held a majority of managers`);
      this.choose(pick, `zone ${zoneOf(pick)} spread`);
    }
  }

  warnings() {
    const total = this.size;
    const half = Math.floor(total / 2);
    const warnings = total > 0 && total % 2 === 0 ? [`${toleranceText(total)}: an even count adds no tolerance`] : [];
    if (this.zoned && total >= 3) {
      for (const z of zonesOf(this.robots)) {
        // Only warn when another zone had a free seat: an unavoidable majority is a fact of the zones.
        if (this.count(z) > half && this.openOutside(z, half).length)
          warnings.push(`zone ${z} holds ${this.count(z)} of ${total} managers: losing it loses quorum`);
      }
    }
    return warnings;
  }
}

function decision(r: PlanRobot, seats: Seats): RoleDecision {
  const reason = seats.reasons.get(r.name);
  if (seats.has(r)) return { name: r.name, role: 'manager', reason: reason ?? '' };
  return {
    name: r.name,
    role: 'worker',
    reason:
      r.pinnedRole === 'worker'
        ? 'pinned worker'
        : !r.canBecomeManager
          ? r.pinnedRole === 'manager'
            ? 'pinned manager but not allowed to manage'
            : 'not allowed to manage'
          : !r.reachable
            ? 'unreachable — stays worker'
            : r.currentRole === 'manager'
              ? (reason ?? 'demoted: more managers than target')
              : 'enough managers',
  };
}

/**
 * Managers join in quorum-safe batches (as k0sctl does): an even count is made odd with one, otherwise
 * two join at a time (1 → 3 at once), so the count is odd after every batch but possibly the last.
 */
export function managerJoinBatches(existingManagers: number, toJoin: string[]): string[][] {
  if (existingManagers < 1) throw new Error('managers can only join a swarm that has a manager');
  const batches: string[][] = [];
  for (let i = 0; i < toJoin.length;) {
    const size = (existingManagers + i) % 2 === 0 ? 1 : 2;
    batches.push(toJoin.slice(i, i + size));
    i += size;
  }
  return batches;
}

/**
 * Role changes among robots already in the swarm and reachable; callers promote before they demote.
 * The swarm's leader now (`currentLeader`), when it is to be demoted, is not in `demote` but in
 * `handOver`: its demotion must be sent from a manager that stays one, after the promotions.
 */
export function roleChanges(plan: RolePlan, robots: PlanRobot[], currentLeader?: string) {
  const planned = new Map(plan.decisions.map((d) => [d.name, d.role]));
  const live = robots.filter((r) => r.reachable && r.currentRole !== 'none');
  const demote = live.filter((r) => r.currentRole === 'manager' && planned.get(r.name) === 'worker').map((r) => r.name);
  const handOver = currentLeader !== undefined && demote.includes(currentLeader) ? currentLeader : null;
  return {
    promote: live.filter((r) => r.currentRole === 'worker' && planned.get(r.name) === 'manager').map((r) => r.name),
    demote: demote.filter((name) => name !== handOver),
    handOver,
  };
}
