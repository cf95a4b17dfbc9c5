import { describe, expect, it } from '@jest/globals';
import { followUpPlan, meshVerdict, ringPlan, type Edge, type Probe } from '../../src/plan/mesh.js';

const names = ['Anton', 'Ida', 'Otto', 'Emil'];

/** Probe a fleet where `refuses` lets nobody in and `blind` reaches nobody; `brokenEdges` fail alone. */
function world(refuses: string[] = [], blind: string[] = [], brokenEdges: string[] = []) {
  return (e: Edge): Probe => {
    const bad = refuses.includes(e.to)
      ? 'Permission denied (publickey).'
      : blind.includes(e.from)
        ? 'ssh: command not found'
        : brokenEdges.includes(`${e.from}>${e.to}`)
          ? 'Host key verification failed.'
          : '';
    return { ...e, ok: !bad, reason: bad };
  };
}

function check(fleet: string[], probeOf: (e: Edge) => Probe) {
  const ring = ringPlan(fleet).map(probeOf);
  const extra = followUpPlan(fleet, ring).map(probeOf);
  return { ring, extra, verdict: meshVerdict(fleet, [...ring, ...extra]) };
}

describe('the ring', () => {
  it('each robot logs in to the next, the last to the first', () => {
    expect(ringPlan(['A', 'B', 'C'])).toEqual([
      { from: 'A', to: 'B' },
      { from: 'B', to: 'C' },
      { from: 'C', to: 'A' },
    ]);
  });
  it('has nothing to verify for one robot or none, and goes both ways for two', () => {
    expect(ringPlan(['A'])).toEqual([]);
    expect(ringPlan([])).toEqual([]);
    expect(ringPlan(['A', 'B'])).toEqual([
      { from: 'A', to: 'B' },
      { from: 'B', to: 'A' },
    ]);
  });
  it('costs one login per robot and no more when all is well', () => {
    const fleet = Array.from({ length: 100 }, (_, i) => `R${i}`);
    const { ring, extra, verdict } = check(fleet, world());
    expect(ring).toHaveLength(100);
    expect(extra).toEqual([]);
    expect(verdict.verified).toEqual(fleet);
    expect(verdict.blamed.size).toBe(0);
  });
});

describe('pinning the blame', () => {
  it('a robot that refuses everyone is blamed, with the reason ssh gave; its neighbours are not', () => {
    const { extra, verdict } = check(names, world(['Ida']));
    expect(extra.map(({ from, to }) => ({ from, to }))).toEqual([
      { from: 'Otto', to: 'Ida' },
      { from: 'Anton', to: 'Otto' },
    ]);
    expect([...verdict.blamed.keys()]).toEqual(['Ida']);
    expect(verdict.blamed.get('Ida')).toBe(
      'no robot could log in to it by name (ssh Ida from Anton, Otto): Permission denied (publickey).',
    );
    expect(verdict.verified).toEqual(['Anton', 'Otto', 'Emil']);
  });

  it('a robot that reaches nobody is blamed as the source', () => {
    const { verdict } = check(names, world([], ['Otto']));
    expect([...verdict.blamed.keys()]).toEqual(['Otto']);
    expect(verdict.blamed.get('Otto')).toMatch(/^it could log in to no robot by name \(ssh Emil, Anton\): ssh: command not found$/);
    expect(verdict.verified).toEqual(['Anton', 'Ida', 'Emil']);
  });

  it('a single broken pair blames its source, saying both ends work otherwise', () => {
    const { verdict } = check(names, world([], [], ['Anton>Ida']));
    expect([...verdict.blamed.keys()]).toEqual(['Anton']);
    expect(verdict.blamed.get('Anton')).toContain(
      'ssh Ida failed here (Ida is reachable from others, and this robot reaches others): Host key verification failed.',
    );
  });

  it('with three robots a refusing one is still pinned (the smallest lab)', () => {
    const { ring, extra, verdict } = check(['Anton', 'Ida', 'Otto'], world(['Ida']));
    expect(ring.length + extra.length).toBe(5);
    expect([...verdict.blamed.keys()]).toEqual(['Ida']);
    expect(verdict.verified).toEqual(['Anton', 'Otto']);
  });

  it('two robots cannot tell the ends apart: both are named', () => {
    const { extra, verdict } = check(['Anton', 'Ida'], world(['Ida']));
    expect(extra).toEqual([]);
    expect(verdict.blamed.get('Anton')).toMatch(/ssh Ida failed here: Permission denied/);
    expect(verdict.blamed.get('Ida')).toMatch(/Anton could not log in to it by name/);
    expect(verdict.verified).toEqual([]);
  });

  it('when every login fails every robot is named and the extra probes stay linear', () => {
    const fleet = Array.from({ length: 50 }, (_, i) => `R${i}`);
    const { extra, verdict } = check(fleet, world(fleet));
    expect(extra.length).toBeLessThanOrEqual(2 * fleet.length);
    expect(verdict.blamed.size).toBe(50);
    expect(verdict.verified).toEqual([]);
  });

  it('never plans a probe twice or a robot to itself', () => {
    const fleet = ['A', 'B', 'C', 'D', 'E', 'F'];
    const ring = ringPlan(fleet).map(world(['B', 'D'], ['E']));
    const extra = followUpPlan(fleet, ring);
    const all = [...ring, ...extra].map((e) => `${e.from}>${e.to}`);
    expect(new Set(all).size).toBe(all.length);
    expect(extra.every((e) => e.from !== e.to)).toBe(true);
    expect(extra.length).toBeLessThanOrEqual(2 * ring.filter((p) => !p.ok).length);
  });
});
