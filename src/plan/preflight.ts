// The network preflight's decisions, pure: which pairs to probe, and what the readings mean — each
// finding names its robots, what was measured, why it matters and the fix (steps/preflight.ts measures).

/** A robot's own readings (remote/preflight.ts parses them). */
export interface Reading {
  robot: string;
  /** Robot clock minus the operator's at the exec's round-trip midpoint, in seconds. */
  offsetS: number | null;
  rttMs: number;
  iface: string | null;
  mtu: number | null;
  vxlan: boolean;
  ipVs: boolean;
  kernel: string;
  machineId: string | null;
  engineVersion: string;
  /** Its ping can forbid fragmenting (ping -M do): path MTUs were measured from it. */
  pingDf: boolean;
  /** Already a node of the fleet's swarm: a finding that would fail a join is a note there. */
  inSwarm: boolean;
  /** The operator allows it to join without vxlan (requireOverlay: false). */
  overlayOptional: boolean;
}

import type { TcpProbeResult as TcpResult } from '../ssh/connection.js';

export interface TcpProbe {
  from: string;
  to: string;
  port: number;
  result: TcpResult;
}
export interface PathMtu {
  from: string;
  to: string;
  /** The largest size that passed unfragmented; 0: none did (ping blocked or peer down). */
  mtu: number;
}

export type Check = 'clock' | 'tcp' | 'mtu' | 'path-mtu' | 'vxlan' | 'ip_vs' | 'engine' | 'machine-id' | 'forwarding' | 'ping';
export interface Finding {
  check: Check;
  /** fail: those robots would not join, or would break the swarm; note: a degraded swarm. */
  severity: 'fail' | 'note';
  robots: string[];
  measured: Record<string, string | number | boolean>;
  text: string;
}

export interface PreflightReport {
  findings: Finding[];
  readings: Reading[];
  probes: TcpProbe[];
  paths: PathMtu[];
  lowestMtu: number | null;
  neededMtu: number | null;
  /** The MTU of the overlays provision creates; null: Docker's default (1450). */
  overlayMtu: number | null;
  /** The swarm's ingress network's MTU, where a swarm existed (notes say what to recreate). */
  ingressMtu?: number;
}

export const SWARM_PORT = 2377;
export const GOSSIP_PORT = 7946;
export const MAX_CLOCK_OFFSET_S = 30;
const CLOCK_NOTE_S = 5;
export const VXLAN_OVERHEAD = 50;
export const DOCKER_OVERLAY_MTU = 1500 - VXLAN_OVERHEAD;
const MANAGERS_PROBED = 3;

export interface Target {
  name: string;
  ip: string;
}

/**
 * What to probe, sampled rather than n²: each robot to up to three managers it may join (TCP 2377) and
 * to its ring neighbour plus `extra` random others (TCP 7946 and the path MTU).
 */
