// provision ui's page model: the inventory and the latest reading of every robot in, what the page
// shows out. Pure. Nothing secret goes in the view: no token digests, no passwords, reasons redacted.
import type { Inventory, Robot } from '../inventory/schema.js';
import type { NodeInfo, RobotFacts } from '../remote/docker.js';
import { faultTolerance, planRoles, type PlanRobot } from '../plan/quorum.js';
import { redact } from '../log.js';

export type SshState = 'connecting' | 'up' | 'down';

/** What the watch knows of one robot now. */
export interface RobotReading {
  state: SshState;
  /** The last successful login's duration. */
  loginMs: number | null;
  /** Why it is down (the pool's or the read's words). */
  reason: string | null;
  facts: RobotFacts | null;
  /** When the state last changed (epoch ms). */
  since: number;
}

export interface FleetReading {
  robots: ReadonlyMap<string, RobotReading>;
  /** The node list from one manager; null: no manager answered. */
  nodes: NodeInfo[] | null;
  nodesFrom: string | null;
  /** A manager that answered but listed no nodes (a swarm without a leader cannot): no older list is shown as now. */
  unlistedBy?: string | null;
}

/** What `provision check` (or `up --check`) stored last (see lastCheck.ts). */
export interface LastCheck {
  at: string;
  command: string;
  exitCode: number;
  robots: { name: string; status: string; details: string[] }[];
  preflight?: { findings?: { check: string; severity: string; robots: string[]; text: string }[] };
  check?: { pairs?: { from: string; to: string; verdict: string }[]; notes?: string[]; failed?: boolean } | null;
}

export type FailureCause = 'refused' | 'timed out' | 'host key changed' | 'auth' | 'unreachable' | 'no answer' | 'other';

/** The reason the pool (or the read) gave, in one word for the page. */
export function failureCause(reason: string): FailureCause {
  if (/host key .*changed|not in ~\/\.ssh\/known_hosts/i.test(reason)) return 'host key changed';
  if (/authentication/i.test(reason)) return 'auth';
  if (/ECONNREFUSED/.test(reason)) return 'refused';
  if (/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|no route/i.test(reason)) return 'unreachable';
  if (/no answer from|ETIMEDOUT|did not finish within/i.test(reason)) return 'timed out';
  if (/no answer to the read|timed out|connection to the robot was lost/i.test(reason)) return 'no answer';
  return 'other';
}

export interface RobotView {
  name: string;
  ip: string;
  user: string;
  port: number;
  zone: string | null;
  ssh: { state: SshState; loginMs: number | null; reason: string | null; cause: FailureCause | null; sinceS: number };
  docker: string | null;
  engineVersion: string | null;
  arch: string | null;
  swarmState: string;
  rolePinned: string;
  rolePlanned: string | null;
  role: 'manager' | 'worker' | null;
  leader: boolean;
  nodeState: string | null;
  availability: string | null;
  reachability: string | null;
  labels: Record<string, string>;
  findings: { check: string; severity: string; text: string }[];
  check: { status: string; details: string[]; pairs: string[] } | null;
}

export interface ZoneView {
  zone: string;
  managers: number;
  robots: { name: string; role: 'manager' | 'worker' | null; leader: boolean; up: boolean }[];
}

export interface FleetView {
  fleet: string;
  inventory: string;
  at: string;
  robots: RobotView[];
  quorum: {
    swarm: boolean;
    managers: number;
    reachableManagers: number;
    holds: boolean;
    toleratedNow: number;
    toleratedByDesign: number;
    words: string[];
    zones: ZoneView[];
  };
  plan: { managers: string[]; leader: string; warnings: string[] };
  lastCheck: { at: string; command: string; exitCode: number; notes: string[] } | null;
}

const NO_ZONE = '(no zone)';
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The robot's node: by the node ID its engine reports; an unreachable robot's by its static address. */
function nodeOf(robot: Robot, reading: RobotReading | undefined, nodes: NodeInfo[]): NodeInfo | undefined {
  const id = reading?.state === 'up' ? reading.facts?.swarm?.NodeID : undefined;
  if (id) return nodes.find((n) => n.id === id);
  return nodes.filter((n) => n.addr === robot.ip).sort((a, b) => Number(a.state === 'down') - Number(b.state === 'down'))[0];
}

function planned(inventory: Inventory, reading: FleetReading, nodes: NodeInfo[]) {
  const robots: PlanRobot[] = inventory.robots.map((r) => ({
    name: r.name,
    reachable: reading.robots.get(r.name)?.state === 'up',
    canBecomeManager: r.canBecomeManager,
    canBecomeLeader: r.canBecomeLeader,
    ...(r.zone ? { zone: r.zone } : {}),
    pinnedRole: r.role,
    currentRole: nodeOf(r, reading.robots.get(r.name), nodes)?.role ?? 'none',
  }));
  const leaderNow = inventory.robots.find((r) => nodeOf(r, reading.robots.get(r.name), nodes)?.leader)?.name;
  return planRoles({
    robots,
    managers: inventory.swarm.managers,
    ...((leaderNow ?? inventory.swarm.leader) ? { leader: leaderNow ?? inventory.swarm.leader } : {}),
    ...(inventory.swarm.leader ? { preferredLeader: inventory.swarm.leader } : {}),
  });
}

function checkOf(name: string, last: LastCheck | null): RobotView['check'] {
  const outcome = last?.robots.find((r) => r.name === name);
  if (!last || !outcome) return null;
  const pairs = (last.check?.pairs ?? []).filter((p) => p.from === name || p.to === name).map((p) => `${p.from} → ${p.to}: ${p.verdict}`);
  return { status: outcome.status, details: outcome.details.map(redact), pairs };
}

