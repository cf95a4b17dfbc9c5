// The network preflight (a phase of swarm and up before any join, and `provision check --preflight`):
// every robot's clock, MTU, kernel and engine, TCP 2377/7946 and the path MTU between sampled pairs.
// Reads, never changes; plan/preflight.ts decides what the readings mean.
import type { Fleet } from '../run/fleet.js';
import type { Robot } from '../inventory/schema.js';
import { eachRobot } from '../run/phases.js';
import { mapLimit } from '../ssh/pool.js';
import { driverMtu, ingressMtuCommand, parsePathMtus, parsePreflight, pathMtuCommand } from '../remote/preflight.js';
import {
  DOCKER_OVERLAY_MTU,
  VXLAN_OVERHEAD,
  GOSSIP_PORT,
  SWARM_PORT,
  assess,
  neededOverlayMtu,
  overlayMtuFor,
  probePlan,
  probeVerdict,
  seededRandom,
  type PathMtu,
  type PreflightReport,
  type Reading,
  type TcpProbe,
} from '../plan/preflight.js';
import { halfJoined, inSwarm, preflightFirstCommand, type Member } from './swarmState.js';

const PROBE_TIMEOUT_MS = 3000;
/** A probe that timed out is tried once more with this long (plan/preflight.ts probeVerdict). */
const PROBE_AGAIN_MS = 10_000;
/** TCP probes in flight per robot's connection (each is a channel). */
const PROBES_AT_ONCE = 4;

/** The managers a joining robot may be sent to: the swarm's, else those the plan may pick (the leader first). */
export function managersToProbe(fleet: Fleet, members: readonly Member[]): string[] {
  const current = members.filter((m) => m.facts.swarm?.ControlAvailable).map((m) => m.robot.name);
  if (current.length) return current;
  const allowed = members.filter((m) => m.robot.canBecomeManager && m.robot.role !== 'worker').map((m) => m.robot.name);
  const leader = fleet.inventory.swarm.leader;
  return leader && allowed.includes(leader) ? [leader, ...allowed.filter((n) => n !== leader)] : allowed;
}

/**
 * The path-MTU read of each robot among `robots` (inventory order), undefined without peers. The peers are
 * drawn with the run's seed: the same robots give the same command, so one read early (riding on the
 * ~/.ssh write, see runUp) is the preflight's (Fleet.firstRead); other robots by then: read again.
 */
export function pathMtuReads(fleet: Fleet, robots: readonly Robot[]): (robot: string) => string | undefined {
  const targets = robots.map((r) => ({ name: r.name, ip: r.ip }));
  const ips = new Map<string, Set<string>>();
  for (const p of probePlan(targets, [], 1, seededRandom(fleet.runId)).peers) {
    if (!ips.has(p.from)) ips.set(p.from, new Set());
    ips.get(p.from)?.add(p.to.ip);
  }
  return (robot) => {
    const to = ips.get(robot);
    return to?.size ? pathMtuCommand([...to]) : undefined;
  };
}

async function readRobot(member: Member, peerIps: readonly string[], fleet: Fleet) {
  const { robot, conn } = member;
  const joined = inSwarm(member.facts) && !halfJoined(member.facts);
  // `swarm` and `up` read it in their first call, with the lock and the other first reads (a keygen, docker
  // info): the clock is then placed at that whole call's midpoint, off by half its duration at most (well
  // under a second, seconds on a slow robot) against a tolerance of MAX_CLOCK_OFFSET_S (30 s; a note from 5 s).
  const timed = async () => {
    const { out, t0, t1 } = await fleet.firstReadTimed(robot, conn, preflightFirstCommand(robot), 'reading the preflight facts');
    return { readout: parsePreflight(out), t0, t1 };
  };
  const [{ readout, t0, t1 }, pmtu] = await Promise.all([
    timed(),
    peerIps.length ? fleet.firstRead(robot, conn, pathMtuCommand(peerIps), 'measuring the path MTU') : Promise.resolve(''),
  ]);
  const reading: Reading = {
    robot: robot.name,
    offsetS: readout.clockS === null ? null : readout.clockS - (t0 + t1) / 2000,
    rttMs: t1 - t0,
    iface: readout.iface,
    mtu: readout.mtu,
    vxlan: readout.vxlan,
    ipVs: readout.ipVs,
    kernel: readout.kernel,
    machineId: readout.machineId,
    engineVersion: member.facts.engineVersion ?? '', // docker info's, read beside it
    pingDf: readout.pingDf && !/^ping_df=no$/m.test(pmtu),
    inSwarm: joined,
    overlayOptional: robot.requireOverlay === false,
  };
  const byIp = new Map(fleet.inventory.robots.map((r) => [r.ip, r.name]));
  const paths = [...parsePathMtus(pmtu)].map(([ip, mtu]) => ({ from: robot.name, to: byIp.get(ip) ?? ip, mtu }));
  return { reading, paths };
}

