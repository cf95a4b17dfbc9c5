// The manager provision works through: when one stops being one, or loses its connection or docker, the next takes over.
import { StopRun } from '../run/phases.js';
import { Interrupted, pause } from '../interrupt.js';
import type { NodeInfo } from '../remote/docker.js';
import { managerStateCommand, parseManagerState } from '../remote/docker.js';
import type { RemoteCommand } from '../remote/shell.js';
import { redact } from '../log.js';
import { RemoteCommandError } from '../ssh/connection.js';
import type { Fleet } from '../run/fleet.js';
import { NO_LEADER, QuorumLostError, listNodes, type Member } from './swarmState.js';

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

const ELECTION_WAIT_MS = 30_000;
/** A node promoted (or joined as manager) in this run answers as a manager within seconds on the lab. */
const BECOME_MANAGER_WAIT_MS = 30_000;
const POLL_MS = 1000;

export class ManagerVia {
  private readonly dropped = new Set<Member>();
  /** The switch under way: others failing on the same manager wait for it rather than start another. */
  private switching: Promise<void> | null = null;

  /** `candidates`: managers to fall back on, best first (asked anew at each switch: the swarm changes). */
  constructor(
    private readonly fleet: Fleet,
    public current: Member,
    private readonly candidates: () => Member[],
  ) {}

  /** A lost manager is replaced and the command sent again. */
  async run(build: (useSudo: boolean) => RemoteCommand, what: string): Promise<string> {
    for (let waited = 0; ;) {
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
      if (NO_LEADER.test(result.stderr) && waited < ELECTION_WAIT_MS) {
        await pause(2000);
        waited += 2000;
        continue;
      }
      throw new RemoteCommandError(m.robot.name, `${what} (on ${m.robot.name})`, result);
    }
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
