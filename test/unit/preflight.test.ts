// The preflight's and check's pure parts: what a reading means, which pairs are sampled, whose link a
// failed pair blames, and the parsers of the remote scripts' answers. (That they measure real robots: test/lab.)
import { describe, expect, it } from '@jest/globals';
import { assess, neededOverlayMtu, overlayMtuFor, probePlan, probeVerdict, type Reading } from '../../src/plan/preflight.js';
import { judgePairs, summaryText, verdictOf } from '../../src/plan/check.js';
import { parsePathMtus, parsePreflight } from '../../src/remote/preflight.js';
import { parseFetch, parseTask, parseTasks } from '../../src/remote/check.js';

const reading = (robot: string, extra: Partial<Reading> = {}): Reading => ({
  robot,
  offsetS: 0.01,
  rttMs: 4,
  iface: 'eth0',
  mtu: 1500,
  vxlan: true,
  ipVs: true,
  kernel: '6.1.0',
  machineId: `${robot.toLowerCase().padEnd(16, '0').slice(0, 16)}`,
  engineVersion: '28.2.2',
  pingDf: true,
  inSwarm: false,
  overlayOptional: false,
  ...extra,
});
const FLEET = ['Anton', 'Ida', 'Otto', 'Emil', 'Paula'];
const healthy = () => FLEET.map((r) => reading(r));
const judge = (readings: Reading[], extra: Partial<Parameters<typeof assess>[0]> = {}) =>
  assess({ readings, probes: [], paths: [], overlayMtu: undefined, ...extra });

