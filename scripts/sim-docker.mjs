#!/usr/bin/env node
// The simulated lab's one swarm model (scripts/lab.sh up N --sim-docker). Every robot is a real
// namespace with a real sshd and user; its `docker` is scripts/sim-docker.sh, which sends its argv (and,
// for `system dial-stdio`, its stdin) over this process's unix socket and evals the answer: POSIX sh
// that prints docker's stdout and stderr and exits with its code. One process for the whole lab: no
// Node start per call. What it models: what provision sends (info and its --format templates, swarm
// init/join/leave/join-token, node ls/inspect/update/promote/demote/rm/ps, version, the Engine API's
// POST /swarm/join through dial-stdio, network inspect of ingress), with delays and a failure rate.
// Anything else answers "not simulated" with exit 1. State lives in memory for the lab's lifetime.
//
// Usage: node scripts/sim-docker.mjs SOCKET LABDIR   (lab.sh starts and stops it)
// Environment: LAB_SIM_JOIN_MS (300-1000: a join's delay, uniform), LAB_SIM_UPDATE_MS (50: node
// update/promote/demote/rm), LAB_SIM_INIT_MS (500), LAB_SIM_READ_MS (0: info, ls, inspect),
// LAB_SIM_FAIL (0: the share of joins that fail with docker's "context deadline exceeded"),
// LAB_SIM_FAIL_ROBOTS ("Ida Otto": their joins always refused, an x509 error), LAB_SIM_SEED (1: the failure draws),
// LAB_SIM_VERSION (the engine version reported, 20.10.24+dfsg1).
// Control (lab.sh sim ...): the robot name "@ctl" with argv counts | reset | state | set KEY=VALUE...
import { createServer } from 'node:net';
import { readFileSync, unlinkSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { setTimeout } from 'node:timers';

const [SOCKET, LABDIR] = process.argv.slice(2);
if (!SOCKET || !LABDIR) {
  console.error('usage: sim-docker.mjs SOCKET LABDIR');
  process.exit(2);
}

const range = (s, d) => {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s ?? '');
  return m ? [Number(m[1]), Number(m[2] ?? m[1])] : d;
};
const X509 =
  'rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: x509: certificate signed by unknown authority"';
const config = {
  join: range(process.env.LAB_SIM_JOIN_MS, [300, 1000]),
  update: range(process.env.LAB_SIM_UPDATE_MS, [50, 50]),
  init: range(process.env.LAB_SIM_INIT_MS, [500, 500]),
  read: range(process.env.LAB_SIM_READ_MS, [0, 0]),
  fail: Number(process.env.LAB_SIM_FAIL ?? 0) || 0,
  failRobots: new Set((process.env.LAB_SIM_FAIL_ROBOTS ?? '').split(/[\s,]+/).filter(Boolean)),
  version: process.env.LAB_SIM_VERSION ?? '20.10.24+dfsg1',
};

