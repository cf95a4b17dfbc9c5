import { describe, expect, it } from '@jest/globals';
import {
  defaultManagerCount, faultTolerance, managerJoinBatches, planRoles, roleChanges, toleranceText, type PlanRobot,
} from '../../src/plan/quorum.js';

const robot = (name: string, over: Partial<PlanRobot> = {}): PlanRobot => ({
  name, reachable: true, canBecomeManager: true, canBecomeLeader: true, pinnedRole: 'auto', currentRole: 'none', ...over,
});
const fleet = (n: number, over: (i: number) => Partial<PlanRobot> = () => ({})) => Array.from({ length: n }, (_, i) => robot(`R${i + 1}`, over(i)));
const roleOf = (plan: ReturnType<typeof planRoles>, name: string) => plan.decisions.find((d) => d.name === name)?.role;

describe('fault tolerance', () => {
  it('follows floor((N-1)/2)', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(faultTolerance)).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
    expect(toleranceText(3)).toBe('3 managers — tolerates 1 failure');
    expect(toleranceText(1)).toBe('1 manager — tolerates 0 failures');
    expect(toleranceText(5)).toBe('5 managers — tolerates 2 failures');
  });

  it('defaults to the largest odd number <= min(7, n)', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 300].map(defaultManagerCount)).toEqual([0, 1, 1, 3, 3, 5, 5, 7, 7, 7, 7, 7]);
  });
});

