// provision ui's live reading: one SSH connection per robot (the CLI's pool: same limits, same host-key
// pinning), one remote command per robot per refresh; a robot that stops answering is dropped and
// reconnected with backoff. Read-only: no run lock, nothing written on the robots.
import type { Inventory, Robot } from '../inventory/schema.js';
import type { OperatorIdentity } from '../ssh/auth.js';
import type { KnownHosts } from '../ssh/knownHosts.js';
import { closeAll, connectAll, type Connections } from '../ssh/pool.js';
import type { RobotConnection } from '../ssh/connection.js';
import { parseWatchRead, watchReadCommand, type NodeInfo } from '../remote/docker.js';
import type { FleetReading, RobotReading } from '../ui/fleetView.js';

export interface WatchOptions {
  identity: OperatorIdentity;
  knownHosts: KnownHosts;
  connectTimeoutMs?: number | undefined;
  maxHandshakes: number;
  intervalMs: number;
  sudoPassword?: string | undefined;
}

const MAX_BACKOFF_MS = 15_000;

interface Live {
  robot: Robot;
  reading: RobotReading;
  connections: Connections | null;
  conn: RobotConnection | null;
  failures: number;
  nextTry: number;
}

export class FleetWatch {
  private live: Live[];
  private nodes: NodeInfo[] | null = null;
  private nodesFrom: string | null = null;
  private unlistedBy: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    inventory: Inventory,
    private readonly options: WatchOptions,
    private readonly changed: () => void,
  ) {
    const now = Date.now();
    this.live = inventory.robots.map((robot) => ({
      robot,
      reading: { state: 'connecting', loginMs: null, reason: null, facts: null, since: now },
      connections: null,
      conn: null,
      failures: 0,
      nextTry: 0,
    }));
  }

  reading(): FleetReading {
    return {
      robots: new Map(this.live.map((l) => [l.robot.name, l.reading])),
      nodes: this.nodes,
      nodesFrom: this.nodesFrom,
      unlistedBy: this.unlistedBy,
    };
  }

  /** The first refresh now, then one every intervalMs (never two at once). */
  start(): Promise<void> {
    const tick = async () => {
      this.running = this.refresh();
      await this.running;
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.options.intervalMs);
    };
    return tick();
  }

  /** Stop refreshing and close every connection. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const l of this.live) this.drop(l);
  }

  private set(l: Live, next: Partial<RobotReading>) {
    const state = next.state ?? l.reading.state;
    l.reading = { ...l.reading, ...next, since: state === l.reading.state ? l.reading.since : Date.now() };
  }

  private drop(l: Live) {
    if (l.connections) closeAll(l.connections);
    l.connections = null;
    l.conn = null;
  }

  private down(l: Live, reason: string) {
    this.drop(l);
    l.failures++;
    // Backoff, but never longer than a few refreshes: a robot that comes back is seen soon.
    l.nextTry = Date.now() + Math.min(MAX_BACKOFF_MS, this.options.intervalMs * 2 ** (l.failures - 1)) - this.options.intervalMs;
    this.set(l, { state: 'down', reason, facts: null });
  }

  private async connect(l: Live): Promise<boolean> {
    const started = Date.now();
    const connections = await connectAll([l.robot], {
      identity: this.options.identity,
      knownHosts: this.options.knownHosts,
      connectTimeoutMs: this.options.connectTimeoutMs,
      maxHandshakes: 1,
    });
    const reach = connections.reach.get(l.robot.name);
    if (this.stopped) {
      closeAll(connections);
      return false;
    }
    if (!reach?.ok) {
      closeAll(connections);
      this.down(l, reach ? reach.reason : 'not connected');
      return false;
    }
    reach.conn.sudoPassword = this.options.sudoPassword;
    l.connections = connections;
    l.conn = reach.conn;
    this.set(l, { loginMs: Date.now() - started });
    return true;
  }

  /** The robot that reads the node list this time: the leader if it answered last time, else any manager. */
  private nodeReader(): Live | undefined {
    const managers = this.live.filter((l) => l.reading.state === 'up' && l.reading.facts?.swarm?.ControlAvailable);
    const leaderId = this.nodes?.find((n) => n.leader)?.id;
    return managers.find((l) => l.reading.facts?.swarm?.NodeID === leaderId) ?? managers[0];
  }

  private async read(l: Live, withNodes: boolean): Promise<NodeInfo[] | null> {
    if (!l.conn && (Date.now() < l.nextTry || !(await this.connect(l)))) return null;
    try {
      const timeoutMs = Math.max(3000, this.options.intervalMs);
      // Our own deadline too: exec's starts once the channel is open, and on a dead link opening it
      // waits for the keepalives (30 s).
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      const result = await Promise.race([
        l.conn!.exec(watchReadCommand(l.robot.sudo, withNodes), { timeoutMs, quiet: true }),
        deadline,
      ]).finally(() => clearTimeout(timer));
      const { facts, nodes } = parseWatchRead(result.stdout, l.robot.sudo);
      l.failures = 0;
      this.set(l, { state: 'up', reason: null, facts });
      return nodes;
    } catch (err) {
      if (!this.stopped) this.down(l, `no answer to the read: ${(err as Error).message}`);
      return null;
    }
  }

  private async refresh(): Promise<void> {
    const reader = this.nodeReader();
    let nodes: NodeInfo[] | null = null;
    const limit = Math.max(1, this.options.maxHandshakes);
    // Reads go out together; logins (the costly part) are bounded like the CLI's --max-handshakes.
    const queue = [...this.live];
    const worker = async () => {
      for (let l = queue.shift(); l; l = queue.shift()) {
        const got = await this.read(l, l === reader);
        if (got) nodes = got;
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
    if (this.stopped) return;
    // A reader that did not answer: its last list stays (another manager reads next time). One that
    // answered without a list (no leader: quorum lost) must not leave the last list shown as now.
    const answered = reader?.reading.state === 'up';
    if (nodes || !reader || answered) {
      this.nodes = nodes;
      this.nodesFrom = nodes ? reader!.robot.name : null;
      this.unlistedBy = !nodes && answered ? reader.robot.name : null;
    }
    this.changed();
  }
}
