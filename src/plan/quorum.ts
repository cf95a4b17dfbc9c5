// Pure role planning by Raft quorum rules: robots in, roles with reasons out. No I/O.
// N managers tolerate floor((N-1)/2) failures; an even count adds none; more than 7 only slows elections.

export type Role = 'manager' | 'worker';
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

export interface RoleDecision { name: string; role: Role; reason: string }

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
  const n = Math.min(MAX_USEFUL_MANAGERS, Math.max(0, eligibleReachable));
  return n % 2 === 1 ? n : Math.max(0, n - 1);
}

const canManage = (r: PlanRobot) => r.canBecomeManager && r.pinnedRole !== 'worker';
const zoneOf = (r: PlanRobot) => r.zone ?? '(no zone)';

export function planRoles(input: { robots: PlanRobot[]; managers: 'auto' | number; leader?: string }): RolePlan {
  const { robots } = input;
  const warnings: string[] = [];
  const reasons = new Map<string, string>();
  const chosen: PlanRobot[] = [];
  const choose = (r: PlanRobot, reason: string) => {
    if (chosen.includes(r)) return;
    chosen.push(r);
    reasons.set(r.name, reason);
  };

  for (const r of robots) {
    if (r.pinnedRole === 'manager' && !r.canBecomeManager) warnings.push(`${r.name} is pinned as manager but may not manage (canBecomeManager: false): it stays a worker`);
  }

  // The leader: the requested one (the current swarm leader, or the inventory's choice) when it can
  // serve; else a reachable current manager allowed to lead; else the first robot allowed to lead.
  const leadable = (r: PlanRobot) => r.reachable && canManage(r) && r.canBecomeLeader;
  const requested = robots.find((r) => r.name === input.leader);
  const leader =
    (requested && (requested.currentRole === 'manager' || leadable(requested)) ? requested : undefined) ??
    robots.find((r) => leadable(r) && r.currentRole === 'manager') ??
    robots.find(leadable) ??
    robots.find((r) => r.reachable && canManage(r));
  if (leader && !leader.canBecomeLeader) warnings.push(`no reachable robot may lead: ${leader.name} leads although canBecomeLeader is false`);
  if (!leader) warnings.push('no reachable robot may manage: there can be no swarm');
  if (leader) choose(leader, requested === leader && leader.currentRole === 'manager' ? 'leader' : 'leader (initialises or leads the swarm)');

  // Fixed managers: pinned ones that can serve now, and unreachable managers (they still hold a Raft vote).
  for (const r of robots) {
    if (r.pinnedRole === 'manager' && r.canBecomeManager && (r.reachable || r.currentRole === 'manager')) choose(r, 'pinned manager');
    else if (!r.reachable && r.currentRole === 'manager') choose(r, 'unreachable: keeps its Raft vote');
  }

  const candidates = robots.filter((r) => r.reachable && canManage(r) && !chosen.includes(r));
  const pool = candidates.length + chosen.length;
  let target: number;
  if (input.managers === 'auto') {
    target = Math.max(defaultManagerCount(pool), chosen.length);
  } else {
    target = input.managers;
    if (target > pool) {
      warnings.push(`${target} managers requested but only ${pool} robots can manage now: ${pool} managers`);
      target = pool;
    }
    if (chosen.length > target) target = chosen.length;
  }

  // Fill the remaining seats spreading over zones: each seat goes to the zone with the fewest managers
  // so far (ties: the larger zone, then inventory order); within a zone current managers come first.
  const zoneSize = new Map<string, number>();
  for (const r of robots) zoneSize.set(zoneOf(r), (zoneSize.get(zoneOf(r)) ?? 0) + 1);
  const zoneOrder = [...zoneSize.keys()];
  const zoned = robots.some((r) => r.zone !== undefined);
  while (chosen.length < target) {
    const open = candidates.filter((r) => !chosen.includes(r));
    if (!open.length) break;
    const count = (z: string) => chosen.filter((r) => zoneOf(r) === z).length;
    const zones = [...new Set(open.map(zoneOf))].sort(
      (a, b) => count(a) - count(b) || (zoneSize.get(b) ?? 0) - (zoneSize.get(a) ?? 0) || zoneOrder.indexOf(a) - zoneOrder.indexOf(b),
    );
    const inZone = open.filter((r) => zoneOf(r) === zones[0]);
    const pick = inZone.find((r) => r.currentRole === 'manager') ?? (inZone[0] as PlanRobot);
    choose(pick, pick.currentRole === 'manager' ? 'keeps its manager role' : zoned ? `spreads managers over zones (${zoneOf(pick)})` : 'needed for quorum');
  }

  if (chosen.length % 2 === 0 && chosen.length > 0) warnings.push(`${toleranceText(chosen.length)}: an even count adds no tolerance`);
  if (zoned && chosen.length >= 3) {
    for (const [zone] of zoneSize) {
      const n = chosen.filter((r) => zoneOf(r) === zone).length;
      if (n > chosen.length / 2) warnings.push(`zone ${zone} holds ${n} of ${chosen.length} managers: losing it loses quorum`);
    }
  }

  const decisions: RoleDecision[] = robots.map((r) => {
    if (chosen.includes(r)) return { name: r.name, role: 'manager', reason: reasons.get(r.name) ?? '' };
    let reason = 'enough managers';
    if (r.pinnedRole === 'worker') reason = 'pinned worker';
    else if (!r.canBecomeManager) reason = 'not allowed to manage';
    else if (!r.reachable) reason = 'unreachable';
    else if (r.currentRole === 'manager') reason = 'demoted: more managers than planned';
    return { name: r.name, role: 'worker', reason };
  });
  const managers = robots.filter((r) => chosen.includes(r)).map((r) => r.name);
  return { decisions, managers, leader: leader?.name ?? '', tolerance: faultTolerance(managers.length), warnings };
}

/**
 * Managers join in quorum-safe batches: an even count is fixed with one, otherwise two at a time
 * (1 → 3 at once), so the count is odd after every batch but possibly the last.
 */
export function managerJoinBatches(existingManagers: number, toJoin: string[]): string[][] {
  if (existingManagers < 1) throw new Error('managers can only join a swarm that has a manager');
  const batches: string[][] = [];
  let count = existingManagers;
  for (let i = 0; i < toJoin.length; ) {
    const size = Math.min(count % 2 === 0 ? 1 : 2, toJoin.length - i);
    batches.push(toJoin.slice(i, i + size));
    i += size;
    count += size;
  }
  return batches;
}

/** Role changes among robots already in the swarm and reachable; callers promote before they demote. */
export function roleChanges(plan: RolePlan, robots: PlanRobot[]): { promote: string[]; demote: string[] } {
  const planned = new Map(plan.decisions.map((d) => [d.name, d.role]));
  const live = robots.filter((r) => r.reachable && r.currentRole !== 'none');
  return {
    promote: live.filter((r) => r.currentRole === 'worker' && planned.get(r.name) === 'manager').map((r) => r.name),
    demote: live.filter((r) => r.currentRole === 'manager' && planned.get(r.name) === 'worker').map((r) => r.name),
  };
}
