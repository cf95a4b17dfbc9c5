import { describe, expect, it } from '@jest/globals';
import {
  defaultManagerCount,
  faultTolerance,
  managerJoinBatches,
  planRoles,
  roleChanges,
  toleranceText,
  type PlanRobot,
  type RolePlan,
} from '../../src/plan/quorum.js';

function robot(name: string, over: Partial<PlanRobot> = {}): PlanRobot {
  return { name, reachable: true, canBecomeManager: true, canBecomeLeader: true, pinnedRole: 'auto', currentRole: 'none', ...over };
}

const fleet = (n: number, over: Partial<PlanRobot> = {}) => Array.from({ length: n }, (_, i) => robot(`r${i + 1}`, over));

/** The robots as they are after the plan ran: current roles taken from the plan. */
function applied(robots: PlanRobot[], plan: RolePlan): PlanRobot[] {
  return robots.map((r) => ({ ...r, currentRole: plan.managers.includes(r.name) ? 'manager' : 'worker' }));
}

function perZone(robots: PlanRobot[], plan: RolePlan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of plan.managers) {
    const zone = robots.find((r) => r.name === name)?.zone ?? '(none)';
    out[zone] = (out[zone] ?? 0) + 1;
  }
  return out;
}

const reasonOf = (plan: RolePlan, name: string) => plan.decisions.find((d) => d.name === name)?.reason;

function zonedNine(): PlanRobot[] {
  return [
    ...['a1', 'a2', 'a3', 'a4'].map((n) => robot(n, { zone: 'a' })),
    ...['b1', 'b2', 'b3'].map((n) => robot(n, { zone: 'b' })),
    ...['c1', 'c2'].map((n) => robot(n, { zone: 'c' })),
  ];
}

describe('fault tolerance', () => {
  it('follows floor((n-1)/2)', () => {
    const table = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => [n, faultTolerance(n)]);
    expect(table).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 1],
      [4, 1],
      [5, 2],
      [6, 2],
      [7, 3],
    ]);
  });

  it('is stated in words', () => {
    expect(toleranceText(1)).toBe('1 manager — tolerates 0 failures');
    expect(toleranceText(3)).toBe('3 managers — tolerates 1 failure');
    expect(toleranceText(5)).toBe('5 managers — tolerates 2 failures');
  });
});

describe('default manager count', () => {
  it('is the largest odd number up to min(7, eligible reachable)', () => {
    const got = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 300].map(defaultManagerCount);
    expect(got).toEqual([0, 1, 1, 3, 3, 5, 5, 7, 7, 7, 7, 7]);
  });
});