function robotView(robot: Robot, reading: RobotReading | undefined, node: NodeInfo | undefined, now: number, extra: Partial<RobotView>) {
  const facts = reading?.state === 'up' ? reading.facts : null;
  const reason = reading?.reason ? redact(reading.reason) : null;
  return {
    name: robot.name,
    ip: robot.ip,
    user: robot.user,
    port: robot.port,
    zone: robot.zone ?? null,
    ssh: {
      state: reading?.state ?? 'connecting',
      loginMs: reading?.loginMs ?? null,
      reason,
      cause: reason ? failureCause(reason) : null,
      sinceS: reading ? Math.max(0, Math.round((now - reading.since) / 1000)) : 0,
    },
    docker: facts?.dockerError ?? null,
    engineVersion: facts?.engineVersion ?? null,
    arch: facts?.arch ?? null,
    swarmState: facts ? (facts.swarm?.LocalNodeState ?? 'unknown') : 'unknown',
    rolePinned: robot.role,
    rolePlanned: null,
    role: node?.role ?? null,
    leader: node?.leader ?? false,
    nodeState: node?.state ?? null,
    availability: node?.availability ?? null,
    reachability: node?.reachability ?? null,
    // provision.labels is provision's own record of the labels it manages (plan/labels.ts), not a label to show.
    labels: Object.fromEntries(Object.entries(node?.labels ?? {}).filter(([k]) => k !== 'provision.labels')),
    findings: [],
    check: null,
    ...extra,
  } satisfies RobotView;
}

function quorumWords(managers: number, reachable: number, zones: ZoneView[], unlistedBy: string | null): string[] {
  if (managers === 0 && unlistedBy)
    return [
      `${unlistedBy} is a manager but could not list the swarm's nodes: the swarm may have no leader (quorum lost: half of its managers or more unreachable), or its engine is failing.`,
      'provision status says more; provision recover if the lost managers never come back.',
    ];
  if (managers === 0) return ['No swarm among the reachable robots yet: provision up forms one.'];
  const majority = Math.floor(managers / 2) + 1;
  const holds = reachable >= majority;
  const words = [
    `${plural(managers, 'manager')}, ${reachable} reachable: quorum ${holds ? 'holds' : 'is LOST'} (a majority is ${majority}).`,
    holds
      ? `It tolerates ${plural(Math.max(0, reachable - majority), 'more failure')} now, ${faultTolerance(managers)} by design.`
      : 'The swarm cannot change (no scheduling of new tasks, no joins) until managers come back: provision recover if they never will.',
  ];
  const named = zones.filter((z) => z.zone !== NO_ZONE && z.managers > 0);
  if (named.length) {
    words.push(`Managers per zone: ${named.map((z) => `${z.zone} ${z.managers}`).join(', ')}.`);
    const heavy = named.find((z) => z.managers >= majority);
    if (heavy && zones.length > 1) words.push(`Zone ${heavy.zone} holds a majority of the managers: losing it loses quorum.`);
  }
  return words;
}

/** The page's model of the fleet now. */
export function fleetView(inventory: Inventory, fleet: string, reading: FleetReading, last: LastCheck | null, now = Date.now()): FleetView {
  const nodes = reading.nodes ?? [];
  const plan = planned(inventory, reading, nodes);
  const findings = last?.preflight?.findings ?? [];
  const robots = inventory.robots.map((r) => {
    const rd = reading.robots.get(r.name);
    return robotView(r, rd, nodeOf(r, rd, nodes), now, {
      rolePlanned: plan.decisions.find((d) => d.name === r.name)?.role ?? null,
      findings: findings
        .filter((f) => f.robots.includes(r.name))
        .map((f) => ({ check: f.check, severity: f.severity, text: redact(f.text) })),
      check: checkOf(r.name, last),
    });
  });
  const zoneNames = [...new Set(robots.map((r) => r.zone ?? NO_ZONE))];
  const zones = zoneNames.map((zone) => {
    const inZone = robots.filter((r) => (r.zone ?? NO_ZONE) === zone);
    return {
      zone,
      managers: inZone.filter((r) => r.role === 'manager').length,
      robots: inZone.map((r) => ({ name: r.name, role: r.role, leader: r.leader, up: r.ssh.state === 'up' })),
    };
  });
  const managerNodes = nodes.filter((n) => n.role === 'manager');
  const reachableManagers = managerNodes.filter((n) => n.reachability === 'reachable').length;
  const majority = Math.floor(managerNodes.length / 2) + 1;
  const unlistedBy = reading.nodes ? null : (reading.unlistedBy ?? null);
  return {
    fleet,
    inventory: inventory.file,
    at: new Date(now).toISOString(),
    robots,
    quorum: {
      swarm: managerNodes.length > 0 || unlistedBy !== null,
      managers: managerNodes.length,
      reachableManagers,
      holds: managerNodes.length > 0 && reachableManagers >= majority,
      toleratedNow: Math.max(0, reachableManagers - majority),
      toleratedByDesign: faultTolerance(managerNodes.length),
      words: quorumWords(managerNodes.length, reachableManagers, zones, unlistedBy),
      zones,
    },
    plan: { managers: plan.managers, leader: plan.leader, warnings: plan.warnings },
    lastCheck: last ? { at: last.at, command: last.command, exitCode: last.exitCode, notes: (last.check?.notes ?? []).map(redact) } : null,
  };
}
