#!/usr/bin/env node
// Benchmark: `provision up` against the floor Docker and SSH allow, on fresh labs of N robots.
// For each N: a fresh `provision up` on the fresh lab, an immediate no-op `up` (CPU seconds and peak
// memory of the CLI for both), the no-op floor (N SSH logins plus one command each, from a running
// process) and one OpenSSH pass (`ssh robot true` to every robot); then every robot leaves the swarm
// and docker's own formation is timed: the floor (init, one manager join, one worker join over
// already-open connections), the lower bound computed from it, and the same formation of all N
// robots done directly (docker's commands in provision's order: what this machine allows at N).
// Not part of the test suite. Usage: npm run bench [-- 3 10 25] (bench/results.md)
// With --sim (npm run bench -- --sim 100 300 1000): simulated labs (lab.sh up N --sim-docker: real sshd,
// docker a stand-in answering from one swarm model): the same first columns, with the docker calls
// the model received instead of docker's own formation (bench/results-sim.md).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RobotConnection, tcpSocket } from '../dist/ssh/connection.js';
import { mapLimit } from '../dist/ssh/pool.js';
import { defaultManagerCount, managerJoinBatches } from '../dist/plan/quorum.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const LAB = join(ROOT, 'scripts', 'lab.sh');
const PASSWORD = process.env.LAB_PASSWORD ?? 'lab-secret-pw';
const SIM = process.argv.includes('--sim');
const sizes = process.argv
  .slice(2)
  .filter((a) => a !== '--sim')
  .map(Number)
  .filter((n) => n > 0);
const SIZES = sizes.length ? sizes : SIM ? [100, 300, 1000] : [3, 10, 25, 50, 100];

