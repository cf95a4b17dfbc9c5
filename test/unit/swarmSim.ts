// A stand-in executor for the swarm phases: robots whose docker is a small in-memory swarm. Each
// command arrives as sshd would get it, is named (`facts`, `docker node promote n2`, `sync-tokens`…),
// recorded in order, and answered from the simulated state. Which commands a phase sends, for a given
// fleet state, is then a plain list to compare. (That it all works on real robots: test/lab.)
import { createHash } from 'node:crypto';
import { OUTPUT_MARK } from '../../src/remote/shell.js';
import type { ExecResult, StandIn } from '../../src/ssh/connection.js';
import { answerLine, decodeWire, readable, withoutConstants, type Command } from './recorder.js';

interface SimNode {
  id: string;
  robot: string;
  ip: string;
  role: 'manager' | 'worker';
  leader: boolean;
  state: 'ready' | 'down';
  labels: Record<string, string>;
  hostname?: string;
}

export interface SimRobot {
  name: string;
  ip: string;
  /** Its swarm state as its own docker says; `pending` without a node: a join that never finished. */
  local: 'inactive' | 'active' | 'pending';
  nodeId: string;
  tokenFiles: Map<string, string>;
  /** Its hostname and the address its engine advertises, when not its name and its address (clones, copied swarm state). */
  hostname?: string;
  advertised?: string;
}

/**
 * What one join attempt of a robot meets, in order (then joins go through at once):
 * - `fail`: docker answers with `message`; the robot stays out, or is left `pending` when `then` says
 *   so (docker goes on in the background, as after its 20-s timeout);
 * - `pending`: the join answers "pending" (docker goes on in the background), through manager `through` when given.
 * A pending robot becomes a node after `polls` reads of its state (Infinity: never: a stalled join).
 */
export type JoinTurn = { kind: 'fail'; message: string; then?: { pending: number } } | { kind: 'pending'; polls: number; through?: string };

/** Docker's words, as the lab and moby's sources give them. */
export const DOCKER_SAYS = {
  deadline: 'Error response from daemon: rpc error: code = DeadlineExceeded desc = context deadline exceeded',
  joinTimeout:
    'Error response from daemon: Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node.',
  lostLeader: 'Error response from daemon: rpc error: code = Unknown desc = raft: failed to process the request: node lost leader status',
  noLeader:
    "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.",
  unavailable:
    'Error response from daemon: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing dial tcp 10.88.0.12:2377: i/o timeout"',
  badToken: 'Error response from daemon: rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster',
  x509: 'Error response from daemon: rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: x509: certificate signed by unknown authority"',
  /** A manager whose docker is stopped (the lab: lab.sh dockerd NAME stop), after docker's 10-s dial. */
  dialRefused: (addr: string) =>
    `Error response from daemon: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing dial tcp ${addr}: connect: connection refused"`,
};

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string): ExecResult => ({ code: 1, stdout: '', stderr });

export class SimFleet {
  readonly robots = new Map<string, SimRobot>();
  nodes: SimNode[] = [];
  /** Every command sent, in order: `Robot: name args…` (the preflight's reads apart, below). */
  readonly sent: string[] = [];
  /** The preflight's reads (preflight, path-mtu): every robot the same healthy one; test/unit/preflight.test.ts judges readings. */
  readonly preflightSent: string[] = [];
  private tokens = { worker: 'SWMTKN-1-w1', manager: 'SWMTKN-1-m1' };
  /** Commands (as in `sent`) that fail, as a fault of the test's choosing. */
  refuse: RegExp | null = null;
  /** Per robot, what its join attempts meet (JoinTurn), consumed in order. */
  readonly joinTurns = new Map<string, JoinTurn[]>();
  /** Pending joins: reads of its state left before the robot becomes a node. */
  private readonly pendingPolls = new Map<string, { role: 'manager' | 'worker'; left: number }>();
  /** Runs at each read of a pending robot's state (the rest of the swarm moving meanwhile). */
  onPendingPoll: (() => void) | null = null;
  /**
   * The lead moves once: the first command matching `on` fails with `message`, and the leader is
   * then `to` (a manager by then). Until `until` is 0, further `docker node` commands fail with `message` too.
   */
  leaderMove: { on: RegExp; to: string; message: string; until?: number } | null = null;
  /** From the first command matching this on, the swarm has no leader: node reads and changes, and joins, answer so. */
  quorumLoss: RegExp | null = null;
  private leaderless = false;
  private nextId = 1;

  constructor(names: readonly string[]) {
    names.forEach((name, i) =>
      this.robots.set(name, { name, ip: `10.0.0.${i + 1}`, local: 'inactive', nodeId: '', tokenFiles: new Map() }),
    );
  }

  /** The commands sent that change something (reads left out), in order. */
  changes(): string[] {
    const reads = /: (facts|node-ls|join-state|manager-state|join-tokens|manager-read|sync-tokens 1)\b/;
    return this.sent.filter((s) => !reads.test(s));
  }