describe('preflight findings', () => {
  it('a healthy fleet has none', () => {
    expect(judge(healthy())).toEqual([]);
  });

  it('a clock 10 minutes off fails that robot with its offset and the fix; the laptop being off is only a note', () => {
    const readings = healthy().map((r) => (r.robot === 'Otto' ? { ...r, offsetS: 600.2 } : r));
    const [f] = judge(readings);
    expect(f).toMatchObject({ check: 'clock', severity: 'fail', robots: ['Otto'], measured: { offsetS: 600.2 } });
    expect(f?.text).toMatch(/clock \+600 s off this laptop's.*timedatectl set-ntp true/);
    // every robot an hour off the laptop, agreeing with each other: the laptop is wrong
    const laptopOff = judge(healthy().map((r) => ({ ...r, offsetS: 3600 })));
    expect(laptopOff.map((x) => `${x.check} ${x.severity}`)).toEqual(['clock note']);
  });

  it('a robot already in the swarm is told, not failed', () => {
    const readings = healthy().map((r) => (r.robot === 'Otto' ? { ...r, offsetS: -900, inSwarm: true } : r));
    expect(judge(readings)[0]).toMatchObject({ check: 'clock', severity: 'note', robots: ['Otto'] });
  });

  it('no vxlan fails the robot unless requireOverlay: false; no ip_vs is one note for all', () => {
    const readings = healthy().map((r) => ({ ...r, ipVs: false, ...(r.robot === 'Ida' ? { vxlan: false } : {}) }));
    const found = judge(readings);
    expect(found.find((f) => f.check === 'vxlan')).toMatchObject({ severity: 'fail', robots: ['Ida'] });
    expect(found.filter((f) => f.check === 'ip_vs')).toEqual([expect.objectContaining({ severity: 'note', robots: FLEET })]);
    const optional = judge(readings.map((r) => ({ ...r, overlayOptional: true })));
    expect(optional.find((f) => f.check === 'vxlan')?.severity).toBe('note');
  });

  it("an interface at 1400 names the overlay's MTU; auto then fits, a set value too large is said", () => {
    const readings = healthy().map((r) => (r.robot === 'Ida' ? { ...r, mtu: 1400 } : r));
    expect(judge(readings)[0]?.text).toMatch(/eth0 has MTU 1400.*the overlay needs MTU 1350.*swarm\.overlayMtu: auto \(or 1350\)/);
    expect(judge(readings, { overlayMtu: 'auto' })[0]?.text).toMatch(/overlayMtu auto gives the overlay 1350: it fits/);
    expect(neededOverlayMtu(readings, [])).toEqual({ lowest: 1400, needed: 1350 });
    expect(overlayMtuFor('auto', 1350)).toBe(1350);
    expect(overlayMtuFor('auto', 1450)).toBeNull(); // Docker's default fits
    expect(overlayMtuFor(undefined, 1350)).toBeNull();
    expect(overlayMtuFor(1300, 1350)).toBe(1300);
  });

  it('a path that passes 1400 bytes unfragmented lowers the need like an interface does', () => {
    const paths = [{ from: 'Anton', to: 'Otto', mtu: 1400 }];
    const f = judge(healthy(), { paths }).find((x) => x.check === 'path-mtu');
    expect(f).toMatchObject({ robots: ['Anton', 'Otto'], measured: { pathMtu: 1400 } });
    expect(neededOverlayMtu(healthy(), paths).needed).toBe(1350);
  });

  it('TCP 2377 filtered to every manager fails a joining robot; filtered gossip is a note naming the pair', () => {
    const probes = [
      { from: 'Emil', to: 'Anton', port: 2377, result: 'filtered' as const },
      { from: 'Emil', to: 'Ida', port: 2377, result: 'filtered' as const },
      { from: 'Ida', to: 'Anton', port: 2377, result: 'refused' as const },
      { from: 'Ida', to: 'Otto', port: 7946, result: 'filtered' as const },
      { from: 'Otto', to: 'Anton', port: 2377, result: 'forbidden' as const },
    ];
    const found = judge(healthy(), { probes });
    expect(found.find((f) => f.severity === 'fail')).toMatchObject({ check: 'tcp', robots: ['Emil'] });
    expect(found.find((f) => f.measured.port === 7946)?.text).toMatch(/Ida → Otto TCP 7946 \(gossip\): no answer/);
    expect(found.find((f) => f.check === 'forwarding')?.robots).toEqual(['Otto']);
  });

  it('a timed-out probe on a starved machine: judged again after a longer try, filtered only when the peer answers on its sshd', () => {
    expect(probeVerdict('refused')).toBe('refused'); // a refusal is an answer: never tried again
    expect(probeVerdict('open')).toBe('open');
    expect(probeVerdict('filtered', 'open', 'open')).toBe('open'); // the first try was only slow
    expect(probeVerdict('filtered', 'refused', 'open')).toBe('refused');
    expect(probeVerdict('filtered', 'filtered', 'open')).toBe('filtered'); // the peer answers; only this port is silent
    expect(probeVerdict('filtered', 'filtered', 'refused')).toBe('filtered');
    expect(probeVerdict('filtered', 'filtered', 'filtered')).toBe('unknown'); // nothing answers: starved, not judged
    expect(probeVerdict('filtered', 'unreachable', 'unreachable')).toBe('unreachable');
  });

  it('probes not judged fail no robot: one note counts them, naming a few', () => {
    const probes = [
      { from: 'Emil', to: 'Anton', port: 2377, result: 'unknown' as const },
      { from: 'Emil', to: 'Ida', port: 2377, result: 'unknown' as const },
      { from: 'Paula', to: 'Ida', port: 7946, result: 'unknown' as const },
    ];
    const found = judge(healthy(), { probes }).filter((f) => f.check === 'tcp');
    expect(found.filter((f) => f.severity === 'fail')).toEqual([]);
    expect(found).toHaveLength(1);
    expect(found[0]?.text).toMatch(/^3 TCP probes not judged \(Emil → Anton TCP 2377, Emil → Ida TCP 2377, Paula → Ida TCP 7946\)/);
    // One filtered manager among unknown ones: a note on that pair, still no failure.
    const mixed = [...probes.slice(0, 1), { from: 'Emil', to: 'Ida', port: 2377, result: 'filtered' as const }];
    expect(judge(healthy(), { probes: mixed }).filter((f) => f.severity === 'fail')).toEqual([]);
  });

  it('shared machine-id and mixed engine majors are named once', () => {
    const readings = healthy().map((r) => ({
      ...r,
      machineId: 'abcdef0123456789',
      engineVersion: r.robot === 'Paula' ? '20.10.24' : '28.2.2',
    }));
    const found = judge(readings);
    expect(found.filter((f) => f.check === 'machine-id')).toHaveLength(1);
    expect(found.find((f) => f.check === 'engine')?.text).toMatch(/28\.x on Anton, Ida, Otto, Emil; 20\.x on Paula/);
  });
});

describe('sampled pairs', () => {
  const targets = FLEET.map((name, i) => ({ name, ip: `10.0.0.${i + 1}` }));
  it('each robot: its ring neighbour and one other for gossip; up to three managers for 2377; never itself', () => {
    const plan = probePlan(targets, ['Anton', 'Ida', 'Otto', 'Emil'], 1, () => 0.5);
    for (const name of FLEET) {
      const peers = plan.peers.filter((p) => p.from === name).map((p) => p.to.name);
      expect(peers).toHaveLength(2);
      expect(peers).not.toContain(name);
      const managers = plan.swarm.filter((p) => p.from === name).map((p) => p.to.name);
      expect(managers.length).toBeLessThanOrEqual(3);
      expect(managers).not.toContain(name);
    }
    expect(plan.peers.filter((p) => p.from === 'Paula')[0]?.to.name).toBe('Anton'); // the ring closes
  });
  it('grows linearly, not n²', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ name: `R${i}`, ip: `10.1.${i >> 8}.${i & 255}` }));
    const plan = probePlan(
      many,
      many.slice(0, 7).map((t) => t.name),
    );
    expect(plan.peers.length).toBe(600);
    expect(plan.swarm.length).toBeLessThanOrEqual(900);
  });
});