const lab = (...args) =>
  execFileSync('bash', [LAB, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LAB_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
const seconds = (ms) => (ms / 1000).toFixed(2);
/** `lab.sh down`, its time on stderr (it must stay quick at 300 real and 1000 simulated robots). */
function labDown() {
  const t = performance.now();
  lab('down');
  console.error(`lab.sh down: ${seconds(performance.now() - t)} s`);
}

async function timed(fn) {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

const memAvailableMb = () => Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024;

const robotsOfLab = () =>
  lab('list')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f[1] ?? ''))
    .map(([name, ip, user]) => {
      lab('check-route', ip); // the network rule: only addresses routed into the lab are contacted
      return { name, ip, user };
    });

/** SSH connections to the lab's robots, at most 32 handshakes at once (provision's default). */
function openAll(robots, auth) {
  return mapLimit(robots, 32, (r) =>
    RobotConnection.open(
      { name: r.name, host: r.ip, port: 22, username: r.user },
      { ...auth, readyTimeout: 60000, hostVerifier: () => true },
      () => tcpSocket(r.ip, 22, 10000),
    ),
  );
}
const passwordAuth = { password: PASSWORD };

/** The floor: docker's own init and joins, over SSH connections opened beforehand. */
async function floor(robots) {
  const conns = await openAll(robots.slice(0, 3), passwordAuth);
  try {
    const [a, b, c] = conns;
    const [ia, ib, ic] = robots.map((r) => r.ip);
    const init = await timed(() => a.run(`docker swarm init --advertise-addr ${ia} >/dev/null`, 'init'));
    // The tokens stay in this process; nothing is printed.
    const [worker, manager] = (await a.run('docker swarm join-token -q worker && docker swarm join-token -q manager', 'tokens'))
      .trim()
      .split('\n');
    const managerJoin = await timed(() =>
      b.run(`docker swarm join --token ${manager} --advertise-addr ${ib} ${ia}:2377 >/dev/null`, 'join'),
    );
    const workerJoin = await timed(() => c.run(`docker swarm join --token ${worker} --advertise-addr ${ic} ${ia}:2377 >/dev/null`, 'join'));
    for (const conn of [c, b, a]) await conn.run('docker swarm leave --force >/dev/null', 'leave');
    return { init: init.ms, managerJoin: managerJoin.ms, workerJoin: workerJoin.ms };
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * All N robots formed into a swarm directly, in provision's order (init; managers in quorum-safe
 * rounds, then every worker at once), over connections opened beforehand: the time docker
 * itself needs for N robots on this machine. Every robot leaves again afterwards.
 */
async function directFormation(robots) {
  const conns = await openAll(robots, passwordAuth);
  try {
    const [leader, ...rest] = conns;
    const managers = defaultManagerCount(robots.length);
    // A join that docker continues "in the background" counts when the node is active (as provision waits for it).
    const join = (conn, token) =>
      conn.run(
        `docker swarm join --token ${token} --advertise-addr ${conn.target.host} ${leader.target.host}:2377 >/dev/null 2>&1; ` +
          `for i in $(seq 66); do [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ] && exit 0; sleep 3; done; exit 1`,
        'join',
        { timeoutMs: 200_000 },
      );
    const { ms } = await timed(async () => {
      await leader.run(`docker swarm init --advertise-addr ${leader.target.host} >/dev/null`, 'init');
      const [worker, manager] = (await leader.run('docker swarm join-token -q worker && docker swarm join-token -q manager', 'tokens'))
        .trim()
        .split('\n');
      const joiningManagers = rest.slice(0, managers - 1);
      const rounds = managerJoinBatches(
        1,
        joiningManagers.map((_, i) => String(i)),
      );
      for (const round of rounds) await Promise.all(round.map((i) => join(joiningManagers[Number(i)], manager)));
      await Promise.all(rest.slice(managers - 1).map((conn) => join(conn, worker)));
    });
    await Promise.all(conns.map((c) => c.run('docker swarm leave --force >/dev/null', 'leave')));
    return ms;
  } finally {
    for (const c of conns) c.close();
  }
}

/** The least a no-op re-run can cost: log in to every robot (with the operator key) and run one command. */
async function noopFloor(robots, home) {
  const privateKey = readFileSync(join(home, '.ssh', 'id_ed25519'));
  let conns = [];
  const { ms } = await timed(async () => {
    conns = await openAll(robots, { privateKey });
    await Promise.all(conns.map((c) => c.run('true', 'true')));
  });
  for (const c of conns) c.close();
  return ms;
}

/** CPU seconds (user + system) of this process's reaped children: the CLI run by spawnSync, the ssh processes. */
function childCpuS() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime (fields 16, 17) in clock ticks of 1/100 s
}

function provision(home, args, { allowFail = false } = {}) {
  const rssFile = join(home, 'rss');
  const cpu0 = childCpuS();
  const t = performance.now();
  const run = spawnSync(process.execPath, ['--import', join(ROOT, 'scripts', 'bench-rss.mjs'), join(ROOT, 'dist', 'cli.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30, // 1000 robots' report is over the default 1 MB
    env: {
      PATH: process.env.PATH,
      HOME: home,
      PROVISION_PASSWORD: PASSWORD,
      PROVISION_ROUTE_DEV: process.env.LAB_BRIDGE ?? 'provbr0',
      PROVISION_LOG_DIR: join(home, 'logs'),
      BENCH_RSS_FILE: rssFile,
    },
  });
  const ms = performance.now() - t;
  if (run.status !== 0 && !(allowFail && run.status === 1))
    throw new Error(`provision ${args.join(' ')} exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  return { ms, rssMb: Number(readFileSync(rssFile, 'utf8')) / 1024, stdout: run.stdout, cpuS: childCpuS() - cpu0, code: run.status };
}

/**
 * Every robot's swarm state, then each leaves its swarm: how many were in after a fresh `up`, and a
 * lab as docker's own formation needs it (the floor and direct at N come after provision's runs).
 */
async function leaveAll(robots) {
  const conns = await openAll(robots, passwordAuth);
  try {
    const states = await Promise.all(
      conns.map((c) =>
        c.run(`docker info --format '{{.Swarm.LocalNodeState}}'; docker swarm leave --force >/dev/null 2>&1; true`, 'leave', {
          timeoutMs: 120_000,
        }),
      ),
    );
    return states.filter((s) => s.trim() === 'active').length;
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * A real lab of N: a fresh `up` on the fresh lab, a no-op `up`, the no-op floor and one OpenSSH pass;
 * then every robot leaves the swarm and docker's own formation is timed (the floor, direct at N).
 */
async function measure(n) {
  labDown();
  const before = memAvailableMb();
  const up = await timed(async () => lab('up', String(n)));
  const labMbPerRobot = (before - memAvailableMb()) / n;
  const robots = robotsOfLab();
  if (robots.length !== n) throw new Error(`the lab lists ${robots.length} robots, not ${n}`);
  const inventory = join(process.env.LAB_DIR ?? '/var/tmp/provision-lab', 'inventory.yaml');
  const home = mkdtempSync(join(tmpdir(), 'provision-bench-'));
  // A fresh run that fails robots (exit 1, a saturated machine) is measured as it is, then run again
  // (at most twice) until every robot is in, so that the no-op run is one.
  const fresh = provision(home, ['up', '-i', inventory], { allowFail: true });
  const failedFresh = (fresh.stdout.match(/^ {2}\S+\s+failed\s/gm) ?? []).length;
  for (let i = 0; i < 2 && fresh.code !== 0; i++) if (provision(home, ['up', '-i', inventory], { allowFail: true }).code === 0) break;
  const noopUp = provision(home, ['up', '-i', inventory]);
  const noop = await noopFloor(robots, home);
  const pass = await openSshPass(robots, home);
  const members = await leaveAll(robots);
  const f = await floor(robots);
  const managers = defaultManagerCount(n);
  const rounds = managerJoinBatches(
    1,
    Array.from({ length: managers - 1 }, (_, i) => String(i)),
  ).length;
  const lowerBound = f.init + rounds * f.managerJoin + (n > managers ? f.workerJoin : 0);
  // Docker alone may fail at N on this machine: the row says so.
  const direct = await directFormation(robots).catch((err) => {
    console.error(`N=${n}: the direct formation failed: ${err.message}`);
    return NaN;
  });
  return {
    n,
    labUp: up.ms,
    labMbPerRobot,
    floorInit: f.init,
    floorManagerJoin: f.managerJoin,
    floorWorkerJoin: f.workerJoin,
    managers,
    rounds,
    lowerBound,
    direct,
    fresh: fresh.ms,
    failedFresh,
    freshExit: fresh.code,
    noopUp: noopUp.ms,
    noChange: noopUp.stdout.includes('nothing to change'),
    noop,
    pass: pass.ms,
    cpuFresh: fresh.cpuS,
    cpuNoop: noopUp.cpuS,
    peakMb: Math.max(fresh.rssMb, noopUp.rssMb),
    members,
  };
}

/**
 * `provision up`'s remote commands and waves at 10 stand-in robots (test/unit/upRoundTrips.test.ts, which
 * writes them to a file when asked): the round trips a run costs, apart from this machine's speed.
 */
function standInCounts() {
  const file = join(mkdtempSync(join(tmpdir(), 'provision-round-trips-')), 'counts.json');
  const jest = spawnSync('npx', ['jest', 'test/unit/upRoundTrips.test.ts', '--selectProjects', 'unit', '-t', 'fresh, then'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules', PROVISION_ROUND_TRIPS_JSON: file },
  });
  if (jest.status !== 0) return `stand-in counts: the test failed (${jest.stderr.trim().split('\n').slice(-3).join(' ')})`;
  const { fresh, noop } = JSON.parse(readFileSync(file, 'utf8'));
  const line = (what, c) => `${what}: ${c.perWorker} per worker, ${c.leader} on the leader, ${c.waves} waves (${c.total} in all)`;
  return `Remote commands of provision up at 10 stand-in robots: ${line('fresh', fresh)}; ${line('no-op', noop)}.`;
}

/**
 * One OpenSSH pass: `ssh robot true` to every robot at once (at most 64 ssh processes at a time), with
 * the operator's key and a known_hosts made from the lab's host keys (checked strictly).
 */
async function openSshPass(robots, home) {
  const labDir = process.env.LAB_DIR ?? '/var/tmp/provision-lab';
  const knownHosts = join(home, 'bench_known_hosts');
  writeFileSync(
    knownHosts,
    robots
      .map(
        (r) =>
          `${r.ip} ${readFileSync(join(labDir, r.name, 'ssh_host_ed25519_key.pub'), 'utf8')
            .split(' ')
            .slice(0, 2)
            .join(' ')}\n`,
      )
      .join(''),
  );
  const run = (r) =>
    new Promise((done, fail) => {
      const ssh = spawn(
        'ssh',
        [
          '-i',
          join(home, '.ssh', 'id_ed25519'),
          '-o',
          'BatchMode=yes',
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          `UserKnownHostsFile=${knownHosts}`,
          '-o',
          'ConnectTimeout=60',
          `${r.user}@${r.ip}`,
          'true',
        ],
        { stdio: 'ignore' },
      );
      ssh.on('error', fail);
      ssh.on('exit', (code) => (code === 0 ? done() : fail(new Error(`ssh ${r.name} true exited ${code}`))));
    });
  const cpu0 = childCpuS();
  const { ms } = await timed(() => mapLimit(robots, 64, run));
  return { ms, cpuS: childCpuS() - cpu0 };
}

/** A simulated lab of N: a fresh `up`, a no-op `up`, one OpenSSH pass; provision's CPU, memory and docker calls. */
async function measureSim(n) {
  labDown();
  const before = memAvailableMb();
  const up = await timed(async () => lab('up', String(n), '--sim-docker'));
  const labMbPerRobot = (before - memAvailableMb()) / n;
  const robots = robotsOfLab();
  if (robots.length !== n) throw new Error(`the lab lists ${robots.length} robots, not ${n}`);
  const inventory = join(process.env.LAB_DIR ?? '/var/tmp/provision-lab', 'inventory.yaml');
  const home = mkdtempSync(join(tmpdir(), 'provision-bench-'));
  const calls = () => JSON.parse(lab('sim', 'counts'));
  // A fresh run may fail robots on a saturated machine (exit 1): measured as it is, then run again
  // (at most twice) until every robot is in, so that the no-op run is one.
  const fresh = provision(home, ['up', '-i', inventory], { allowFail: true });
  const freshCalls = calls();
  const freshMembers = JSON.parse(lab('sim', 'state')).clusters[0]?.nodes.length ?? 0;
  const failedFresh = (fresh.stdout.match(/^ {2}\S+\s+failed\s/gm) ?? []).length;
  for (let i = 0; i < 2 && fresh.code !== 0; i++) if (provision(home, ['up', '-i', inventory], { allowFail: true }).code === 0) break;
  lab('sim', 'reset');
  const noop = provision(home, ['up', '-i', inventory]);
  const noopCalls = calls();
  const noopFloorMs = await noopFloor(robots, home);
  const pass = await openSshPass(robots, home);
  const total = (c) => Object.entries(c).reduce((sum, [k, v]) => (k.startsWith('(') ? sum : sum + v), 0);
  const state = JSON.parse(lab('sim', 'state'));
  return {
    n,
    sim: true,
    labUp: up.ms,
    labMbPerRobot,
    fresh: fresh.ms,
    noopUp: noop.ms,
    noop: noopFloorMs,
    pass: pass.ms,
    passCpu: pass.cpuS,
    cpuFresh: fresh.cpuS,
    cpuNoop: noop.cpuS,
    peakMb: Math.max(fresh.rssMb, noop.rssMb),
    members: state.clusters[0]?.nodes.length ?? 0,
    freshMembers,
    failedFresh,
    noChange: noop.stdout.includes('nothing to change') && !noopCalls['(changes)'],
    dockerCallsFresh: total(freshCalls),
    dockerCallsNoop: total(noopCalls),
  };
}

const rows = [];
try {
  for (const n of SIZES) {
    try {
      const row = SIM ? await measureSim(n) : await measure(n);
      rows.push(row);
      console.log(JSON.stringify(row));
    } catch (err) {
      // One size failing (the lab itself, on a small machine) must not lose the others' numbers.
      rows.push({
        n,
        failed: String(err.message ?? err)
          .split('\n')
          .slice(0, 3)
          .join(' '),
      });
      console.error(`N=${n} failed: ${err.message ?? err}`);
    }
  }
} finally {
  labDown();
}

// One table for each kind of lab, their first columns the same (issue 25's: fresh, no-op, one pass,
// CPU, peak memory, with the ratios); then what only that kind measures.
const ms = (x) => (x / 1000).toFixed(1);
const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '–');
const common =
  '| robots | fresh up (s) | no-op up (s) | no-op floor (s) | no-op ÷ floor | one OpenSSH pass (s) | no-op ÷ pass | CPU fresh / no-op (s) | CPU per robot fresh / no-op (ms) | peak CLI memory (MB) | in the swarm after the fresh up |';
const commonCells = (r, inSwarm) =>
  `| ${r.n} | ${ms(r.fresh)} | ${ms(r.noopUp)}${r.noChange ? '' : ' (changed!)'} | ${ms(r.noop)} | ${ratio(r.noopUp, r.noop)} | ${ms(r.pass)} | ${ratio(r.noopUp, r.pass)} | ${r.cpuFresh.toFixed(1)} / ${r.cpuNoop.toFixed(1)} | ${((1000 * r.cpuFresh) / r.n).toFixed(0)} / ${((1000 * r.cpuNoop) / r.n).toFixed(0)} | ${r.peakMb.toFixed(0)} | ${inSwarm}${r.failedFresh ? ` (${r.failedFresh} failed, then re-run)` : ''} |`;
const failedRow = (r) => `| ${r.n} | failed: ${r.failed} |`;
const labCell = (r) => `${ms(r.labUp)}, ${r.labMbPerRobot.toFixed(0)} |`;
const simTable = [
  `${common} docker calls per robot fresh / no-op | lab up (s), MB per robot |`,
  `|${'---|'.repeat(13)}`,
  ...rows.map((r) =>
    r.failed
      ? failedRow(r)
      : `${commonCells(r, `${r.freshMembers}/${r.n}`)} ${(r.dockerCallsFresh / r.n).toFixed(1)} / ${(r.dockerCallsNoop / r.n).toFixed(1)} | ${labCell(r)}`,
  ),
].join('\n');
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
const realTable = [
  `${common} direct at N (s) | fresh ÷ direct | floor: init / mgr join / wkr join (s) | managers (join rounds) | lower bound (s) | fresh ÷ bound | lab up (s), MB per robot |`,
  `|${'---|'.repeat(18)}`,
  ...rows.map((r) =>
    r.failed
      ? failedRow(r)
      : `${commonCells(r, `${r.members}/${r.n}`)} ${Number.isNaN(r.direct) ? 'failed' : ms(r.direct)} | ${ratio(r.fresh, r.direct)} | ${seconds(r.floorInit)} / ${seconds(r.floorManagerJoin)} / ${seconds(r.floorWorkerJoin)} | ${r.managers} (${r.rounds}) | ${ms(r.lowerBound)} | ${ratio(r.fresh, r.lowerBound)} | ${labCell(r)}`,
  ),
].join('\n');
const table = SIM ? simTable : realTable;
mkdirSync(join(ROOT, 'bench'), { recursive: true });
writeFileSync(join(ROOT, 'bench', SIM ? 'results-sim.md' : 'results.md'), `Machine: ${machine}\n\n${table}\n`);
console.log('\n' + table);
if (!SIM) console.log('\n' + standInCounts());
