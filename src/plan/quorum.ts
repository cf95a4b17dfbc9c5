// Pure role planning by Raft quorum rules: robots in, roles with reasons out. No I/O.
// N managers tolerate floor((N-1)/2) failures; an even count adds none; more than 7 only slows elections.

export type Role = 'manager' | 'worker';
/** The robot's role in the fleet's swarm now; 'none' = not in it (or unknown because unreachable). */
export type SwarmRole = Role | 'none';

export interface PlanRobot {
  name: string;
  reachable: boolean;
  canBecomeManager: boolean;
  canBecomeLeader: boolean;
  zone?: string;
  pinnedRole: 'auto' | Role;
  currentRole: SwarmRole;
}

export interface RoleDecision {
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

const NO_ZONE = '(none)';
const zoneOf = (r: PlanRobot) => r.zone ?? NO_ZONE;
/** May hold a manager seat at all: allowed to manage and not pinned as a worker. */
const canManage = (r: PlanRobot) => r.canBecomeManager && r.pinnedRole !== 'worker';
const canLead = (r: PlanRobot) => r.reachable && canManage(r) && r.canBecomeLeader;

/**
 * Choose managers and the leader.
 *
 * Order of seats: the leader, then "fixed" managers (pinned ones, and unreachable current managers, which
 * still hold a Raft vote), then reachable current managers (no needless demotion), then new managers
 * spread over zones. Kept managers give way to the spread only when one zone would otherwise hold a
 * majority that the other zones could avoid.
 */
export function planRoles(input: { robots: PlanRobot[]; managers: 'auto' | number; leader?: string; preferredLeader?: string }): RolePlan {
  const { robots } = input;
  const warnings: string[] = [];
  const reasons = new Map<string, string>();
  const chosen = new Set<PlanRobot>();
  const fixed = new Set<PlanRobot>(); // never dropped: the leader, pinned and unreachable managers
  const choose = (r: PlanRobot, reason: string, isFixed = false) => {
    if (chosen.has(r)) return;
    chosen.add(r);
    reasons.set(r.name, reason);
    if (isFixed) fixed.add(r);
  };
  const drop = (r: PlanRobot, reason: string) => {
    chosen.delete(r);
    reasons.set(r.name, reason);
  };

  for (const r of robots) {
    if (r.pinnedRole === 'manager' && !r.canBecomeManager)
      warnings.push(`${r.name} is pinned as manager but may not manage (canBecomeManager: false): it stays a worker`);
    else if (r.pinnedRole === 'manager' && !r.reachable && r.currentRole !== 'manager')
      warnings.push(`${r.name} is pinned as manager but unreachable: it becomes one on a later run`);
  }

  // The leader. The requested one (the swarm's leader now, or the inventory's choice) keeps leading when
  // it is a manager already (a running swarm is not disturbed) or may lead. Otherwise: a reachable current
  // manager allowed to lead, then the first reachable robot allowed to lead. If no robot may lead, the
  // first reachable manager-eligible robot leads with a warning — a swarm needs someone to init it — and
  // with nobody reachable, an unreachable current manager is named so the leader stays among managers.
  const requested = input.leader === undefined ? undefined : robots.find((r) => r.name === input.leader);
  const requestedOk = requested && canManage(requested) && (requested.currentRole === 'manager' || canLead(requested));
  if (requested && !requestedOk)
    warnings.push(`${requested.name} cannot lead (unreachable, not allowed to lead/manage, or pinned worker): another robot leads`);
  else if (input.leader !== undefined && !requested) warnings.push(`leader ${input.leader} is not in the inventory: another robot leads`);
  // A new leader comes from the managers that stay (a hand-over needs no new manager to catch up
  // first): the inventory's swarm.leader when it is one of them, then the first of them allowed to lead.
  const preferred = robots.find((r) => r.name === input.preferredLeader && canLead(r));
  let leader: PlanRobot | undefined =
    (requestedOk ? requested : undefined) ??
    (preferred?.currentRole === 'manager' ? preferred : undefined) ??
    robots.find((r) => canLead(r) && r.currentRole === 'manager') ??
    preferred ??
    robots.find(canLead);
  if (!leader) {
    leader = robots.find((r) => r.reachable && canManage(r)) ?? robots.find((r) => !r.reachable && r.currentRole === 'manager');
    if (!leader) warnings.push('no reachable robot may manage: there can be no swarm');
    else if (leader.reachable) warnings.push(`no robot may lead: ${leader.name} leads although canBecomeLeader is false`);
    else warnings.push(`no reachable robot may lead: ${leader.name} (unreachable) is named leader`);
  }
  if (leader)
    choose(leader, leader.currentRole === 'manager' ? 'leader, keeps manager role' : 'leader (initialises or leads the swarm)', true);

  for (const r of robots) {
    if (r.pinnedRole === 'manager' && r.canBecomeManager && (r.reachable || r.currentRole === 'manager')) choose(r, 'pinned manager', true);
    else if (!r.reachable && r.currentRole === 'manager') choose(r, 'unreachable — keeps manager role (holds a Raft vote)', true);
  }

  // Every robot that could hold a seat now; unreachable robots only count if they hold a vote already.
  const candidates = robots.filter((r) => r.reachable && canManage(r));
  const pool = new Set([...candidates, ...fixed]).size;
  let target: number;
  if (input.managers === 'auto') {
    target = defaultManagerCount(pool);
  } else {
    target = Math.max(0, Math.floor(input.managers));
    if (target > pool) {
      warnings.push(`${target} managers requested but only ${pool} robots can manage now: fewer managers than requested`);
      target = pool;
    }
    if (target > MAX_USEFUL_MANAGERS) warnings.push(`${target} managers requested: more than ${MAX_USEFUL_MANAGERS} only slows elections`);
  }
  if (fixed.size > target) {
    // Pinned/unreachable managers are never demoted by the planner: the count is whatever results.
    if (input.managers !== 'auto')
      warnings.push(`${fixed.size} managers are fixed (leader, pinned, unreachable) — more than the ${target} requested`);
    target = fixed.size;
  }

  const zoned = robots.some((r) => r.zone !== undefined);
  const zoneOrder = [...new Set(robots.map(zoneOf))];
  // A zone's size = the seats it could fill; "larger zone first" breaks ties in the spread.
  const zoneSize = new Map<string, number>();
  for (const r of new Set([...candidates, ...fixed])) zoneSize.set(zoneOf(r), (zoneSize.get(zoneOf(r)) ?? 0) + 1);
  const count = (z: string) => [...chosen].filter((r) => zoneOf(r) === z).length;
  const byFewest = (a: string, b: string) =>
    count(a) - count(b) || (zoneSize.get(b) ?? 0) - (zoneSize.get(a) ?? 0) || zoneOrder.indexOf(a) - zoneOrder.indexOf(b);
  const open = () => candidates.filter((r) => !chosen.has(r));
  const inOrder = () => robots.filter((r) => chosen.has(r)); // chosen, in inventory order

  // Keep reachable current managers; if there are more than the target, drop the ones in the zones
  // holding the most managers (later in inventory order first), never a fixed one.
  for (const r of candidates) if (r.currentRole === 'manager') choose(r, 'keeps manager role');
  while (chosen.size > target) {
    const droppable = inOrder().filter((r) => !fixed.has(r));
    const worst = Math.max(...droppable.map((r) => count(zoneOf(r))));
    const victim = droppable.filter((r) => count(zoneOf(r)) === worst).pop() as PlanRobot;
    drop(victim, 'demoted: more managers than target');
  }

  // Fill the remaining seats: each goes to the zone with the fewest managers so far that still has
  // candidates (ties: the larger zone, then inventory order); within a zone, inventory order.
  while (chosen.size < target) {
    const rest = open();
    const zone = [...new Set(rest.map(zoneOf))].sort(byFewest)[0];
    const pick = rest.find((r) => zoneOf(r) === zone);
    if (!pick) break;
    choose(pick, zoned ? `zone ${zoneOf(pick)} spread` : 'needed for quorum');
  }

  // A kept manager gives way when its zone holds a majority and another zone can take the seat without
  // gaining one itself (zones that cannot avoid a majority, e.g. 5 over two zones, are left as they are).
  const half = Math.floor(chosen.size / 2);
  for (;;) {
    const heavy = zoneOrder.find((z) => count(z) > half && [...chosen].some((r) => zoneOf(r) === z && !fixed.has(r)));
    const rest = open().filter((r) => zoneOf(r) !== heavy && count(zoneOf(r)) + 1 <= half);
    const zone = [...new Set(rest.map(zoneOf))].sort(byFewest)[0];
    const pick = rest.find((r) => zoneOf(r) === zone);
    if (heavy === undefined || !pick) break;
    const victim = inOrder()
      .filter((r) => zoneOf(r) === heavy && !fixed.has(r))
      .pop() as PlanRobot;
    drop(victim, `demoted: zone ${heavy} held a majority of managers`);
    choose(pick, `zone ${zoneOf(pick)} spread`);
  }

  const total = chosen.size;
  if (total > 0 && total % 2 === 0) warnings.push(`${toleranceText(total)}: an even count adds no tolerance`);
  if (zoned && total >= 3) {
    for (const z of zoneOrder) {
      // Only warn when another zone had a free seat: an unavoidable majority is a fact of the zones.
      if (count(z) > half && open().some((r) => zoneOf(r) !== z && count(zoneOf(r)) + 1 <= half))
        warnings.push(`zone ${z} holds ${count(z)} of ${total} managers: losing it loses quorum`);
    }
  }

  const decisions: RoleDecision[] = robots.map((r) => {
    if (chosen.has(r)) return { name: r.name, role: 'manager', reason: reasons.get(r.name) ?? '' };
    let reason = 'enough managers';
    if (r.pinnedRole === 'worker') reason = 'pinned worker';
    else if (!r.canBecomeManager)
      reason = r.pinnedRole === 'manager' ? 'pinned manager but not allowed to manage' : 'not allowed to manage';
    else if (!r.reachable) reason = 'unreachable — stays worker';
    else if (r.currentRole === 'manager') reason = reasons.get(r.name) ?? 'demoted: more managers than target';
    return { name: r.name, role: 'worker', reason };
  });
  const managers = robots.filter((r) => chosen.has(r)).map((r) => r.name);
  return { decisions, managers, leader: leader?.name ?? '', tolerance: faultTolerance(managers.length), warnings };
}

/**
 * Managers join in quorum-safe batches (as k0sctl does): an even count is made odd with one, otherwise
 * two join at a time (1 → 3 at once), so the count is odd after every batch but possibly the last.
 */
export function managerJoinBatches(existingManagers: number, toJoin: string[]): string[][] {
  if (existingManagers < 1) throw new Error('managers can only join a swarm that has a manager');
  const batches: string[][] = [];
  let count = existingManagers;
  for (let i = 0; i < toJoin.length;) {
    const size = Math.min(count % 2 === 0 ? 1 : 2, toJoin.length - i);
    batches.push(toJoin.slice(i, i + size));
    i += size;
    count += size;
  }
  return batches;
}

/**
 * Role changes among robots already in the swarm and reachable; callers promote before they demote.
 * The swarm's leader now (`currentLeader`), when it is to be demoted, is not in `demote` but in
 * `handOver`: its demotion must be sent from a manager that stays one, after the promotions.
 */
export function roleChanges(
  plan: RolePlan,
  robots: PlanRobot[],
  currentLeader?: string,
): { promote: string[]; demote: string[]; handOver: string | null } {
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