/** The same numbers in [0, 1) for the same seed (a run's id): the path-MTU peers planned early are the preflight's. */
export function seededRandom(seed: string): () => number {
  let h = 2166136261;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return () => {
    h = (h + 0x6d2b79f5) >>> 0;
    let t = Math.imul(h ^ (h >>> 15), 1 | h);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function probePlan(robots: readonly Target[], managers: readonly string[], extra = 1, random = Math.random) {
  const swarm: { from: string; to: Target }[] = [];
  const peers: { from: string; to: Target }[] = [];
  const managerTargets = managers.flatMap((m) => robots.filter((r) => r.name === m)).slice(0, MANAGERS_PROBED + 1);
  robots.forEach((robot, i) => {
    for (const m of managerTargets.filter((t) => t.name !== robot.name).slice(0, MANAGERS_PROBED)) swarm.push({ from: robot.name, to: m });
    if (robots.length < 2) return;
    const chosen = new Set([(i + 1) % robots.length]);
    // Drawn from those left, so that any `random` (a fixed one in tests) ends.
    const left = robots.map((_, j) => j).filter((j) => j !== i && !chosen.has(j));
    for (let k = 0; k < extra && left.length; k++) chosen.add(left.splice(Math.floor(random() * left.length), 1)[0] as number);
    for (const j of chosen) peers.push({ from: robot.name, to: robots[j] as Target });
  });
  return { swarm, peers };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const seconds = (s: number) => `${s >= 0 ? '+' : '−'}${Math.abs(s).toFixed(Math.abs(s) < 10 ? 1 : 0)} s`;
const list = (names: readonly string[]) => names.join(', ');

function clockFindings(readings: readonly Reading[]): Finding[] {
  const timed = readings.filter((r) => r.offsetS !== null);
  if (!timed.length) return [];
  const fleetMedian = median(timed.map((r) => r.offsetS as number));
  // The laptop is the reference while any robot agrees with it (robots booted in 1970 together may be
  // the majority); only when none does is the laptop the one off, and the fleet's median the reference.
  const laptopRight = timed.some((r) => Math.abs(r.offsetS as number) <= MAX_CLOCK_OFFSET_S);
  const out: Finding[] = [];
  for (const r of timed) {
    const offset = r.offsetS as number;
    const fromFleet = offset - fleetMedian;
    const measured = { offsetS: Number(offset.toFixed(3)), fromFleetMedianS: Number(fromFleet.toFixed(3)), rttMs: r.rttMs };
    if (Math.abs(laptopRight ? offset : fromFleet) > MAX_CLOCK_OFFSET_S)
      out.push({
        check: 'clock',
        severity: 'fail',
        robots: [r.robot],
        measured,
        text: `clock ${seconds(offset)} off this laptop's (${seconds(fromFleet)} off the fleet's median): a swarm's TLS certificates are "not yet valid" or expired on it, so its join fails or breaks later. Fix: timedatectl set-ntp true (or chronyc makestep), then run again`,
      });
    else if (Math.abs(laptopRight ? offset : fromFleet) > CLOCK_NOTE_S)
      out.push({
        check: 'clock',
        severity: 'note',
        robots: [r.robot],
        measured,
        text: `clock ${seconds(laptopRight ? offset : fromFleet)} off ${laptopRight ? "this laptop's" : "the fleet's median"}: within ${MAX_CLOCK_OFFSET_S} s, but drifting (timedatectl set-ntp true)`,
      });
  }
  if (!laptopRight)
    out.push({
      check: 'clock',
      severity: 'note',
      robots: timed.map((r) => r.robot),
      measured: { fleetMedianOffsetS: Number(fleetMedian.toFixed(3)) },
      text: `every robot is more than ${MAX_CLOCK_OFFSET_S} s off this laptop's clock (median ${seconds(fleetMedian)}): check the laptop's time; the robots were judged against their median`,
    });
  return out;
}

function kernelFindings(readings: readonly Reading[]): Finding[] {
  const out: Finding[] = [];
  for (const r of readings.filter((x) => !x.vxlan))
    out.push({
      check: 'vxlan',
      severity: r.overlayOptional ? 'note' : 'fail',
      robots: [r.robot],
      measured: { vxlan: false, kernel: r.kernel },
      text: `kernel ${r.kernel} has no vxlan module (not in /sys/module, not loadable): it can join but run no service on an overlay network${r.overlayOptional ? ' (requireOverlay: false: joins anyway)' : '. Fix: a kernel with CONFIG_VXLAN, or set requireOverlay: false for this robot to let it join for non-overlay services'}`,
    });
  const noIpVs = readings.filter((r) => !r.ipVs).map((r) => r.robot);
  if (noIpVs.length)
    out.push({
      check: 'ip_vs',
      severity: 'note',
      robots: noIpVs,
      measured: { ipVs: false },
      text: `no ip_vs kernel module on ${noIpVs.length === readings.length ? 'any robot' : list(noIpVs)}: service VIPs and published ports (the routing mesh) will not work there; services with --endpoint-mode dnsrr and host-mode ports will. Fix: a kernel with CONFIG_IP_VS`,
    });
  const majors = new Map<string, string[]>();
  for (const r of readings.filter((x) => x.engineVersion)) {
    const major = r.engineVersion.split('.')[0] as string;
    majors.set(major, [...(majors.get(major) ?? []), r.robot]);
  }
  if (majors.size > 1)
    out.push({
      check: 'engine',
      severity: 'note',
      robots: readings.map((r) => r.robot),
      measured: Object.fromEntries(readings.map((r) => [r.robot, r.engineVersion])),
      text: `Docker engines of different major versions: ${[...majors].map(([m, rs]) => `${m}.x on ${list(rs)}`).join('; ')}. Swarm mixes them, but features and fixes differ: upgrade to one version`,
    });
  const byId = new Map<string, string[]>();
  for (const r of readings.filter((x) => x.machineId))
    byId.set(r.machineId as string, [...(byId.get(r.machineId as string) ?? []), r.robot]);
  for (const [id, robots] of byId)
    if (robots.length > 1)
      out.push({
        check: 'machine-id',
        severity: 'note',
        robots,
        measured: { machineIdSha256Prefix: id },
        text: `${list(robots)} share one /etc/machine-id (cloned from one image): DHCP client IDs, journald and systemd tell them apart by it. Fix on each but one: rm /etc/machine-id && systemd-machine-id-setup, then reboot`,
      });
  return out;
}

/** The MTU the overlay must use: the fleet's lowest (interface or measured path) minus VXLAN's 50 bytes. */
export function neededOverlayMtu(
  readings: readonly Reading[],
  paths: readonly PathMtu[],
): { lowest: number | null; needed: number | null } {
  const mtus = [...readings.map((r) => r.mtu ?? 0), ...paths.map((p) => p.mtu)].filter((m) => m > 0);
  if (!mtus.length) return { lowest: null, needed: null };
  const lowest = Math.min(...mtus);
  return { lowest, needed: Math.min(lowest - VXLAN_OVERHEAD, DOCKER_OVERLAY_MTU) };
}

/** swarm.overlayMtu resolved: the MTU the overlay networks provision creates get; null: Docker's default. */
export function overlayMtuFor(setting: 'auto' | number | undefined, needed: number | null): number | null {
  if (typeof setting === 'number') return setting;
  if (setting === 'auto' && needed !== null && needed < DOCKER_OVERLAY_MTU) return needed;
  return null;
}

function mtuFindings(readings: readonly Reading[], paths: readonly PathMtu[], setting: 'auto' | number | undefined): Finding[] {
  const out: Finding[] = [];
  const { lowest, needed } = neededOverlayMtu(readings, paths);
  const chosen = overlayMtuFor(setting, needed) ?? DOCKER_OVERLAY_MTU;
  const fits = needed === null || chosen <= needed;
  const fix = fits
    ? `swarm.overlayMtu ${setting} gives the overlay ${chosen}: it fits`
    : `the overlay needs MTU ${needed} (lowest ${lowest} − ${VXLAN_OVERHEAD}); Docker's default is ${DOCKER_OVERLAY_MTU}, so full-size packets between containers are dropped while pings pass. Fix: swarm.overlayMtu: auto (or ${needed}) in the inventory`;
  for (const r of readings.filter((x) => x.mtu !== null && (x.mtu as number) < 1500))
    out.push({
      check: 'mtu',
      severity: 'note',
      robots: [r.robot],
      measured: { iface: r.iface ?? '', mtu: r.mtu as number },
      text: `${r.iface} has MTU ${r.mtu} (a mesh such as batman-adv takes its header from 1500): ${fix}`,
    });
  for (const p of paths.filter((x) => x.mtu > 0 && x.mtu < 1500))
    out.push({
      check: 'path-mtu',
      severity: 'note',
      robots: [p.from, p.to],
      measured: { from: p.from, to: p.to, pathMtu: p.mtu },
      text: `the path ${p.from} → ${p.to} passes at most ${p.mtu} bytes unfragmented (ping -M do): ${fix}`,
    });
  const noAnswer = paths.filter((x) => x.mtu === 0);
  if (noAnswer.length)
    out.push({
      check: 'ping',
      severity: 'note',
      robots: [...new Set(noAnswer.map((p) => p.from))],
      measured: { pairs: noAnswer.map((p) => `${p.from}→${p.to}`).join(' ') },
      text: `no ping answer on ${noAnswer.map((p) => `${p.from} → ${p.to}`).join(', ')} (ICMP filtered or the robot is down): path MTU not measured there`,
    });
  const blind = readings.filter((r) => !r.pingDf).map((r) => r.robot);
  if (blind.length)
    out.push({
      check: 'ping',
      severity: 'note',
      robots: blind,
      measured: { pingDf: false },
      text: `no ping that can forbid fragmenting (iputils ping -M do) on ${list(blind)}: path MTU from there not measured (check proves it over the overlay)`,
    });
  return out;
}

/**
 * A probe's verdict. A probe that timed out (`filtered`) may only say that the machine was starved (1000
 * simulated robots on 2 cores: 450 false failures at 3 s), so it is tried once more with a longer time,
 * beside a probe of the peer's sshd from the same robot. Still no answer while the peer's sshd answers
 * (open, refused): the port is filtered. No answer from the peer's sshd either: `unknown`, not judged
 * (a starved machine or link, or a peer down, tells nothing about the port). A refusal is never retried.
 */
export function probeVerdict(first: TcpResult, again?: TcpResult, peerSsh?: TcpResult): TcpResult {
  if (first !== 'filtered' || !again) return first;
  if (again !== 'filtered') return again;
  return peerSsh === 'open' || peerSsh === 'refused' ? 'filtered' : 'unknown';
}

function tcpFindings(probes: readonly TcpProbe[], inSwarm: (robot: string) => boolean): Finding[] {
  const out: Finding[] = [];
  const forbidden = [...new Set(probes.filter((p) => p.result === 'forbidden').map((p) => p.from))];
  if (forbidden.length)
    out.push({
      check: 'forwarding',
      severity: 'note',
      robots: forbidden,
      measured: { allowTcpForwarding: false },
      text: `sshd on ${list(forbidden)} forbids TCP forwarding (AllowTcpForwarding no): ports from there not probed`,
    });
  const unknown = probes.filter((p) => p.result === 'unknown');
  if (unknown.length)
    out.push({
      check: 'tcp',
      severity: 'note',
      robots: [...new Set(unknown.flatMap((p) => [p.from, p.to]))],
      measured: { unknown: unknown.length },
      text: `${unknown.length} TCP probe${unknown.length === 1 ? '' : 's'} not judged (${unknown
        .slice(0, 3)
        .map((p) => `${p.from} → ${p.to} TCP ${p.port}`)
        .join(
          ', ',
        )}${unknown.length > 3 ? ', …' : ''}): no answer twice, not even from the peer's sshd: a starved machine or link, or a peer down`,
    });
  const blocked = (p: TcpProbe) => p.result === 'filtered' || p.result === 'unreachable';
  const why = (p: TcpProbe) => (p.result === 'filtered' ? 'no answer within the probe time: filtered' : 'no route');
  for (const from of [...new Set(probes.map((p) => p.from))]) {
    const toManagers = probes.filter((p) => p.from === from && p.port === SWARM_PORT && p.result !== 'forbidden');
    const bad = toManagers.filter(blocked);
    if (bad.length && bad.length === toManagers.length && !inSwarm(from))
      out.push({
        check: 'tcp',
        severity: 'fail',
        robots: [from],
        measured: Object.fromEntries(bad.map((p) => [`${p.to}:${p.port}`, p.result])),
        text: `cannot reach TCP ${SWARM_PORT} of any manager it may join (${bad.map((p) => `${p.to}: ${why(p)}`).join('; ')}): its join would time out. Fix: open TCP ${SWARM_PORT} to the managers (and TCP/UDP ${GOSSIP_PORT}, UDP 4789 between all robots)`,
      });
    else
      for (const p of bad)
        out.push({
          check: 'tcp',
          severity: 'note',
          robots: [p.from, p.to],
          measured: { from: p.from, to: p.to, port: p.port, result: p.result },
          text: `${p.from} → ${p.to} TCP ${p.port}: ${why(p)}. Swarm needs TCP ${SWARM_PORT} to managers, TCP/UDP ${GOSSIP_PORT} and UDP 4789 between all robots`,
        });
    for (const p of probes.filter((x) => x.from === from && x.port === GOSSIP_PORT && blocked(x)))
      out.push({
        check: 'tcp',
        severity: 'note',
        robots: [p.from, p.to],
        measured: { from: p.from, to: p.to, port: p.port, result: p.result },
        text: `${p.from} → ${p.to} TCP ${GOSSIP_PORT} (gossip): ${why(p)}: nodes show Ready but flap Down or miss each other's tasks. Fix: open TCP/UDP ${GOSSIP_PORT} and UDP 4789 between all robots`,
      });
  }
  return out;
}

/** Every finding of the preflight, in a stable order (fails first within each check). */
export function assess(input: {
  readings: readonly Reading[];
  probes: readonly TcpProbe[];
  paths: readonly PathMtu[];
  overlayMtu: 'auto' | number | undefined;
}): Finding[] {
  const inSwarm = (robot: string) => input.readings.find((r) => r.robot === robot)?.inSwarm ?? false;
  const findings = [
    ...clockFindings(input.readings),
    ...tcpFindings(input.probes, inSwarm),
    ...mtuFindings(input.readings, input.paths, input.overlayMtu),
    ...kernelFindings(input.readings),
  ];
  // A robot already in the swarm is not failed now: it is told.
  return findings.map((f) => (f.severity === 'fail' && f.robots.every(inSwarm) ? { ...f, severity: 'note' } : f));
}
