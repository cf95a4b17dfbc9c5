// `provision check`: proof that the formed swarm runs what the operator brings — a task on every robot,
// 64 KiB between tasks over the overlay, a task that moves, replicas that spread, a label constraint.
// Through one manager, on check's own network and services only (labelled, removed at the end, also
// on Ctrl-C); the user's nodes, services and networks are never touched. plan/check.ts judges.
import { randomBytes } from 'node:crypto';
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import type { Fleet } from '../run/fleet.js';
import { eachRobot, runPhases, type Phase } from '../run/phases.js';
import { interruption } from '../interrupt.js';
import { pollUntil } from '../run/retry.js';
import type { NodeInfo } from '../remote/docker.js';
import {
  CHECK_PREFIX,
  cleanupCommand,
  fetchCommand,
  globalServiceCommand,
  imageCommand,
  imageLoadCommand,
  leftoversCommand,
  movingServiceCommand,
  networkCreateCommand,
  parseFetch,
  parseLeftovers,
  parseTask,
  parseTasks,
  serviceUpdateCommand,
  taskCommand,
  tasksCommand,
  userServicesCommand,
  type TaskInfo,
} from '../remote/check.js';
import { DOCKER_OVERLAY_MTU, type PreflightReport } from '../plan/preflight.js';
import { fetchPlan, judgePairs, verdictOf, type CheckReport, type CheckSummary, type PairResult } from '../plan/check.js';
import { ingressMtuNote, runPreflight } from './preflight.js';
import { fleetClusters, gatherMembers, listNodes, nodeOfRobot, withoutFalseClaims, type Member } from './swarmState.js';

const TASK_WAIT_MS = 90_000;
const MOVE_WAIT_MS = 60_000;
const POLL_MS = 1000;

export interface CheckOptions {
  /** The image the tasks run: one the robots have or can pull, or the one in imageFile. */
  image: string;
  /** A `docker save` tar on the laptop, loaded onto every robot that lacks the image. */
  imageFile?: string;
  /** Only the preflight (also where no swarm exists yet). */
  preflightOnly?: boolean;
  /** Read already in this run (up --check): not read, nor reported, again. */
  preflight?: PreflightReport;
}

class CheckRun {
  members: Member[] = [];
  manager: Member | null = null;
  nodes: NodeInfo[] = [];
  /** Robots whose node may run tasks (active), and its node ID. */
  readonly nodeOf = new Map<string, string>();
  readonly running = new Map<string, string>(); // robot → its task's overlay address
  preflight: PreflightReport | null = null;
  readonly taskMtus: number[] = [];
  readonly id = randomBytes(3).toString('hex');
  readonly network = `${CHECK_PREFIX}${this.id}`;
  readonly everywhere = `${CHECK_PREFIX}${this.id}-all`;
  readonly mover = `${CHECK_PREFIX}${this.id}-move`;
  created = false;
  failedBeforeProof = 0;
  userServices = '';
  readonly report: CheckReport = { preflight: null, summary: null, pairs: [], notes: [], failed: false };
  readonly summary: CheckSummary = {
    robots: 0,
    ranTask: 0,
    pairs: 0,
    pairsPassed: 0,
    mtu: DOCKER_OVERLAY_MTU,
    movedInS: null,
    spread: null,
    constraint: null,
    failed: false,
  };
  constructor(
    readonly fleet: Fleet,
    readonly options: CheckOptions,
  ) {}

  get via(): Member {
    return this.manager as Member;
  }

  /** Through the manager; throws on a non-zero exit. */
  onManager(command: Parameters<Member['conn']['run']>[0], what: string) {
    return this.via.conn.run(command, what);
  }

  tasks(service: string): Promise<TaskInfo[]> {
    return this.onManager(tasksCommand(service, this.via.robot.sudo), 'listing check tasks').then(parseTasks);
  }

  robotOfNode(nodeId: string): string | undefined {
    return [...this.nodeOf].find(([, id]) => id === nodeId)?.[0];
  }

  fail(reason: string) {
    this.report.failed = true;
    this.report.notes.push(reason);
  }
}

const failedCount = (fleet: Fleet) =>
  [...fleet.outcomes.values()].filter((o) => o.status === 'failed' || o.status === 'unreachable').length;