describe('planRoles', () => {
  it('makes three fresh robots three managers, the first allowed robot leading', () => {
    const plan = planRoles({ robots: fleet(3), managers: 'auto' });
    expect(plan.managers).toEqual(['R1', 'R2', 'R3']);
    expect(plan.leader).toBe('R1');
    expect(plan.tolerance).toBe(1);
    expect(plan.warnings).toEqual([]);
  });

  it('five robots where two may not manage: three managers among the other three', () => {
    const plan = planRoles({ robots: fleet(5, (i) => (i === 0 || i === 3 ? { canBecomeManager: false } : {})), managers: 'auto' });
    expect(plan.managers).toEqual(['R2', 'R3', 'R5']);
    expect(plan.decisions[0]).toEqual({ name: 'R1', role: 'worker', reason: 'not allowed to manage' });
  });

  it('spreads seven managers over zones a×4, b×3, c×2 as 3-2-2', () => {
    const zones = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'c', 'c'];
    const robots = fleet(9, (i) => ({ zone: zones[i] as string }));
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers).toHaveLength(7);
    const perZone: Record<string, number> = {};
    for (const m of plan.managers) perZone[robots.find((r) => r.name === m)?.zone ?? ''] = (perZone[robots.find((r) => r.name === m)?.zone ?? ''] ?? 0) + 1;
    expect(perZone).toEqual({ a: 3, b: 2, c: 2 });
    expect(plan.warnings).toEqual([]);
  });

  it('spreads three managers over three zones one each', () => {
    const robots = fleet(6, (i) => ({ zone: ['x', 'x', 'x', 'y', 'y', 'z'][i] as string }));
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers.length).toBe(5);
    const three = planRoles({ robots, managers: 3 });
    expect(new Set(three.managers.map((m) => robots.find((r) => r.name === m)?.zone))).toEqual(new Set(['x', 'y', 'z']));
  });

  it('honours pinned roles and warns about an even count with its tolerance', () => {
    const robots = fleet(5, (i) => ({ pinnedRole: i < 4 ? 'manager' : 'worker' }));
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers).toEqual(['R1', 'R2', 'R3', 'R4']);
    expect(plan.warnings.join()).toContain('4 managers — tolerates 1 failure: an even count adds no tolerance');
    const workers = planRoles({ robots: fleet(3, (i) => ({ pinnedRole: i === 0 ? 'worker' : 'auto' })), managers: 'auto' });
    expect(roleOf(workers, 'R1')).toBe('worker');
    expect(workers.managers).toEqual(['R2']);
    expect(workers.leader).toBe('R2');
  });

  it('warns when a pinned manager may not manage', () => {
    const plan = planRoles({ robots: fleet(3, (i) => (i === 2 ? { pinnedRole: 'manager', canBecomeManager: false } : {})), managers: 'auto' });
    expect(roleOf(plan, 'R3')).toBe('worker');
    expect(plan.warnings.join()).toMatch(/R3 is pinned as manager but may not manage/);
  });

  it('caps a requested count at what can manage, and warns', () => {
    const plan = planRoles({ robots: fleet(4, (i) => (i > 1 ? { canBecomeManager: false } : {})), managers: 5 });
    expect(plan.managers).toEqual(['R1', 'R2']);
    expect(plan.warnings.join()).toMatch(/5 managers requested but only 2/);
  });

  it('is stable: planning again from the result keeps the same managers', () => {
    const robots = fleet(12, (i) => ({ zone: ['a', 'b', 'c'][i % 3] as string }));
    const first = planRoles({ robots, managers: 'auto' });
    const now = robots.map((r) => ({ ...r, currentRole: first.managers.includes(r.name) ? ('manager' as const) : ('worker' as const) }));
    const second = planRoles({ robots: now, managers: 'auto', leader: first.leader });
    expect(second.managers).toEqual(first.managers);
    expect(roleChanges(second, now)).toEqual({ promote: [], demote: [] });
  });

  it('keeps current managers rather than promoting others', () => {
    const robots = fleet(5, (i) => ({ currentRole: i >= 2 ? 'manager' : 'worker' }));
    const plan = planRoles({ robots, managers: 3, leader: 'R4' });
    expect(plan.managers).toEqual(['R3', 'R4', 'R5']);
    expect(plan.leader).toBe('R4');
    expect(roleChanges(plan, robots)).toEqual({ promote: [], demote: [] });
  });

  it('keeps an unreachable manager (it still votes) and makes an unreachable newcomer a worker', () => {
    const robots = [
      robot('A', { currentRole: 'manager', reachable: false }),
      robot('B', { currentRole: 'manager' }),
      robot('C', { currentRole: 'manager' }),
      robot('D', { reachable: false }),
    ];
    const plan = planRoles({ robots, managers: 'auto', leader: 'B' });
    expect(plan.managers).toEqual(['A', 'B', 'C']);
    expect(plan.leader).toBe('B');
    expect(plan.decisions[3]).toEqual({ name: 'D', role: 'worker', reason: 'unreachable' });
  });

  it('demotes managers beyond the planned count, never the leader', () => {
    const robots = fleet(5, () => ({ currentRole: 'manager' }));
    const plan = planRoles({ robots, managers: 3, leader: 'R5' });
    expect(plan.managers).toHaveLength(3);
    expect(plan.managers).toContain('R5');
    expect(roleChanges(plan, robots).demote).toHaveLength(2);
  });

  it('caps at seven managers for 300 robots', () => {
    const plan = planRoles({ robots: fleet(300), managers: 'auto' });
    expect(plan.managers).toHaveLength(7);
    expect(plan.decisions.filter((d) => d.role === 'worker')).toHaveLength(293);
  });

  it('the leader is always a manager and may lead when anyone may', () => {
    const plan = planRoles({ robots: fleet(4, (i) => ({ canBecomeLeader: i === 2 })), managers: 'auto' });
    expect(plan.leader).toBe('R3');
    expect(plan.managers).toContain('R3');
    const none = planRoles({ robots: fleet(2, () => ({ canBecomeLeader: false })), managers: 'auto' });
    expect(none.warnings.join()).toMatch(/no reachable robot may lead/);
  });
});

describe('manager join batches', () => {
  it('goes 1 → 3 at once, then two at a time, fixing an even count with one', () => {
    expect(managerJoinBatches(1, ['a', 'b', 'c', 'd'])).toEqual([['a', 'b'], ['c', 'd']]);
    expect(managerJoinBatches(1, ['a'])).toEqual([['a']]);
    expect(managerJoinBatches(3, ['a', 'b', 'c'])).toEqual([['a', 'b'], ['c']]);
    expect(managerJoinBatches(2, ['a', 'b', 'c'])).toEqual([['a'], ['b', 'c']]);
    expect(managerJoinBatches(1, ['a', 'b', 'c', 'd', 'e', 'f'])).toEqual([['a', 'b'], ['c', 'd'], ['e', 'f']]);
    expect(() => managerJoinBatches(0, ['a'])).toThrow();
  });
});