// A small seeded generator (mulberry32): the same seed, the same failures and IDs.
let seed = Number(process.env.LAB_SIM_SEED ?? 1) >>> 0;
const random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomId = (n) => Array.from({ length: n }, () => ALNUM[Math.floor(random() * 36)]).join('');
const delayOf = ([lo, hi]) => lo + random() * (hi - lo);
const sleep = (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
const now = () => new Date().toISOString();

// ---------------------------------------------------------------- the model

/** name -> { name, ip, engineId, local: inactive|active, nodeId, cluster } */
const robots = new Map();
/** id -> { id, tokens, nodes: Map(id -> node), createdAt } */
const clusters = new Map();
const counts = {};

function robot(name) {
  let r = robots.get(name);
  if (!r) {
    let ip = '';
    try {
      ip = readFileSync(join(LABDIR, name, 'ip'), 'utf8').trim();
    } catch {
      // a robot the lab does not know: it still gets an engine
    }
    const key = createHash('sha256')
      .update(name)
      .digest('base64url')
      .toUpperCase()
      .replace(/[^A-Z2-7]/g, 'Q');
    const engineId = key.slice(0, 48).match(/.{4}/g).join(':');
    r = { name, ip, engineId, local: 'inactive', nodeId: '', cluster: null };
    robots.set(name, r);
  }
  return r;
}

const nodeOf = (r) => (r.cluster ? r.cluster.nodes.get(r.nodeId) : undefined);
const managers = (c) => [...c.nodes.values()].filter((n) => n.role === 'manager' && n.reach !== 'unreachable');
const isManager = (r) => r.local === 'active' && nodeOf(r)?.role === 'manager';

function addNode(c, r, role, addr, availability = 'active') {
  const node = {
    id: randomId(25),
    robot: r.name,
    hostname: r.name,
    addr,
    role,
    availability,
    labels: {},
    state: 'ready',
    leader: false,
    reach: 'reachable',
    createdAt: now(),
    updatedAt: now(),
    version: 9,
  };
  c.nodes.set(node.id, node);
  r.local = 'active';
  r.nodeId = node.id;
  r.cluster = c;
  return node;
}

/** Raft, as far as provision sees it: a leader among the reachable managers, if any. */
function electLeader(c) {
  const live = managers(c);
  if (live.some((n) => n.leader)) return;
  for (const n of c.nodes.values()) n.leader = false;
  if (live.length) live[0].leader = true;
}

// What docker prints, shaped as Docker 20.10 does (some 2 KB a node in `node inspect`).
const CERT = '-----BEGIN CERTIFICATE-----\n' + 'MIIBazCCARCgAwIBAgIU'.padEnd(560, 'A') + '\n-----END CERTIFICATE-----\n';
function nodeJson(n, c) {
  const r = robots.get(n.robot);
  return {
    ID: n.id,
    Version: { Index: n.version },
    CreatedAt: n.createdAt,
    UpdatedAt: n.updatedAt,
    Spec: { Labels: n.labels, Role: n.role, Availability: n.availability },
    Description: {
      Hostname: n.hostname,
      Platform: { Architecture: 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: 2000000000, MemoryBytes: 25200000000 },
      Engine: {
        EngineVersion: config.version,
        Plugins: [
          ...['awslogs', 'fluentd', 'gcplogs', 'gelf', 'journald', 'json-file', 'local', 'logentries', 'splunk', 'syslog'].map((Name) => ({
            Type: 'Log',
            Name,
          })),
          ...['bridge', 'host', 'ipvlan', 'macvlan', 'null', 'overlay'].map((Name) => ({ Type: 'Network', Name })),
          { Type: 'Volume', Name: 'local' },
        ],
      },
      TLSInfo: {
        TrustRoot: CERT,
        CertIssuerSubject: 'MBMxETAPBgNVBAMTCHN3YXJtLWNh',
        CertIssuerPublicKey: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE'.padEnd(124, 'x'),
      },
    },
    Status: { State: n.state, Addr: n.role === 'manager' ? '0.0.0.0' : n.addr },
    ...(n.role === 'manager' ? { ManagerStatus: { Leader: n.leader || undefined, Reachability: n.reach, Addr: `${n.addr}:2377` } } : {}),
    ...(r && r.cluster !== c ? {} : {}),
  };
}

function swarmInfo(r) {
  if (r.local !== 'active') {
    return { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null };
  }
  const c = r.cluster;
  const node = nodeOf(r);
  const manager = node?.role === 'manager';
  const info = {
    NodeID: r.nodeId,
    NodeAddr: node?.addr ?? r.ip,
    LocalNodeState: 'active',
    ControlAvailable: manager,
    Error: '',
    RemoteManagers: managers(c).map((m) => ({ NodeID: m.id, Addr: `${m.addr}:2377` })),
  };
  if (manager) {
    info.Nodes = c.nodes.size;
    info.Managers = managers(c).length;
    info.Cluster = {
      ID: c.id,
      Version: { Index: 10 },
      CreatedAt: c.createdAt,
      UpdatedAt: c.createdAt,
      Spec: { Name: 'default', Labels: {}, Orchestration: { TaskHistoryRetentionLimit: 5 }, Raft: { SnapshotInterval: 10000 } },
      RootRotationInProgress: false,
      DefaultAddrPool: ['10.0.0.0/8'],
      SubnetSize: 24,
      DataPathPort: 4789,
    };
  }
  return info;
}

const infoOf = (r) => ({
  ID: r.engineId,
  Name: r.name,
  ServerVersion: config.version,
  OperatingSystem: 'Debian GNU/Linux 12 (bookworm)',
  OSType: 'linux',
  Architecture: 'x86_64',
  NCPU: 2,
  Swarm: swarmInfo(r),
});

// ---------------------------------------------------------------- docker's Go templates, as far as used

function evalTemplate(tpl, data) {
  let out = '';
  let at = 0;
  for (const m of tpl.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/g)) {
    out += tpl.slice(at, m.index);
    at = m.index + m[0].length;
    out += action(m[1], data);
  }
  return out + tpl.slice(at);
}
function path(expr, data) {
  if (expr === '.') return data;
  let v = data;
  for (const key of expr.split('.').slice(1)) {
    if (v === null || v === undefined || typeof v !== 'object') return undefined;
    v = v[key];
  }
  return v;
}
const show = (v) => (v === undefined ? '<no value>' : v === null ? '<nil>' : typeof v === 'object' ? goMap(v) : String(v));
const goMap = (v) =>
  Array.isArray(v)
    ? `[${v.map(show).join(' ')}]`
    : `map[${Object.keys(v)
        .map((k) => `${k}:${show(v[k])}`)
        .join(' ')}]`;