/** Measure, then judge. With `failJoins`, robots a finding fails (and not in the swarm yet) are failed before they join. */
export async function runPreflight(fleet: Fleet, members: readonly Member[], failJoins: boolean): Promise<PreflightReport> {
  const targets = members.map((m) => ({ name: m.robot.name, ip: m.robot.ip }));
  const plan = probePlan(targets, managersToProbe(fleet, members), 1, seededRandom(fleet.runId));
  const readings: Reading[] = [];
  const paths: PathMtu[] = [];
  const probes: TcpProbe[] = [];
  const names = members.map((m) => m.robot.name);
  await eachRobot(fleet, names, async (name) => {
    const member = members.find((m) => m.robot.name === name) as Member;
    const peers = plan.peers.filter((p) => p.from === name).map((p) => p.to);
    const tcp = [
      ...plan.swarm.filter((p) => p.from === name).map((p) => ({ to: p.to, port: SWARM_PORT })),
      ...peers.map((to) => ({ to, port: GOSSIP_PORT })),
    ];
    const probing = mapLimit(tcp, PROBES_AT_ONCE, async ({ to, port }) => {
      const first = await member.conn.probeTcp(to.ip, port, PROBE_TIMEOUT_MS);
      const result = first === 'filtered' ? await probeAgain(fleet, member, to, port) : first;
      probes.push({ from: name, to: to.name, port, result });
    });
    const [read] = await Promise.all([readRobot(member, [...new Set(peers.map((p) => p.ip))], fleet), probing]);
    readings.push(read.reading);
    paths.push(...read.paths);
  });
  const order = (robot: string) => names.indexOf(robot);
  readings.sort((a, b) => order(a.robot) - order(b.robot));
  const setting = fleet.inventory.swarm.overlayMtu;
  const findings = assess({ readings, probes, paths, overlayMtu: setting });
  for (const f of findings.filter((x) => x.severity === 'fail'))
    for (const robot of f.robots) {
      if (failJoins && fleet.inLimit(robot) && !readings.find((r) => r.robot === robot)?.inSwarm)
        fleet.failed(robot, `preflight: ${f.text}`);
      else fleet.note(robot, `preflight: ${f.text}`);
    }
  const { lowest, needed } = neededOverlayMtu(readings, paths);
  return { findings, readings, probes, paths, lowestMtu: lowest, neededMtu: needed, overlayMtu: overlayMtuFor(setting, needed) };
}

/** A timed-out probe once more, with a longer time, beside a probe of the peer's sshd (is the peer answering at all?). */
async function probeAgain(fleet: Fleet, member: Member, to: { name: string; ip: string }, port: number) {
  const sshPort = fleet.inventory.robots.find((r) => r.name === to.name)?.port ?? 22;
  const [again, peerSsh] = await Promise.all([
    member.conn.probeTcp(to.ip, port, PROBE_AGAIN_MS),
    member.conn.probeTcp(to.ip, sshPort, PROBE_AGAIN_MS),
  ]);
  return probeVerdict('filtered', again, peerSsh);
}

/** On a swarm that exists, the ingress network is the operator's: named when it does not fit, never recreated. */
export async function ingressMtuNote(manager: Member, report: PreflightReport): Promise<string | null> {
  const out = await manager.conn.exec(ingressMtuCommand(manager.robot.sudo)).catch(() => null);
  if (out?.code !== 0) return null; // no ingress network (removed by its operator), or no answer: nothing to say
  // The option is the underlay's MTU: containers get 50 less (see driverMtu).
  const option = Number(out.stdout.trim());
  const ingress = option ? option - VXLAN_OVERHEAD : DOCKER_OVERLAY_MTU;
  report.ingressMtu = ingress;
  const wanted = report.overlayMtu ?? report.neededMtu;
  if (wanted === null || ingress <= wanted) return null;
  return (
    `the ingress network (published ports) gives containers MTU ${ingress}, the fleet needs ${wanted}: provision does not recreate an existing swarm's networks. ` +
    `When no service publishes a port: docker network rm ingress, then docker network create --driver overlay --ingress --opt com.docker.network.driver.mtu=${driverMtu(wanted)} ingress; ` +
    `recreate your own overlay networks with that --opt too`
  );
}
