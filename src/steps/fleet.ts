// A run over the fleet: the inventory's robots, one connection each, and each robot's outcome.
// Steps record what they did per robot here; the UI renders it.
import type { Inventory, Robot } from '../inventory/schema.js';
import { loadOperatorIdentity, sshDir } from '../ssh/auth.js';
import { KnownHosts } from '../ssh/knownHosts.js';
import { closeAll, connectAll, type Reach } from '../ssh/pool.js';
import type { RobotConnection } from '../ssh/connection.js';
import { join } from 'node:path';

export type Status = 'changed' | 'joined' | 'ok' | 'unreachable' | 'failed';

export interface RobotOutcome {
  robot: string;
  status: Status;
  details: string[]; // what changed (or would change), or why it failed
}

export interface RunOptions {
  dryRun: boolean;
  password?: string;
  connectTimeoutMs: number;
  maxHandshakes: number;
}

export class Fleet {
  readonly outcomes = new Map<string, RobotOutcome>();
  private constructor(readonly inventory: Inventory, readonly options: RunOptions, readonly reach: Map<string, Reach>, readonly notes: string[]) {
    for (const robot of inventory.robots) {
      const r = reach.get(robot.name);
      const outcome: RobotOutcome = { robot: robot.name, status: 'ok', details: [] };
      if (r && !r.ok) {
        outcome.status = r.status;
        outcome.details.push(r.reason);
      } else if (r?.ok && r.newHostKey) {
        outcome.details.push(`first contact: host key ${r.newHostKey} recorded in ~/.ssh/known_hosts`);
      }
      this.outcomes.set(robot.name, outcome);
    }
  }

  static async open(inventory: Inventory, options: RunOptions): Promise<Fleet> {
    const identity = loadOperatorIdentity(options.password);
    const knownHosts = new KnownHosts(join(sshDir(), 'known_hosts'));
    const reach = await connectAll(inventory.robots, {
      identity,
      knownHosts,
      connectTimeoutMs: options.connectTimeoutMs,
      maxHandshakes: options.maxHandshakes,
    });
    const fleet = new Fleet(inventory, options, reach, identity.notes);
    // Ctrl-C: close every connection and stop at once. Files on robots are only ever replaced by a
    // rename, so an interrupted run leaves each file either old or new, never half-written.
    process.once('SIGINT', () => {
      fleet.close();
      console.error('provision: interrupted; connections closed. Run the command again to finish.');
      process.exit(130);
    });
    return fleet;
  }

  /** Robots connected and not yet failed in this run, with their connection. */
  connected(): { robot: Robot; conn: RobotConnection; hostKey: string }[] {
    return this.inventory.robots.flatMap((robot) => {
      const r = this.reach.get(robot.name);
      const outcome = this.outcomes.get(robot.name);
      return r?.ok && outcome?.status !== 'failed' ? [{ robot, conn: r.conn, hostKey: r.hostKey }] : [];
    });
  }

  changed(robot: string, detail: string): void {
    const o = this.outcomes.get(robot);
    if (!o) return;
    if (o.status === 'ok') o.status = 'changed';
    o.details.push(detail);
  }

  joined(robot: string, detail: string): void {
    const o = this.outcomes.get(robot);
    if (!o || o.status === 'failed') return;
    o.status = 'joined';
    o.details.push(detail);
  }

  note(robot: string, detail: string): void {
    this.outcomes.get(robot)?.details.push(detail);
  }

  failed(robot: string, reason: string): void {
    const o = this.outcomes.get(robot);
    if (!o) return;
    o.status = 'failed';
    o.details.push(reason);
  }

  /** Run `work` on every connected robot at once; an error fails that robot only. */
  async eachConnected(work: (robot: Robot, conn: RobotConnection, hostKey: string) => Promise<void>): Promise<void> {
    await Promise.all(
      this.connected().map(async ({ robot, conn, hostKey }) => {
        try {
          await work(robot, conn, hostKey);
        } catch (err) {
          this.failed(robot.name, (err as Error).message);
        }
      }),
    );
  }

  exitCode(): number {
    return [...this.outcomes.values()].some((o) => o.status === 'unreachable' || o.status === 'failed') ? 1 : 0;
  }

  close(): void {
    closeAll(this.reach);
  }
}