function action(a, data) {
  if (a === 'println') return '\n';
  let m = /^json\s+(\S+)$/.exec(a);
  if (m) return JSON.stringify(path(m[1], data) ?? null);
  m = /^index\s+(\S+)\s+"([^"]*)"$/.exec(a);
  if (m) return String(path(m[1], data)?.[m[2]] ?? '');
  if (a.startsWith('.')) return show(path(a, data));
  throw new Error(`template: "${a}" is not simulated`);
}

// ---------------------------------------------------------------- commands

class DockerError extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}
const daemonError = (m) => new DockerError(`Error response from daemon: ${m}`);
const NOT_MANAGER =
  "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
const NOT_IN_SWARM =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const IN_SWARM = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';

function needManager(r) {
  if (r.local !== 'active') throw daemonError(NOT_IN_SWARM);
  if (!isManager(r)) throw daemonError(NOT_MANAGER);
  return r.cluster;
}

/** Flags (`--name value`, `--name=value`, `-q`) and positionals; `boolFlags` take no value. */
function parseArgs(args, boolFlags) {
  const flags = {};
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('-') && a !== '-') {
      const [name, inline] = a.split(/=(.*)/s, 2);
      if (boolFlags.includes(name)) (flags[name] ??= []).push(inline ?? 'true');
      else (flags[name] ??= []).push(inline ?? args[++i]);
    } else pos.push(a);
  }
  return { flags, pos };
}
const formatted = (flags, data, text) => (flags['--format'] ? evalTemplate(flags['--format'].at(-1), data) + '\n' : text());

function findNode(c, ref) {
  const n = c.nodes.get(ref) ?? [...c.nodes.values()].find((x) => x.hostname === ref || x.id.startsWith(ref));
  if (!n) throw daemonError(`node ${ref} not found`);
  return n;
}

