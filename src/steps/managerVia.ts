// The manager provision works through: when one stops being one, or loses its connection or docker, the next takes over.
import { StopRun } from '../run/phases.js';
import { Interrupted, pause } from '../interrupt.js';
import type { NodeInfo } from '../remote/docker.js';
import { managerStateCommand, parseManagerState } from '../remote/docker.js';
import type { RemoteCommand } from '../remote/shell.js';
import { redact } from '../log.js';
import { RemoteCommandError } from '../ssh/connection.js';
import type { Fleet } from '../run/fleet.js';
import { QuorumLostError, listNodes, type Member } from './swarmState.js';
import { backoffMs } from '../run/retry.js';

/** No connected manager answers any more. */
export class NoManagerError extends StopRun {}

type ManagerLoss = 'connection' | 'docker' | 'role';

/** Why a manager-side command failed, when it is the manager's fault rather than the request's. */
export function managerLoss(message: string): ManagerLoss | null {
  if (/connection to the robot was lost|remote command timed out|Not connected|No response from server/i.test(message)) return 'connection';
  if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(message)) return 'docker';
  if (/not a swarm manager|not part of a swarm/i.test(message)) return 'role';
  return null;
}

/**
 * A manager-side command that failed because the swarm's lead moved or is being elected, or because
 * the Raft write timed out on a loaded swarm (docker's words: swarmkit's raft errors, moby's "does not
 * have a leader", grpc's codes): sent again, through the manager that leads now (ManagerVia.follow).
 */
export function leaderMoved(message: string): boolean {
  return LEADER_MOVED.test(message);
}
const LEADER_MOVED =
  /lost leader status|does not have a leader|no elected cluster leader|node is stopped|context deadline exceeded|code = (Unavailable|DeadlineExceeded)/i;

/**
 * How long one command follows a moving lead. Each look for the leader waits up to 30 s for an
 * election (listNodes) and stops the run when none comes (QuorumLostError): a swarm with a leader is
 * followed this long, then the command's robot is failed.
 */
export const LEADER_FOLLOW_MS = 300_000;
/** The waits between tries while the lead moves (the stand-in tests shrink them). */
export const followTiming = { baseMs: 1000, maxMs: 8000, withinMs: LEADER_FOLLOW_MS };
/** A node promoted (or joined as manager) in this run answers as a manager within seconds on the lab. */
const BECOME_MANAGER_WAIT_MS = 30_000;
const POLL_MS = 1000;

export class ManagerVia {
  private readonly dropped = new Set<Member>();
  /** The switch under way: others failing on the same manager wait for it rather than start another. */
  private switching: Promise<void> | null = null;
  /** The look for the leader under way (follow). */
  private following: Promise<void> | null = null;

  /** `candidates`: managers to fall back on, best first (asked anew at each switch: the swarm changes). */
  constructor(
    private readonly fleet: Fleet,
    public current: Member,
    private readonly candidates: () => Member[],
  ) {}