  /** A robot already in the swarm, as `role` (the first manager leads). */
  member(name: string, role: 'manager' | 'worker', labels: Record<string, string> = {}): void {
    const r = this.robots.get(name) as SimRobot;
    const node = this.addNode(r, role);
    node.labels = labels;
  }

  private addNode(r: SimRobot, role: 'manager' | 'worker'): SimNode {
    const node: SimNode = { id: `n${this.nextId++}`, robot: r.name, ip: r.ip, role, leader: false, state: 'ready', labels: {} };
    if (role === 'manager' && !this.nodes.some((n) => n.leader)) node.leader = true;
    this.nodes.push(node);
    r.local = 'active';
    r.nodeId = node.id;
    return node;
  }

  standIn(name: string): StandIn {
    return async (wire, stdin) => {
      const r = answerLine(decodeWire(wire), (c) => this.answerNamed(name, c, stdin));
      return { ...r, stdout: `${OUTPUT_MARK}\n${r.stdout}`, stderr: `${OUTPUT_MARK}\n${r.stderr}` };
    };
  }

  /** One named command (see nameCommands) sent to `name`, recorded and answered (without OUTPUT_MARK). */
  answerNamed(name: string, command: Command, stdin: string | Buffer | undefined): ExecResult {
    if (command.name === 'preflight' || command.name === 'path-mtu' || command.name === 'ingress-mtu') {
      this.preflightSent.push(`${name}: ${readable(command)}`);
      return ok(preflightAnswer(command.name, command.args));
    }
    this.sent.push(`${name}: ${readable(command)}`);
    const line = this.sent[this.sent.length - 1] ?? '';
    if (this.refuse?.test(line)) return fail('refused by the test');
    const move = this.leaderMove;
    if (move?.on.test(line)) {
      for (const n of this.nodes) n.leader = n.robot === move.to;
      move.on = /$^/; // once
      return fail(move.message);
    }
    if (move?.until && /: docker node /.test(line)) {
      move.until--;
      return fail(move.message);
    }
    if (this.quorumLoss?.test(line)) this.leaderless = true;
    if (this.leaderless && /: (node-ls|join-tokens|docker node|join) /.test(`${line} `)) return fail(DOCKER_SAYS.noLeader);
    return this.answer(this.robots.get(name) as SimRobot, command.name, withoutConstants(command.args), stdin?.toString() ?? '');
  }

  private me(r: SimRobot): SimNode | undefined {
    return this.nodes.find((n) => n.id === r.nodeId);
  }

  private answer(r: SimRobot, command: string, args: string[], stdin: string): ExecResult {
    const me = this.me(r);
    switch (command) {
      case 'facts':
        return ok(this.facts(r));
      case 'sync-tokens':
        return ok(this.syncTokens(r, args[0] === '1', stdin));
      case 'join':
        return this.join(r, args[0] as 'manager' | 'worker');
      case 'join-state':
        return ok(this.joinState(r));
      case 'manager-state':
        return ok(`${r.local} ${me?.role === 'manager'}`);
    }
    if (command === 'docker' && args[0] === 'swarm') return this.swarmCommand(r, args);
    if (me?.role !== 'manager') return fail('Error response from daemon: This node is not a swarm manager.');
    if (command === 'node-ls') return ok(this.nodes.map((n) => nodeJson(n)).join('\n'));
    if (command === 'join-tokens') return ok(`${this.tokens.worker}\n${this.tokens.manager}\n`);
    if (command === 'manager-read')
      return ok(
        `${this.nodes.map((n) => nodeJson(n)).join('\n')}\nprovision-tokens-begin\n${this.tokens.worker}\n${this.tokens.manager}\n`,
      );
    if (command === 'rotate-token') {
      this.tokens[args[0] as 'worker' | 'manager'] += 'r';
      return ok();
    }
    if (command === 'docker' && args[0] === 'node') return this.nodeCommand(args.slice(1));
    return fail(`the stand-in does not know: ${command} ${args.join(' ')}`);
  }

  private facts(r: SimRobot): string {
    const me = this.me(r);
    const swarm =
      r.local === 'inactive'
        ? { LocalNodeState: 'inactive', NodeID: '', ControlAvailable: false }
        : {
            NodeID: r.nodeId,
            NodeAddr: r.advertised ?? r.ip,
            LocalNodeState: r.local,
            ControlAvailable: me?.role === 'manager',
            Error: '',
            RemoteManagers: [],
            Cluster: me?.role === 'manager' ? { ID: 'c1' } : null,
          };
    const files = [...r.tokenFiles].map(([f, content]) => `token_file=${f} 600 ${sha(content)}\n`).join('');
    return `${r.tokenFiles.size ? 'tokens_dir=700\n' : ''}${files}arch=x86_64\ncpus=2\nmemkb=8000000\nhostname=${r.hostname ?? r.name}\nengine=e-${r.name}\nswarm=${JSON.stringify(swarm)}\n`;
  }