async function swarm(r, sub, args) {
  if (sub === 'init') {
    const { flags } = parseArgs(args, ['--force-new-cluster']);
    await sleep(delayOf(config.init));
    if (flags['--force-new-cluster']) {
      const c = needManager(r);
      const self = nodeOf(r);
      for (const n of c.nodes.values()) if (n.role === 'manager' && n !== self) n.reach = 'unreachable';
      for (const n of c.nodes.values()) n.leader = n === self;
      return { stdout: `Swarm initialized: current node (${r.nodeId}) is now a manager.\n`, change: true };
    }
    if (r.local === 'active') throw daemonError(IN_SWARM);
    const c = { id: randomId(25), nodes: new Map(), createdAt: now(), tokens: null };
    c.tokens = { worker: `SWMTKN-1-${c.id}${randomId(25)}-${randomId(25)}`, manager: `SWMTKN-1-${c.id}${randomId(25)}-${randomId(25)}` };
    clusters.set(c.id, c);
    const addr = flags['--advertise-addr']?.at(-1)?.replace(/:\d+$/, '') || r.ip;
    addNode(c, r, 'manager', addr, flags['--availability']?.at(-1) ?? 'active').leader = true;
    return {
      stdout: `Swarm initialized: current node (${r.nodeId}) is now a manager.\n\nTo add a worker to this swarm, run the following command:\n\n    docker swarm join --token <hidden> ${addr}:2377\n`,
      change: true,
    };
  }
  if (sub === 'join-token') {
    const { flags, pos } = parseArgs(args, ['-q', '--quiet', '--rotate']);
    const c = needManager(r);
    const role = pos[0];
    if (role !== 'worker' && role !== 'manager') throw new DockerError('unknown role ' + role);
    if (flags['--rotate']) c.tokens[role] = `SWMTKN-1-${c.id}${randomId(25)}-${randomId(25)}`;
    return {
      stdout:
        flags['-q'] || flags['--quiet']
          ? `${c.tokens[role]}\n`
          : `To add a ${role} to this swarm, run the following command:\n\n    docker swarm join --token ${c.tokens[role]}\n`,
      change: Boolean(flags['--rotate']),
    };
  }
  if (sub === 'leave') {
    const { flags } = parseArgs(args, ['-f', '--force']);
    if (r.local !== 'active') throw daemonError('This node is not part of a swarm');
    const node = nodeOf(r);
    if (node?.role === 'manager' && !(flags['-f'] || flags['--force']))
      throw daemonError(
        'You are attempting to leave the swarm on a node that is participating as a manager. Use `--force` to suppress this message.',
      );
    await sleep(delayOf(config.update));
    leave(r);
    return { stdout: 'Node left the swarm.\n', change: true };
  }
  if (sub === 'join')
    throw new DockerError('sim-docker: `docker swarm join` is not simulated: provision joins through the Engine API (system dial-stdio)');
  throw notSimulated(['swarm', sub, ...args]);
}

function leave(r) {
  const c = r.cluster;
  const node = nodeOf(r);
  if (node) {
    if (node.role === 'manager') {
      node.reach = 'unreachable';
      node.leader = false;
      electLeader(c);
    }
    node.state = 'down';
  }
  r.local = 'inactive';
  r.nodeId = '';
  r.cluster = null;
}