const member = (s: CheckRun, robot: string) => s.members.find((m) => m.robot.name === robot) as Member;
const ok = (s: CheckRun, robot: string) => s.fleet.outcomes.get(robot)?.status !== 'failed';
const runnable = (s: CheckRun) => [...s.nodeOf.keys()].filter((r) => ok(s, r));

const CHECK_PHASES: readonly Phase<CheckRun>[] = [
  {
    title: 'reading docker facts',
    run: async (s) => {
      s.members = await gatherMembers(s.fleet);
      s.preflight = s.options.preflight ?? null;
      s.manager = fleetClusters(s.fleet, s.members)[0]?.[1][0] ?? null;
      if (s.manager || s.options.preflightOnly) return;
      for (const m of s.members)
        s.fleet.failed(m.robot.name, 'no swarm among the reachable robots: nothing to check (provision up forms one)');
      return 'stop';
    },
  },
  {
    title: 'preflight: clocks, ports, MTU, kernels',
    robots: (s) => (s.options.preflight ? [] : s.members.map((m) => m.robot.name)),
    run: async (s) => {
      s.report.preflight = await runPreflight(s.fleet, s.members, Boolean(s.options.preflightOnly));
      const note = s.manager ? await ingressMtuNote(s.manager, s.report.preflight) : null;
      if (note) s.report.notes.push(note);
      if (s.options.preflightOnly) return 'stop';
    },
  },
  {
    title: 'reading the swarm',
    run: (s) => {
      s.failedBeforeProof = failedCount(s.fleet); // unreachable, or failed by the preflight: not the proof's verdict
      return readSwarm(s);
    },
  },
  { title: "removing an earlier check's leftovers", run: removeLeftovers },
  { title: 'the check image on every robot', robots: runnable, each: ensureImage },
  { title: 'a task on every robot', robots: runnable, run: startTasks },
  { title: 'overlay traffic between robots', robots: (s) => [...s.running.keys()], run: overlayPairs },
  { title: 'a task that moves, replicas that spread', run: moveAndSpread },
];

async function readSwarm(s: CheckRun): Promise<void | 'stop'> {
  s.nodes = await listNodes(s.via);
  s.members = withoutFalseClaims(s.fleet, s.members, s.nodes); // no task on a node a robot only claims
  if (!s.members.includes(s.via)) {
    // The manager itself claims a node not its own: its node list may be a copy's, so never work through it.
    s.manager = fleetClusters(s.fleet, s.members)[0]?.[1][0] ?? null;
    if (s.manager) return readSwarm(s);
    for (const m of s.members) s.fleet.failed(m.robot.name, 'no manager whose node is its own is reachable: nothing was checked');
    return 'stop';
  }
  for (const m of s.members) {
    const node = nodeOfRobot(m.robot, s.members, s.nodes);
    if (!node) s.fleet.failed(m.robot.name, 'not a node of the swarm: nothing to run there (provision up joins it)');
    else if (node.availability !== 'active')
      s.fleet.note(m.robot.name, `availability ${node.availability}: the swarm puts no new task there, so check runs none (left as it is)`);
    else if (node.state !== 'ready') s.fleet.failed(m.robot.name, `its node is ${node.state}: the swarm cannot run tasks there`);
    else s.nodeOf.set(m.robot.name, node.id);
  }
  s.summary.robots = s.nodeOf.size;
  s.userServices = await s.onManager(userServicesCommand(s.via.robot.sudo), "reading the user's services");
  if (!s.nodeOf.size) return 'stop';
}

async function removeLeftovers(s: CheckRun): Promise<void> {
  const out = await s.onManager(cleanupCommand(s.via.robot.sudo), "removing an earlier check's services and networks");
  const [services = 0, networks = 0] = (/^removed (\d+) (\d+)$/m.exec(out) ?? []).slice(1).map(Number);
  if (services || networks)
    s.report.notes.push(
      `removed what an interrupted check had left: ${services} service${services === 1 ? '' : 's'}, ${networks} network${networks === 1 ? '' : 's'}`,
    );
}