  private syncTokens(r: SimRobot, dry: boolean, stdin: string): string {
    const lines = stdin.split('\n');
    const out: string[] = [];
    const wanted = new Set<string>();
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const name = lines[i] as string;
      const content = Buffer.from(lines[i + 1] as string, 'base64').toString('utf8');
      wanted.add(name);
      if (r.tokenFiles.get(name) === content) continue;
      out.push(`changed:${name}`);
      if (!dry) r.tokenFiles.set(name, content);
    }
    for (const name of [...r.tokenFiles.keys()].filter((n) => !wanted.has(n))) {
      out.push(`removed:${name}`);
      if (!dry) r.tokenFiles.delete(name);
    }
    return out.join('\n');
  }

  private join(r: SimRobot, role: 'manager' | 'worker'): ExecResult {
    if (r.tokenFiles.get(`${role}_token`) !== this.tokens[role] + '\n') return fail(`no valid ~/swarm_tokens/${role}_token`);
    const turn = this.joinTurns.get(r.name)?.shift();
    if (turn?.kind === 'fail') {
      if (turn.then) this.startPending(r, role, turn.then.pending);
      return fail(turn.message);
    }
    if (turn?.kind === 'pending') {
      this.startPending(r, role, turn.polls);
      return ok(turn.through ? `pending ${turn.through}` : 'pending');
    }
    return ok(`node=${this.addNode(r, role).id}`);
  }

  private startPending(r: SimRobot, role: 'manager' | 'worker', polls: number): void {
    r.local = 'pending';
    this.pendingPolls.set(r.name, { role, left: polls });
  }

  private joinState(r: SimRobot): string {
    const pending = this.pendingPolls.get(r.name);
    if (r.local === 'pending' && pending) {
      this.onPendingPoll?.();
      if (--pending.left <= 0) {
        this.pendingPolls.delete(r.name);
        this.addNode(r, pending.role);
      }
    }
    return `${r.local} ${r.nodeId} `;
  }

  /** A node of no inventory robot joins (the swarm progressing elsewhere). */
  stranger(): void {
    const n = this.nodes.length + 1;
    const r: SimRobot = { name: `X${n}`, ip: `10.0.1.${n}`, local: 'inactive', nodeId: '', tokenFiles: new Map() };
    this.addNode(r, 'worker');
  }

  private swarmCommand(r: SimRobot, args: string[]): ExecResult {
    if (args[1] === 'init') {
      this.addNode(r, 'manager');
      return ok();
    }
    if (args[1] === 'leave') {
      const me = this.me(r);
      if (me) me.state = 'down';
      r.local = 'inactive';
      r.nodeId = '';
      return ok();
    }
    return fail(`the stand-in does not know: docker ${args.join(' ')}`);
  }

  private nodeCommand(args: string[]): ExecResult {
    const id = args[args.length - 1] as string;
    const node = this.nodes.find((n) => n.id === id);
    if (!node) return fail(`Error: No such node: ${id}`);
    if (args[0] === 'promote') node.role = 'manager';
    if (args[0] === 'demote') {
      node.role = 'worker';
      if (node.leader) {
        node.leader = false;
        const next = this.nodes.find((n) => n.role === 'manager' && n.state === 'ready');
        if (next) next.leader = true;
      }
    }
    if (args[0] === 'rm') this.nodes = this.nodes.filter((n) => n !== node);
    if (args[0] === 'update')
      for (let i = 1; i + 1 < args.length; i += 2) {
        const [key, value] = (args[i + 1] as string).split(/=(.*)/s) as [string, string | undefined];
        if (args[i] === '--label-add') node.labels[key] = value ?? '';
        else delete node.labels[key];
      }
    return ok();
  }
}

function nodeJson(n: SimNode): string {
  return JSON.stringify({
    ID: n.id,
    Spec: { Role: n.role, Availability: 'active', Labels: n.labels },
    Description: { Hostname: n.hostname ?? n.robot },
    Status: { State: n.state, Addr: n.ip },
    ManagerStatus: n.role === 'manager' ? { Leader: n.leader, Reachability: 'reachable', Addr: `${n.ip}:2377` } : null,
  });
}

/** A robot of one kernel and engine, on a 1500-byte link to every peer, its clock right. */
function preflightAnswer(command: string, args: string[]): string {
  if (command === 'ingress-mtu') return '\n'; // Docker's default
  if (command === 'path-mtu') return args.map((ip) => `pmtu=${ip} 1500\n`).join('');
  const clock = (Date.now() / 1000).toFixed(3);
  return `clock=${clock}\niface=eth0\nmtu=1500\nvxlan=yes\nip_vs=yes\nkernel=6.1.0\nping_df=yes\n`;
}