async function node(r, sub, args) {
  if (sub === 'ls') {
    const { flags } = parseArgs(args, ['-q', '--quiet']);
    const c = needManager(r);
    await sleep(delayOf(config.read));
    const list = [...c.nodes.values()];
    if (flags['-q'] || flags['--quiet']) return { stdout: list.map((n) => `${n.id}\n`).join('') };
    const rows = list.map(
      (n) =>
        `${(n.id + (n.id === r.nodeId ? ' *' : '')).padEnd(29)}${n.hostname.padEnd(20)}${(n.state[0].toUpperCase() + n.state.slice(1)).padEnd(10)}${'Active'.padEnd(14)}${(n.role === 'manager' ? (n.leader ? 'Leader' : n.reach === 'reachable' ? 'Reachable' : 'Unreachable') : '').padEnd(16)}${config.version}\n`,
    );
    return {
      stdout: `ID                           HOSTNAME            STATUS    AVAILABILITY  MANAGER STATUS  ENGINE VERSION\n${rows.join('')}`,
    };
  }
  if (sub === 'inspect') {
    const { flags, pos } = parseArgs(args, ['--pretty']);
    const c = needManager(r);
    await sleep(delayOf(config.read));
    const nodes = pos.map((ref) => (ref === 'self' ? nodeOf(r) : findNode(c, ref)));
    if (flags['--format']) return { stdout: nodes.map((n) => evalTemplate(flags['--format'].at(-1), nodeJson(n, c)) + '\n').join('') };
    return {
      stdout:
        JSON.stringify(
          nodes.map((n) => nodeJson(n, c)),
          null,
          4,
        ) + '\n',
    };
  }
  if (sub === 'update') {
    const { flags, pos } = parseArgs(args, []);
    const c = needManager(r);
    await sleep(delayOf(config.update));
    const n = findNode(c, pos.at(-1));
    for (const kv of flags['--label-add'] ?? []) {
      const at = kv.indexOf('=');
      n.labels[at < 0 ? kv : kv.slice(0, at)] = at < 0 ? '' : kv.slice(at + 1);
    }
    for (const k of flags['--label-rm'] ?? []) delete n.labels[k];
    if (flags['--availability']) n.availability = flags['--availability'].at(-1);
    if (flags['--role']) setRole(c, n, flags['--role'].at(-1));
    n.version++;
    n.updatedAt = now();
    return { stdout: `${pos.at(-1)}\n`, change: true };
  }
  if (sub === 'promote' || sub === 'demote') {
    const c = needManager(r);
    await sleep(delayOf(config.update));
    let out = '';
    for (const ref of parseArgs(args, []).pos) {
      const n = findNode(c, ref);
      const role = sub === 'promote' ? 'manager' : 'worker';
      if (n.role === role) {
        out += `Node ${ref} is already a ${role}.\n`;
        continue;
      }
      if (role === 'worker' && managers(c).length === 1)
        throw daemonError('rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm');
      setRole(c, n, role);
      out += sub === 'promote' ? `Node ${ref} promoted to a manager in the swarm.\n` : `Manager ${ref} demoted in the swarm.\n`;
    }
    return { stdout: out, change: true };
  }
  if (sub === 'rm') {
    const { flags, pos } = parseArgs(args, ['-f', '--force']);
    const c = needManager(r);
    await sleep(delayOf(config.update));
    for (const ref of pos) {
      const n = findNode(c, ref);
      if (n.state !== 'down' && !(flags['-f'] || flags['--force']))
        throw daemonError(`rpc error: code = FailedPrecondition desc = node ${n.id} is not down and can't be removed`);
      if (n.role === 'manager' && n.reach === 'reachable')
        throw daemonError(
          `rpc error: code = FailedPrecondition desc = node ${n.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        );
      c.nodes.delete(n.id);
      const owner = robots.get(n.robot);
      if (owner?.nodeId === n.id && owner.cluster === c) {
        owner.local = 'inactive';
        owner.nodeId = '';
        owner.cluster = null;
      }
    }
    return { stdout: pos.map((p) => `${p}\n`).join(''), change: true };
  }
  if (sub === 'ps') {
    needManager(r);
    return { stdout: '' }; // no services in a simulated swarm
  }
  throw notSimulated(['node', sub, ...args]);
}

function setRole(c, n, role) {
  n.role = role;
  if (role === 'manager') n.reach = 'reachable';
  else n.leader = false;
  electLeader(c);
}

/** The Engine API's POST /swarm/join, as join.sh writes it into `docker system dial-stdio`. */
async function dialStdio(r, stdin) {
  const text = stdin.toString('utf8');
  const head = /^(\S+) (\S+) HTTP\/1\.[01]\r\n/.exec(text);
  const bodyAt = text.indexOf('\r\n\r\n');
  if (!head || bodyAt < 0) return { stdout: '' }; // docker closes the stream on a request it cannot read
  if (head[1] !== 'POST' || !/^(\/v[\d.]+)?\/swarm\/join$/.test(head[2]))
    return { stdout: http(404, { message: `sim-docker: ${head[1]} ${head[2]} is not simulated` }) };
  let body;
  try {
    body = JSON.parse(text.slice(bodyAt + 4));
  } catch {
    return { stdout: http(400, { message: 'invalid JSON' }) };
  }
  await sleep(delayOf(config.join));
  const fail = (status, message) => ({ stdout: http(status, { message }) });
  if (r.local === 'active') return fail(503, IN_SWARM);
  // A named robot is refused for good (a stale CA: provision fails it at once); a random failure is
  // a loaded swarm's passing answer, which provision sends again.
  if (config.failRobots.has(r.name)) return fail(500, X509);
  if (random() < config.fail) return fail(500, 'rpc error: code = DeadlineExceeded desc = context deadline exceeded');
  const token = String(body.JoinToken ?? '');
  const c = [...clusters.values()].find((x) => x.tokens.worker === token || x.tokens.manager === token);
  if (!c) return fail(500, 'rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster');
  const remote = String(body.RemoteAddrs?.[0] ?? '').replace(/:\d+$/, '');
  if (!managers(c).some((m) => m.addr === remote))
    return fail(
      500,
      `rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing dial tcp ${remote}:2377: connect: connection refused"`,
    );
  const role = c.tokens.manager === token ? 'manager' : 'worker';
  addNode(c, r, role, String(body.AdvertiseAddr || r.ip).replace(/:\d+$/, ''), body.Availability || 'active');
  return { stdout: http(200, null), change: true };
}
function http(status, json) {
  const body = json ? JSON.stringify(json) + '\n' : '';
  const reason = { 200: 'OK', 400: 'Bad Request', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' }[status];
  return `HTTP/1.0 ${status} ${reason}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nServer: Docker/${config.version} (linux)\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

const notSimulated = (argv) => new DockerError(`sim-docker: \`docker ${argv.join(' ')}\` is not simulated (scripts/sim-docker.mjs)`);

async function docker(r, argv, stdin) {
  const [cmd, sub, ...rest] = argv;
  if (cmd === 'info') {
    await sleep(delayOf(config.read));
    const { flags } = parseArgs(argv.slice(1), []);
    return {
      stdout: formatted(flags, infoOf(r), () => `Server:\n Server Version: ${config.version}\n Swarm: ${swarmInfo(r).LocalNodeState}\n`),
    };
  }
  if (cmd === 'version') {
    const { flags } = parseArgs(argv.slice(1), []);
    const data = { Client: { Version: config.version }, Server: { Version: config.version } };
    return { stdout: formatted(flags, data, () => `Client:\n Version: ${config.version}\n\nServer:\n Version: ${config.version}\n`) };
  }
  if (cmd === 'swarm') return swarm(r, sub, rest);
  if (cmd === 'node') return node(r, sub, rest);
  if (cmd === 'system' && sub === 'dial-stdio') return dialStdio(r, stdin);
  if (cmd === 'network' && sub === 'inspect' && rest.includes('ingress')) {
    if (r.local !== 'active') throw new DockerError('Error: No such network: ingress');
    const { flags } = parseArgs(rest, []);
    return {
      stdout: formatted(
        flags,
        { Name: 'ingress', Driver: 'overlay', Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4096' } },
        () => '[]\n',
      ),
    };
  }
  throw notSimulated(argv);
}

// ---------------------------------------------------------------- control and wire

function control(argv) {
  const [what, ...rest] = argv;
  if (what === 'ping') return 'pong\n';
  if (what === 'counts') return JSON.stringify(counts) + '\n';
  if (what === 'reset') {
    for (const k of Object.keys(counts)) delete counts[k];
    return '';
  }
  if (what === 'state') {
    const out = [...clusters.values()].map((c) => ({
      cluster: c.id,
      nodes: [...c.nodes.values()].map((n) => ({ hostname: n.hostname, role: n.role, leader: n.leader, state: n.state, labels: n.labels })),
    }));
    const members = [...robots.values()].filter((r) => r.local === 'active').map((r) => r.name);
    return JSON.stringify({ clusters: out, active: members }) + '\n';
  }
  if (what === 'set') {
    for (const kv of rest) {
      const [k, v = ''] = kv.split(/=(.*)/s, 2);
      if (k === 'fail') config.fail = Number(v) || 0;
      else if (k === 'failRobots') config.failRobots = new Set(v.split(/[\s,]+/).filter(Boolean));
      else if (k in config && Array.isArray(config[k])) config[k] = range(v, config[k]);
      else throw new DockerError(`sim-docker: unknown setting ${k}`, 2);
    }
    return JSON.stringify({ ...config, failRobots: [...config.failRobots] }) + '\n';
  }
  throw new DockerError(`sim-docker: unknown control ${what}`, 2);
}

/** The answer, as sh for the stand-in to eval: its stdout, its stderr, its exit code. */
const sq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const answer = (stdout, stderr, code) =>
  `${stdout ? `printf '%s' ${sq(stdout)}\n` : ''}${stderr ? `printf '%s\\n' ${sq(stderr)} >&2\n` : ''}exit ${code}\n`;

/** Which calls read their stdin (to its end) before they are answered. */
const readsStdin = (argv) => argv[0] === 'system' && argv[1] === 'dial-stdio';

function countKey(argv) {
  const [a = '', b = ''] = argv;
  if (a === 'system' && b === 'dial-stdio') return 'swarm join (engine API)';
  if (a === 'info' || a === 'version') return a;
  if (a === 'swarm' && b === 'join-token') return argv.includes('--rotate') ? 'swarm join-token --rotate' : 'swarm join-token';
  return `${a} ${b}`.trim();
}

async function handle(fields, stdin) {
  const [name, , ...argv] = fields;
  if (name === '@ctl') return answer(control(argv), '', 0);
  const key = countKey(argv);
  counts[key] = (counts[key] ?? 0) + 1;
  try {
    const { stdout, change } = await docker(robot(name), argv, stdin);
    if (change) counts['(changes)'] = (counts['(changes)'] ?? 0) + 1;
    return answer(stdout, '', 0);
  } catch (e) {
    if (!(e instanceof DockerError)) throw e;
    counts['(errors)'] = (counts['(errors)'] ?? 0) + 1;
    return answer('', e.message, e.code);
  }
}

// Request: NAME \0 ARGC \0 ARG1 \0 ... ARGN \0, then (dial-stdio only) stdin to its end.
const server = createServer({ allowHalfOpen: true }, (sock) => {
  let buf = Buffer.alloc(0);
  let fields = null;
  let done = false;
  const reply = (stdin) => {
    if (done) return;
    done = true;
    handle(fields, stdin)
      .catch((e) => answer('', `sim-docker: ${e.message}`, 1))
      .then((text) => sock.end(text));
  };
  const parse = () => {
    const out = [];
    let at = 0;
    for (;;) {
      const z = buf.indexOf(0, at);
      if (z < 0) return null;
      out.push(buf.subarray(at, z).toString('utf8'));
      at = z + 1;
      if (out.length >= 2 && out.length === Number(out[1]) + 2) return { out, rest: buf.subarray(at) };
    }
  };
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    if (fields) return;
    const p = parse();
    if (!p) return;
    fields = p.out;
    buf = p.rest;
    if (!readsStdin(fields.slice(2))) reply(Buffer.alloc(0));
  });
  sock.on('end', () => {
    if (fields) reply(buf);
    else sock.end(answer('', 'sim-docker: a request cut short', 1));
  });
  sock.on('error', () => {});
});
try {
  unlinkSync(SOCKET);
} catch {
  // none yet
}
server.listen(SOCKET, () => {
  chmodSync(SOCKET, 0o666); // every robot's user calls it (a lab on one machine, nothing else reaches it)
  console.log(`sim-docker: listening on ${SOCKET}`);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => server.close(() => process.exit(0)));