async function ensureImage(s: CheckRun, robot: string): Promise<void> {
  const { conn, robot: r } = member(s, robot);
  const { image, imageFile } = s.options;
  const state = (await conn.run(imageCommand(image, !imageFile, r.sudo), `looking for image ${image}`)).trim();
  if (state === 'present') return;
  if (state === 'pulled') return s.fleet.note(robot, `pulled image ${image}`);
  if (!imageFile)
    throw new Error(`no image ${image} here and it could not be pulled: give one the robots have (--image) or load one (--image-file)`);
  await conn.run(imageLoadCommand(r.sudo), `loading ${imageFile}`, { stdin: createReadStream(imageFile), timeoutMs: 600_000 });
  if ((await conn.run(imageCommand(image, false, r.sudo), `looking for image ${image}`)).trim() !== 'present')
    throw new Error(`${imageFile} loaded, but it holds no image ${image}`);
  s.fleet.note(robot, `loaded image ${image} from ${imageFile}`);
}

async function startTasks(s: CheckRun): Promise<void | 'stop'> {
  const sudo = s.via.robot.sudo;
  const mtu = (s.report.preflight ?? s.preflight)?.overlayMtu ?? null;
  s.summary.mtu = mtu ?? DOCKER_OVERLAY_MTU;
  s.created = true;
  await s.onManager(networkCreateCommand(s.network, s.fleet.runId, mtu, sudo), `creating network ${s.network}`);
  await s.onManager(
    globalServiceCommand(s.everywhere, s.network, s.fleet.runId, s.options.image, sudo),
    `creating service ${s.everywhere}`,
  );
  const wanted = runnable(s);
  const settled = (tasks: TaskInfo[]) =>
    wanted.every((robot) =>
      tasks.some((t) => t.nodeId === s.nodeOf.get(robot) && (t.state === 'running' || /failed|rejected|complete|shutdown/.test(t.state))),
    );
  const last =
    (await pollUntil(
      async () => {
        const tasks = await s.tasks(s.everywhere);
        return settled(tasks) ? tasks : undefined;
      },
      POLL_MS,
      TASK_WAIT_MS,
    )) ?? (await s.tasks(s.everywhere));
  for (const robot of wanted) {
    const mine = last.filter((t) => t.nodeId === s.nodeOf.get(robot));
    if (mine.some((t) => t.state === 'running')) continue;
    const why = mine.map((t) => `${t.state}${t.error ? `: ${t.error}` : ''}`).join('; ') || 'the swarm placed no task there';
    s.fleet.failed(
      robot,
      `its task of the global service did not start within ${TASK_WAIT_MS / 1000} s (${why}); the image needs sh, head and httpd`,
    );
  }
  await eachRobot(s.fleet, runnable(s), async (robot) => {
    const { conn, robot: r } = member(s, robot);
    const task = parseTask(await conn.run(taskCommand(s.everywhere, s.network, r.sudo), 'finding its check task'));
    if (!task?.ip) throw new Error(`the swarm says its task runs, but no running container of ${s.everywhere} is here`);
    s.running.set(robot, task.ip);
    if (task.mtu !== null) s.taskMtus.push(task.mtu);
    for (const tool of ['wget', 'timeout', 'nslookup'].filter((t) => !task.tools.includes(t)))
      s.fleet.note(
        robot,
        `the image has no ${tool}: ${tool === 'nslookup' ? 'the swarm DNS check' : 'the overlay transfer'} from here skipped`,
      );
  });
  s.summary.ranTask = s.running.size;
  // What the tasks got, measured inside them (the engine decides what the driver option means).
  if (s.taskMtus.length) s.summary.mtu = Math.min(...s.taskMtus);
  if (mtu !== null && s.summary.mtu !== mtu)
    s.report.notes.push(
      `the overlay was created for MTU ${mtu}, but its tasks got ${s.summary.mtu}: this engine reads the driver's mtu option differently`,
    );
  if (!s.running.size) return 'stop';
}

function mtuAdvice(s: CheckRun): string {
  const needed = (s.report.preflight ?? s.preflight)?.neededMtu;
  const target = needed !== null && needed !== undefined && needed < s.summary.mtu ? needed : s.summary.mtu - 100;
  return `Set swarm.overlayMtu: ${target}${needed !== null && needed !== undefined && needed < s.summary.mtu ? ' (or auto: the preflight measured it)' : ' (the preflight saw no lower MTU: try lower)'} and recreate the overlay networks (a fresh swarm gets its ingress at that MTU)`;
}