describe('planRoles', () => {
  it('makes 3 fresh robots 3 managers, the first one leader', () => {
    const plan = planRoles({ robots: fleet(3), managers: 'auto' });
    expect(plan.managers).toEqual(['r1', 'r2', 'r3']);
    expect(plan.leader).toBe('r1');
    expect(plan.tolerance).toBe(1);
    expect(plan.warnings).toEqual([]);
    expect(plan.decisions.map((d) => d.role)).toEqual(['manager', 'manager', 'manager']);
  });

  it('picks 3 managers among the 3 of 5 robots allowed to manage', () => {
    const robots = fleet(5);
    robots[0] = { ...robots[0]!, canBecomeManager: false };
    robots[3] = { ...robots[3]!, canBecomeManager: false };
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers).toEqual(['r2', 'r3', 'r5']);
    expect(plan.leader).toBe('r2');
    expect(reasonOf(plan, 'r1')).toBe('not allowed to manage');
    expect(plan.decisions.map((d) => d.name)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('spreads 7 managers over zones a×4, b×3, c×2 as 3-2-2', () => {
    const robots = zonedNine();
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers).toHaveLength(7);
    expect(perZone(robots, plan)).toEqual({ a: 3, b: 2, c: 2 });
    expect(plan.warnings).toEqual([]);
  });

  it('spreads 3 managers over 3 zones one each', () => {
    const robots = [
      robot('a1', { zone: 'a' }),
      robot('a2', { zone: 'a' }),
      robot('b1', { zone: 'b' }),
      robot('b2', { zone: 'b' }),
      robot('c1', { zone: 'c' }),
    ];
    const plan = planRoles({ robots, managers: 3 });
    expect(perZone(robots, plan)).toEqual({ a: 1, b: 1, c: 1 });
  });

  it('accepts the unavoidable 3-2 of 5 managers over two zones without warning', () => {
    const robots = [...['a1', 'a2', 'a3'].map((n) => robot(n, { zone: 'a' })), ...['b1', 'b2', 'b3'].map((n) => robot(n, { zone: 'b' }))];
    const plan = planRoles({ robots, managers: 'auto' });
    expect(Object.values(perZone(robots, plan)).sort()).toEqual([2, 3]);
    expect(plan.warnings).toEqual([]);
  });

  it('moves a kept manager out of a zone that holds a majority when another zone can take the seat', () => {
    const robots = [
      robot('a1', { zone: 'a', currentRole: 'manager' }),
      robot('a2', { zone: 'a', currentRole: 'manager' }),
      robot('a3', { zone: 'a', currentRole: 'manager' }),
      robot('b1', { zone: 'b', currentRole: 'worker' }),
      robot('c1', { zone: 'c', currentRole: 'worker' }),
    ];
    const plan = planRoles({ robots, managers: 3, leader: 'a1' });
    expect(plan.managers).toEqual(['a1', 'b1', 'c1']);
    expect(reasonOf(plan, 'a3')).toMatch(/^demoted: zone a/);
    expect(roleChanges(plan, robots)).toEqual({ promote: ['b1', 'c1'], demote: ['a2', 'a3'], handOver: null });
  });

  it('warns when pinned managers give one zone an avoidable majority', () => {
    const robots = [
      robot('a1', { zone: 'a', pinnedRole: 'manager' }),
      robot('a2', { zone: 'a', pinnedRole: 'manager' }),
      robot('b1', { zone: 'b' }),
      robot('c1', { zone: 'c' }),
    ];
    const plan = planRoles({ robots, managers: 3 });
    expect(plan.managers).toEqual(['a1', 'a2', 'b1']);
    expect(plan.warnings).toContain('zone a holds 2 of 3 managers: losing it loses quorum');
  });

  it('honours pinned roles', () => {
    const robots = [
      robot('w', { pinnedRole: 'worker' }),
      robot('m1', { pinnedRole: 'manager', canBecomeLeader: false }),
      robot('x', { pinnedRole: 'manager', canBecomeManager: false }),
      robot('a'),
      robot('b'),
      robot('m2', { pinnedRole: 'manager' }),
    ];
    const plan = planRoles({ robots, managers: 3 });
    expect(plan.managers).toEqual(['m1', 'a', 'm2']);
    expect(reasonOf(plan, 'w')).toBe('pinned worker');
    expect(reasonOf(plan, 'm2')).toBe('pinned manager');
    expect(plan.decisions.find((d) => d.name === 'x')?.role).toBe('worker');
    expect(plan.warnings.some((w) => w.startsWith('x is pinned as manager but may not manage'))).toBe(true);
  });

  it('keeps every pinned manager under auto and warns about an even count with its tolerance', () => {
    const robots = fleet(4, { pinnedRole: 'manager' });
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(plan.tolerance).toBe(1);
    expect(plan.warnings).toContain('4 managers — tolerates 1 failure: an even count adds no tolerance');
  });

  it('warns about a requested even count', () => {
    const plan = planRoles({ robots: fleet(6), managers: 4 });
    expect(plan.managers).toHaveLength(4);
    expect(plan.warnings).toContain('4 managers — tolerates 1 failure: an even count adds no tolerance');
  });

  it('plans the same managers again once they are managers (stability)', () => {
    for (const robots of [fleet(5), zonedNine(), fleet(12)]) {
      const first = planRoles({ robots, managers: 'auto' });
      const again = planRoles({ robots: applied(robots, first), managers: 'auto', leader: first.leader });
      expect(again.managers).toEqual(first.managers);
      expect(again.leader).toBe(first.leader);
      expect(roleChanges(again, applied(robots, first))).toEqual({ promote: [], demote: [], handOver: null });
      const noLeaderGiven = planRoles({ robots: applied(robots, first), managers: 'auto' });
      expect(noLeaderGiven.managers).toEqual(first.managers);
    }
  });

  it('keeps current managers instead of re-spreading them needlessly', () => {
    // 3-3-1 over three zones holds no majority: nothing to change although the greedy would pick 3-2-2.
    const robots = ['a', 'b', 'c'].flatMap((z) =>
      [1, 2, 3, 4].map((i) => robot(`${z}${i}`, { zone: z, currentRole: z === 'c' && i > 1 ? 'worker' : i <= 3 ? 'manager' : 'worker' })),
    );
    const plan = planRoles({ robots, managers: 'auto' });
    expect(perZone(robots, plan)).toEqual({ a: 3, b: 3, c: 1 });
    expect(roleChanges(plan, robots)).toEqual({ promote: [], demote: [], handOver: null });
  });

  it('demotes current managers beyond the target, from the fullest zone and never the leader', () => {
    const robots = [
      robot('a1', { zone: 'a', currentRole: 'manager' }),
      robot('a2', { zone: 'a', currentRole: 'manager' }),
      robot('a3', { zone: 'a', currentRole: 'manager' }),
      robot('b1', { zone: 'b', currentRole: 'manager' }),
      robot('b2', { zone: 'b', currentRole: 'manager' }),
    ];
    const plan = planRoles({ robots, managers: 3, leader: 'a3' });
    expect(plan.managers).toEqual(['a1', 'a3', 'b1']);
    expect(plan.leader).toBe('a3');
    expect(reasonOf(plan, 'a2')).toBe('demoted: more managers than target');
    expect(roleChanges(plan, robots)).toEqual({ promote: [], demote: ['a2', 'b2'], handOver: null });
  });

  it('keeps unreachable managers (they hold a Raft vote) and leaves other unreachable robots workers', () => {
    const robots = [
      robot('old-leader', { reachable: false, currentRole: 'manager' }),
      robot('m2', { currentRole: 'manager' }),
      robot('m3', { currentRole: 'manager' }),
      robot('gone', { reachable: false }),
      robot('new'),
    ];
    const plan = planRoles({ robots, managers: 'auto' });
    // 3 reachable eligible + 1 unreachable manager = 4 → 3 managers: the same three as before.
    expect(plan.managers).toEqual(['old-leader', 'm2', 'm3']);
    expect(plan.leader).toBe('m2');
    expect(reasonOf(plan, 'gone')).toBe('unreachable — stays worker');
    expect(reasonOf(plan, 'new')).toBe('enough managers');
    expect(roleChanges(plan, robots)).toEqual({ promote: [], demote: [], handOver: null });
  });

  it('does not count unreachable robots as new managers', () => {
    const robots = [robot('a'), robot('b', { reachable: false }), robot('c', { reachable: false }), robot('d')];
    const plan = planRoles({ robots, managers: 'auto' });
    expect(plan.managers).toEqual(['a']);
  });

  it('always makes the leader a manager', () => {
    const robots = [
      robot('a', { canBecomeLeader: false }),
      robot('b', { canBecomeLeader: false }),
      robot('c'),
      robot('d', { pinnedRole: 'worker' }),
    ];
    for (const managers of ['auto', 1, 3] as const) {
      const plan = planRoles({ robots, managers, leader: 'd' });
      expect(plan.leader).toBe('c');
      expect(plan.managers).toContain(plan.leader);
    }
    expect(planRoles({ robots, managers: 1 }).managers).toEqual(['c']);
  });

  it('keeps the requested leader when it may lead, and prefers a current manager otherwise', () => {
    expect(planRoles({ robots: fleet(5), managers: 'auto', leader: 'r4' }).leader).toBe('r4');
    const robots = [robot('a'), robot('b', { currentRole: 'manager' }), robot('c', { currentRole: 'worker' })];
    expect(planRoles({ robots, managers: 1 }).managers).toEqual(['b']);
  });

  it('warns and still names a leader when no robot may lead', () => {
    const plan = planRoles({ robots: fleet(3, { canBecomeLeader: false }), managers: 'auto' });
    expect(plan.leader).toBe('r1');
    expect(plan.managers).toEqual(['r1', 'r2', 'r3']);
    expect(plan.warnings.some((w) => w.includes('no robot may lead'))).toBe(true);
  });

  it('caps 300 robots at 7 managers', () => {
    const plan = planRoles({ robots: fleet(300), managers: 'auto' });
    expect(plan.managers).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
    expect(plan.tolerance).toBe(3);
    expect(plan.decisions).toHaveLength(300);
  });

  it('caps a requested count at the robots allowed to manage and warns', () => {
    const robots = [...fleet(2), robot('no', { canBecomeManager: false }), robot('w', { pinnedRole: 'worker' })];
    const plan = planRoles({ robots, managers: 5 });
    expect(plan.managers).toEqual(['r1', 'r2']);
    expect(plan.warnings.some((w) => w.includes('fewer managers than requested'))).toBe(true);
    expect(plan.warnings).toContain('2 managers — tolerates 0 failures: an even count adds no tolerance');
  });

  it('plans no managers when nobody may manage', () => {
    const plan = planRoles({ robots: fleet(2, { canBecomeManager: false }), managers: 'auto' });
    expect(plan.managers).toEqual([]);
    expect(plan.leader).toBe('');
    expect(plan.warnings).toContain('no reachable robot may manage: there can be no swarm');
  });
});

describe('managerJoinBatches', () => {
  it('joins 1 → 3 at once, then two at a time', () => {
    expect(managerJoinBatches(1, ['a', 'b', 'c', 'd'])).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(managerJoinBatches(1, ['a', 'b', 'c', 'd', 'e', 'f'])).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ]);
    expect(managerJoinBatches(1, ['a'])).toEqual([['a']]);
    expect(managerJoinBatches(3, ['a', 'b', 'c'])).toEqual([['a', 'b'], ['c']]);
    expect(managerJoinBatches(1, [])).toEqual([]);
  });

  it('makes an even count odd first', () => {
    expect(managerJoinBatches(2, ['a', 'b', 'c'])).toEqual([['a'], ['b', 'c']]);
  });

  it('refuses a swarm without managers', () => {
    expect(() => managerJoinBatches(0, ['a'])).toThrow();
  });
});