  /** A lost manager is replaced and the command sent again; a moved lead is followed (see leaderMoved). */
  async run(build: (useSudo: boolean) => RemoteCommand, what: string): Promise<string> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const m = this.current;
      const result = await m.conn.exec(build(m.robot.sudo)).catch((err: Error) => {
        if (err instanceof Interrupted) throw err;
        return { code: -1, stdout: '', stderr: err.message };
      });
      if (result.code === 0) return result.stdout;
      const loss = managerLoss(result.stderr);
      if (loss) {
        await this.replace(m, loss, result.stderr.trim());
        continue;
      }
      if (leaderMoved(result.stderr) && Date.now() - started < followTiming.withinMs) {
        await pause(backoffMs(followTiming, attempt));
        await this.follow(result.stderr);
        continue;
      }
      throw new RemoteCommandError(m.robot.name, `${what} (on ${m.robot.name})`, result);
    }
  }

  /**
   * After a command sent through `m` outside run (in a batch) failed with `stderr`: what run does before
   * sending it again (a lost manager replaced, a moved lead followed). False: the request's own fault.
   */
  async recover(m: Member, stderr: string): Promise<boolean> {
    const loss = managerLoss(stderr);
    if (loss) await this.replace(m, loss, stderr.trim());
    else if (leaderMoved(stderr)) await this.follow(stderr);
    return Boolean(loss) || leaderMoved(stderr);
  }

  /**
   * Work through the manager that leads now, when it is one this run is connected to (any manager
   * forwards to the leader, but one that just lost the lead answers late). No leader within listNodes'
   * wait: QuorumLostError, the run stops. One look at a time: many labels fail at the same moment.
   */
  private follow(message: string): Promise<void> {
    this.following ??= (async () => {
      const nodes = await this.nodes();
      const lead = nodes.find((n) => n.leader);
      const next = this.candidates().find((c) => lead && c.facts.swarm?.NodeID === lead.id);
      if (!next || next === this.current || this.dropped.has(next)) return;
      if (!(await this.answersAsManager(next))) return;
      const why = redact(message.trim().split('\n').slice(-1)[0] ?? '');
      this.current = next;
      this.fleet.note(next.robot.name, `provision works through this manager now: it leads (the lead moved: ${why})`);
    })().finally(() => (this.following = null));
    return this.following;
  }

  async nodes(): Promise<NodeInfo[]> {
    for (;;) {
      const m = this.current;
      try {
        return await listNodes(m);
      } catch (err) {
        if (err instanceof QuorumLostError) throw err;
        const loss = managerLoss((err as Error).message);
        if (!loss) throw err;
        await this.replace(m, loss, (err as Error).message);
      }
    }
  }

  isDropped(m: Member): boolean {
    return this.dropped.has(m);
  }

  /** Stop working through `m` (a leader about to be demoted). */
  async avoid(m: Member, why: string): Promise<void> {
    this.dropped.add(m);
    if (this.current === m) await this.switchFrom(m, why);
  }

  private async replace(m: Member, loss: ManagerLoss, message: string): Promise<void> {
    if (this.switching) return this.switching;
    if (this.current !== m) return; // another caller switched already
    this.dropped.add(m);
    const detail = redact(message.trim().split('\n').slice(-1)[0] ?? '');
    if (loss === 'role') this.fleet.note(m.robot.name, `no longer answers as a manager (${detail})`);
    else
      this.fleet.failed(
        m.robot.name,
        `${loss === 'docker' ? 'its docker stopped' : 'the connection was lost'} while provision worked through it as the manager: ${detail}`,
      );
    this.switching = this.switchFrom(m, `${m.robot.name} stopped answering`).finally(() => (this.switching = null));
    return this.switching;
  }

  /** The first candidate that answers as a manager (a just-promoted one gets a few seconds). */
  private async switchFrom(old: Member, why: string): Promise<void> {
    for (const next of this.candidates()) {
      if (next === old || this.dropped.has(next) || this.fleet.outcomes.get(next.robot.name)?.status === 'failed') continue;
      if (await this.answersAsManager(next)) {
        this.current = next;
        this.fleet.note(next.robot.name, `provision works through this manager now (${why})`);
        return;
      }
      this.dropped.add(next);
    }
    throw new NoManagerError(`no manager this run is connected to answers any more (${why})`);
  }

  private async answersAsManager(m: Member): Promise<boolean> {
    for (let waited = 0; waited <= BECOME_MANAGER_WAIT_MS; waited += POLL_MS) {
      const result = await m.conn.exec(managerStateCommand(m.robot.sudo)).catch(() => null);
      if (!result || result.code !== 0) return false; // connection or docker gone: no use waiting
      if (parseManagerState(result.stdout)) return true;
      await pause(POLL_MS); // in the swarm, not yet answering as a manager: just promoted
    }
    return false;
  }
}