async function overlayPairs(s: CheckRun): Promise<void> {
  const tasks = [...s.running].map(([name, ip]) => ({ name, ip }));
  const plan = fetchPlan(tasks);
  const byIp = new Map(tasks.map((t) => [t.ip, t.name]));
  const results: PairResult[] = [];
  await eachRobot(s.fleet, [...s.running.keys()], async (robot) => {
    const { conn, robot: r } = member(s, robot);
    const peers = (plan.get(robot) ?? []).map((t) => t.ip);
    const out = parseFetch(await conn.run(fetchCommand(s.everywhere, tasks.length, peers, r.sudo), 'fetching from other tasks'));
    for (const p of out.pairs) results.push({ from: robot, to: byIp.get(p.peer) ?? p.peer, small: p.small, big: p.big });
    if (out.dns === 0) throw new Error(`the swarm's DNS gave no address for tasks.${s.everywhere} (from its task)`);
    if (out.dns !== null && out.dns < tasks.length)
      s.fleet.note(robot, `the swarm's DNS named ${out.dns} of ${tasks.length} tasks of tasks.${s.everywhere} within 10 s`);
  });
  if (!results.length && tasks.length > 1) s.fail('no overlay pair was measured: the tasks answered nothing (see the log)');
  const judged = judgePairs(results, s.summary.mtu, mtuAdvice(s));
  for (const [robot, why] of judged.failures) s.fleet.failed(robot, `overlay: ${why}`);
  for (const [robot, why] of judged.notes) s.fleet.note(robot, `overlay: ${why}`);
  s.report.pairs = results.map((p) => ({ ...p, verdict: verdictOf(p) }));
  s.summary.pairs = results.length;
  s.summary.pairsPassed = results.filter((p) => verdictOf(p) === 'passed').length;
}

/** Until the service has `count` running tasks that `fit`; the tasks then, or undefined. */
async function runningTasks(s: CheckRun, count: number, fit: (t: TaskInfo) => boolean, timeoutMs = MOVE_WAIT_MS) {
  return pollUntil(
    async () => {
      const running = (await s.tasks(s.mover)).filter((t) => t.state === 'running' && t.desired === 'running');
      return running.length === count && running.every(fit) ? running : undefined;
    },
    500,
    timeoutMs,
  );
}

/** The seed's test: a task moves off its node (a constraint: pausing a node moves nothing and touches the user's), spreads, follows a label. */
async function moveAndSpread(s: CheckRun): Promise<void> {
  const nodes = runnable(s).map((r) => s.nodeOf.get(r) as string);
  const sudo = s.via.robot.sudo;
  if (nodes.length < 2) return void s.report.notes.push('one robot can run tasks: nowhere to move a task to, nothing to spread');
  await s.onManager(movingServiceCommand(s.mover, s.fleet.runId, s.options.image, sudo), `creating service ${s.mover}`);
  const first = await runningTasks(s, 1, () => true);
  if (!first) return s.fail(`the replicated service's task did not start within ${MOVE_WAIT_MS / 1000} s`);
  const from = first[0]?.nodeId as string;
  const started = Date.now();
  await s.onManager(serviceUpdateCommand(s.mover, ['--constraint-add', `node.id!=${from}`], sudo), 'moving the task');
  const moved = await runningTasks(s, 1, (t) => t.nodeId !== from);
  if (!moved) return s.fail(`the task did not move off ${s.robotOfNode(from) ?? from} within ${MOVE_WAIT_MS / 1000} s`);
  s.summary.movedInS = (Date.now() - started) / 1000;
  const replicas = Math.min(3, nodes.length);
  const spreadArgs = ['--constraint-rm', `node.id!=${from}`, '--replicas', String(replicas), '--replicas-max-per-node', '1'];
  await s.onManager(serviceUpdateCommand(s.mover, spreadArgs, sudo), 'scaling with one replica per node');
  const spread = await runningTasks(s, replicas, () => true);
  const distinct = new Set(spread?.map((t) => t.nodeId)).size;
  if (!spread || distinct !== replicas)
    return s.fail(`${replicas} replicas were not running on ${replicas} nodes within ${MOVE_WAIT_MS / 1000} s`);
  s.summary.spread = { replicas, nodes: distinct };
  await labelConstraint(s, nodes);
}