describe('roleChanges', () => {
  it('only touches reachable robots already in the swarm', () => {
    const robots = [
      robot('keep', { currentRole: 'manager' }),
      robot('up', { currentRole: 'worker' }),
      robot('fresh'),
      robot('away', { reachable: false, currentRole: 'worker' }),
      robot('down', { currentRole: 'manager', canBecomeManager: false }),
    ];
    const plan = planRoles({ robots, managers: 'auto', leader: 'keep' });
    expect(plan.managers).toEqual(['keep', 'up', 'fresh']);
    expect(roleChanges(plan, robots)).toEqual({ promote: ['up'], demote: ['down'], handOver: null });
  });
});

describe('leader hand-over', () => {
  // Five robots, a swarm of three managers led by a; then a is pinned worker (or may no longer manage).
  const swarmOfFive = (over: Partial<PlanRobot>) => [
    robot('a', { currentRole: 'manager', ...over }),
    robot('b', { currentRole: 'manager' }),
    robot('c', { currentRole: 'manager' }),
    robot('d', { currentRole: 'worker' }),
    robot('e', { currentRole: 'worker' }),
  ];

  for (const [what, over] of [
    ['pinned worker', { pinnedRole: 'worker' }],
    ['canBecomeManager: false', { canBecomeManager: false }],
  ] as const) {
    it(`a leader that is ${what}: a staying manager leads, the leader is handed over, the count is kept`, () => {
      const robots = swarmOfFive(over);
      const plan = planRoles({ robots, managers: 'auto', leader: 'a' });
      expect(plan.leader).toBe('b');
      expect(plan.managers).toEqual(['b', 'c', 'd']);
      expect(plan.decisions.find((d) => d.name === 'a')?.role).toBe('worker');
      expect(roleChanges(plan, robots, 'a')).toEqual({ promote: ['d'], demote: [], handOver: 'a' });
    });
  }

  it("the new leader is the inventory's swarm.leader when it is a manager that stays", () => {
    const plan = planRoles({ robots: swarmOfFive({ pinnedRole: 'worker' }), managers: 'auto', leader: 'a', preferredLeader: 'c' });
    expect(plan.leader).toBe('c');
  });

  it('a preferred leader that is only a worker now does not win over a staying manager', () => {
    const plan = planRoles({ robots: swarmOfFive({ pinnedRole: 'worker' }), managers: 'auto', leader: 'a', preferredLeader: 'e' });
    expect(plan.leader).toBe('b');
  });

  it('a staying manager that may not lead is passed over for one that may', () => {
    const robots = swarmOfFive({ pinnedRole: 'worker' }).map((r) => (r.name === 'b' ? { ...r, canBecomeLeader: false } : r));
    expect(planRoles({ robots, managers: 'auto', leader: 'a' }).leader).toBe('c');
  });

  it('a lone manager pinned worker: a worker is promoted and leads, then the old leader is handed over', () => {
    const robots = [
      robot('a', { currentRole: 'manager', pinnedRole: 'worker' }),
      robot('b', { currentRole: 'worker' }),
      robot('c', { currentRole: 'worker' }),
    ];
    const plan = planRoles({ robots, managers: 1, leader: 'a' });
    expect(plan.managers).toEqual(['b']);
    expect(roleChanges(plan, robots, 'a')).toEqual({ promote: ['b'], demote: [], handOver: 'a' });
  });

  it('a smaller swarm.managers drops other managers, never the leader', () => {
    const robots = swarmOfFive({});
    const plan = planRoles({ robots, managers: 1, leader: 'a' });
    expect(plan.managers).toEqual(['a']);
    expect(roleChanges(plan, robots, 'a')).toEqual({ promote: [], demote: ['b', 'c'], handOver: null });
  });
});