describe("check's verdicts", () => {
  const pair = (from: string, to: string, small = 3, big = 65536) => ({ from, to, small, big });
  it('a stalled transfer is a black hole, no bytes at all is no connection', () => {
    expect(verdictOf(pair('A', 'B'))).toBe('passed');
    expect(verdictOf(pair('A', 'B', 3, 0))).toBe('stalled');
    expect(verdictOf(pair('A', 'B', 0, 0))).toBe('no-connection');
  });

  it('a robot all of whose pairs failed is blamed; the others only get a note', () => {
    const results = [pair('A', 'B'), pair('B', 'C'), pair('C', 'E', 0, 0), pair('E', 'A', 0, 0), pair('A', 'C'), pair('B', 'E', 0, 0)];
    const j = judgePairs(results, 1450, 'fix');
    expect(j.blamed).toEqual(['E']);
    expect([...j.failures.keys()]).toEqual(['E']);
    expect(j.failures.get('E')).toMatch(/no TCP connection over the overlay — UDP 4789 \(VXLAN\) or 7946/);
    expect(j.notes.get('C')).toMatch(/\(E's link\)/);
  });

  it("a robot whose own fetches all stall (its link's MTU is lower) is blamed, not the robots it fetched from", () => {
    const results = [pair('I', 'A', 3, 0), pair('I', 'B', 3, 0), pair('A', 'I'), pair('B', 'A'), pair('A', 'B')];
    const j = judgePairs(results, 1450, 'Set swarm.overlayMtu: 1350');
    expect([...j.failures.keys()]).toEqual(['I']);
    expect(j.failures.get('I')).toMatch(
      /the 64 KiB transfer stalled after the first bytes — a path-MTU black hole.*Set swarm\.overlayMtu: 1350/,
    );
  });

  it('a failed pair no robot explains fails both ends', () => {
    const j = judgePairs([pair('A', 'B', 0, 0), pair('B', 'C'), pair('C', 'A'), pair('A', 'C')], 1450, '');
    expect([...j.failures.keys()].sort()).toEqual(['A', 'B']);
  });

  it('the summary line', () => {
    const text = summaryText({
      robots: 10,
      ranTask: 10,
      pairs: 20,
      pairsPassed: 20,
      mtu: 1450,
      movedInS: 3.14,
      spread: { replicas: 3, nodes: 3 },
      constraint: null,
      failed: false,
    });
    expect(text).toBe(
      'swarm works: 10/10 robots ran a task, 20/20 overlay pairs passed 64 KiB at MTU 1450, a task moved in 3.1 s, 3 replicas on 3 nodes',
    );
  });
});

describe('parsers of the remote answers', () => {
  it('preflight.sh: a date without %N gives whole seconds; garbage values are dropped', () => {
    const r = parsePreflight(
      'clock=1764880000.N\niface=eth0\nmtu=1400\nvxlan=yes\nip_vs=no\nkernel=6.1\nmachine_id=zz\nengine_version=$(x)\nping_df=yes\n',
    );
    expect(r).toMatchObject({ clockS: 1764880000, mtu: 1400, vxlan: true, ipVs: false, machineId: null, pingDf: true });
    expect(() => parsePreflight('hello')).toThrow(/could not understand/);
  });
  it('path-mtu.sh, check-task.sh, check-fetch.sh, task JSON', () => {
    expect([...parsePathMtus('pmtu=10.0.0.2 1400\npmtu=10.0.0.3 0\nnoise\n')]).toEqual([
      ['10.0.0.2', 1400],
      ['10.0.0.3', 0],
    ]);
    expect(parseTask('none\n')).toBeNull();
    expect(parseTask('ip=10.0.2.3\ntool=wget\ntool=httpd\nmtu=1350\n')).toEqual({ ip: '10.0.2.3', mtu: 1350, tools: ['wget', 'httpd'] });
    expect(parseFetch('pair 10.0.2.4 3 65536\npair 10.0.2.5 3 1200\ndns 5\nskip nslookup\n')).toEqual({
      pairs: [
        { peer: '10.0.2.4', small: 3, big: 65536 },
        { peer: '10.0.2.5', small: 3, big: 1200 },
      ],
      dns: 5,
      skipped: ['nslookup'],
    });
    expect(parseTasks('{"NodeID":"n1","DesiredState":"running","Status":{"State":"rejected","Err":"no such image"}}\n')).toEqual([
      { nodeId: 'n1', state: 'rejected', desired: 'running', error: 'no such image' },
    ]);
  });
});