/** A constraint on a label provision set: tasks land only where it matches. */
async function labelConstraint(s: CheckRun, nodes: string[]): Promise<void> {
  const arch = s.via.facts.arch;
  const label = `CPU_ARCHITECTURE=${arch}`;
  const matching = s.nodes.filter((n) => nodes.includes(n.id) && n.labels.CPU_ARCHITECTURE === arch).map((n) => n.id);
  const labelled = new Set(s.nodes.filter((n) => n.labels.CPU_ARCHITECTURE === arch).map((n) => n.id));
  if (!matching.length)
    return void s.report.notes.push(`no node has the label ${label} (provision swarm sets it): the label constraint was not tried`);
  const replicas = Math.min(3, matching.length);
  const args = ['--constraint-add', `node.labels.CPU_ARCHITECTURE==${arch}`, '--replicas', String(replicas)];
  await s.onManager(serviceUpdateCommand(s.mover, args, s.via.robot.sudo), 'constraining to a label');
  const placed = await runningTasks(s, replicas, () => true);
  const allMatch = Boolean(placed?.every((t) => labelled.has(t.nodeId)));
  s.summary.constraint = { label, tasks: placed?.length ?? 0, allMatch };
  if (!placed || !allMatch)
    s.fail(`with the constraint node.labels.CPU_ARCHITECTURE==${arch}, ${replicas} tasks did not run only on matching nodes`);
}

/** Everything check made goes, whatever happened; what the engines still hold after 20 s is said. */
async function cleanUp(s: CheckRun): Promise<void> {
  if (!s.manager || !s.created || interruption.aborted) return; // on Ctrl-C the hook in runCheck removed them
  await s
    .onManager(cleanupCommand(s.via.robot.sudo), 'removing the check services and network')
    .catch((err: Error) =>
      s.report.notes.push(`could not remove the check's services and network: ${err.message} (the next check removes them)`),
    );
  await eachRobot(s.fleet, [...s.nodeOf.keys()], async (robot) => {
    const { conn, robot: r } = member(s, robot);
    const left = parseLeftovers(await conn.run(leftoversCommand(r.sudo), "checking that nothing of check's is left"));
    if (left.containers || left.networks)
      s.fleet.note(
        robot,
        `still holds ${left.containers} container(s) and ${left.networks} network(s) of check's after 20 s (its engine removes them; the next check does too)`,
      );
  });
  const after = await s.onManager(userServicesCommand(s.via.robot.sudo), "reading the user's services").catch(() => s.userServices);
  if (after !== s.userServices)
    s.report.notes.push("the user's services changed during the check (not by check: it never touches them) — look at docker service ls");
}

/** A tar's member, read by its headers (docker save's manifest.json names the image). */
export function imageNameInTar(file: string): string | null {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(512);
    for (let at = 0; readSync(fd, header, 0, 512, at) === 512 && header[0] !== 0;) {
      const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const size = Number.parseInt(header.toString('utf8', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
      if (name === 'manifest.json' || name === './manifest.json') {
        const body = Buffer.alloc(size);
        readSync(fd, body, 0, size, at + 512);
        const manifest = JSON.parse(body.toString('utf8')) as { RepoTags?: string[] | null }[];
        return manifest[0]?.RepoTags?.[0] ?? null;
      }
      at += 512 + Math.ceil(size / 512) * 512;
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

export async function runCheck(fleet: Fleet, options: CheckOptions): Promise<CheckReport> {
  const s = new CheckRun(fleet, options);
  // Ctrl-C: the services go at once (their tasks with them); a network still held is the next check's to remove.
  const detach = fleet.onInterrupt(async () => {
    if (s.manager && s.created) await s.via.conn.exec(cleanupCommand(s.via.robot.sudo), { uninterruptible: true });
  });
  try {
    const stop = await runPhases(fleet, s, CHECK_PHASES);
    // The managers stopped answering (quorum lost, an election that does not end): no proof, said so.
    if (stop) s.fail(`the check stopped: the swarm's managers did not answer (${stop.message.trim().split('\n').slice(-1)[0]})`);
  } finally {
    detach();
    await cleanUp(s);
  }
  s.summary.failed = s.report.failed || failedCount(fleet) > s.failedBeforeProof;
  if (s.created) s.report.summary = s.summary;
  return s.report;
}
