// A run over the fleet: one connection per robot, and each robot's outcome.
import type { Inventory, Robot } from '../inventory/schema.js';
import { loadOperatorIdentity, sshDir, type PassphrasePrompt } from '../ssh/auth.js';
import { KnownHosts } from '../ssh/knownHosts.js';
import { LoginMemory } from '../ssh/loginMemory.js';
import { closeAll, connectAll, type Connections, type Reach } from '../ssh/pool.js';
import { RemoteCommandError, type ExecResult, type RobotConnection } from '../ssh/connection.js';
import { batch, lineOf, splitBatch, type Batch, type RemoteCommand } from '../remote/shell.js';
import { findTalkersCommand, parseTalkers, talkativeShellNote } from '../remote/loginShell.js';
import { dirname } from 'node:path';
import { log, logFile } from '../log.js';
import { hostname, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  LOCK_DIR,
  LOCK_REFRESH_SECONDS,
  STALE_LOCK_SECONDS,
  heldText,
  lockAnswerSoFar,
  lockCommand,
  ownerIsDeadLocalRun,
  parseLock,
  parseRefresh,
  refreshCommand,
  unlockCommand,
} from '../remote/lock.js';
import type { RobotOutcome } from './outcome.js';
import { startPhase, type ProgressListener } from '../progress.js';
import { interruption, runStarted } from '../interrupt.js';

/** What the lock's `then` answered, by command line: each part of a batch on its own. */
function openedReads(then: string | RemoteCommand, result: ExecResult): Map<string, ExecResult> {
  if (typeof then === 'string' || !('parts' in then)) return new Map([[lineOf(then), result]]);
  const { parts } = then as Batch;
  const answers = splitBatch(result, parts);
  return new Map(parts.map((p, i) => [p.line, answers[i] as ExecResult]));
}

function processAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Ctrl-C's release of the run lock (and check's undo) gets this long: the run must end within 2 s. */
const RELEASE_MS = 1300;

const runIdSafe = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_');

const NOT_LINUX_LIKE = 'not a Linux robot (provision needs Linux with /bin/sh, coreutils, OpenSSH and Docker); nothing was run on it';

export interface RunOptions {
  dryRun: boolean;
  password?: string;
  /** --ask-become-pass: sent on stdin to the commands that need sudo on sudo: true robots. */
  sudoPassword?: string;
  askPassphrase?: PassphrasePrompt;
  /** --connect-timeout: wins over ~/.ssh/config's ConnectTimeout. */
  connectTimeoutMs?: number;
  maxHandshakes: number;
  /** --limit: the only robots this run may change (the others are still read where the plan needs them). */
  limit?: ReadonlySet<string>;
  /** --prune: remove drift, else only report it. */
  prune?: boolean;
  /** --verbose. */
  progress?: (robot: string, message: string) => void;
  events?: ProgressListener;
}

/** The key files the operator may log in with: the robots' and their jump hosts'. */
export const operatorIdentityFiles = (inventory: Inventory) =>
  inventory.robots.flatMap((r) => [...(r.ssh?.identityFiles ?? []), ...(r.ssh?.jumps ?? []).flatMap((j) => j.identityFiles)]);

export class Fleet {
  readonly outcomes = new Map<string, RobotOutcome>();
  private readonly me = { user: runIdSafe(userInfo().username), host: runIdSafe(hostname()) };
  readonly runId = `${this.me.user}@${this.me.host}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly reach: Map<string, Reach>;
  private detachInterrupt = () => {};
  /** Set by Ctrl-C: the run lock released (a second at most), then the connections closed. */
  private stopping: Promise<void> | null = null;
  /** The run lock being taken, if it is: Ctrl-C lets it finish first, or a lock taken after the release would stay. */
  private locking: Promise<void> | null = null;
  private closed = false;
  private released = false;
  /** Undo on Ctrl-C (check's services): raced with the unlock, RELEASE_MS at most. */
  private readonly interruptHooks = new Set<() => Promise<unknown>>();
  /** Robots whose lock rode out on the step's last call (see releaseWith): unlock() skips them. */
  private readonly releasedOn = new Set<string>();
  /** Work riding on a robot's releaseWith call (see rideOnRelease). */
  private readonly rides = new Map<
    string,
    { conn: RobotConnection; parts: readonly RemoteCommand[]; resolve: (a: ExecResult[]) => void; reject: (e: Error) => void }
  >();
  /** Outputs of the step's first commands (by line), run together with the lock (see lock and firstRead). */
  private readonly opened = new Map<string, Map<string, ExecResult>>();
  /** When that call was sent and answered (Date.now()), by robot: see firstReadTimed. */
  private readonly openedAt = new Map<string, { t0: number; t1: number }>();
  private constructor(
    readonly inventory: Inventory,
    readonly options: RunOptions,
    private connections: Pick<Connections, 'reach'> & Partial<Connections>,
    readonly notes: string[],
  ) {
    this.reach = connections.reach;
    for (const { name } of inventory.robots) {
      const r = this.reach.get(name);
      const outcome: RobotOutcome = { robot: name, status: 'ok', details: [], notes: [] };
      if (r && !r.ok) {
        outcome.status = r.status;
        outcome.details.push(r.reason);
      } else if (r?.newHostKey) {
        const { fingerprint, recorded } = r.newHostKey;
        outcome.details.push(
          `first contact: host key ${fingerprint} ${'file' in recorded ? `recorded in ${recorded.file}` : `accepted, not recorded (${recorded.not})`}`,
        );
      }
      this.outcomes.set(name, outcome);
      for (const d of outcome.details) options.progress?.(name, `${outcome.status}: ${d}`);
      if (r && !r.ok) options.events?.({ kind: 'robot-failed', robot: name, reason: `${r.status}: ${r.reason}` });
      if (r?.ok) options.progress?.(name, 'connected');
    }
  }

  static async open(inventory: Inventory, options: RunOptions) {
    runStarted(); // Ctrl-C from here on: connecting stops, and the report says so
    const identity = await loadOperatorIdentity(options.password, operatorIdentityFiles(inventory), options.askPassphrase);
    const knownHosts = new KnownHosts(dirname(sshDir()));
    const phase = startPhase(options.events, 'connecting', inventory.robots.length);
    const connections = await connectAll(inventory.robots, {
      identity,
      knownHosts,
      logins: new LoginMemory(),
      connectTimeoutMs: options.connectTimeoutMs,
      maxHandshakes: options.maxHandshakes,
      onEach: () => phase.advance(),
    }).finally(() => phase.finish());
    const fleet = new Fleet(inventory, options, connections, identity.notes);
    for (const { robot, conn } of fleet.connected()) if (robot.sudo) conn.sudoPassword = options.sudoPassword;
    const onInterrupt = () => fleet.interrupted();
    if (interruption.aborted) onInterrupt();
    else interruption.addEventListener('abort', onInterrupt, { once: true });
    fleet.detachInterrupt = () => interruption.removeEventListener('abort', onInterrupt); // `roles` opens a second fleet
    return fleet;
  }

  /**
   * Ctrl-C: every robot not done (nor failed) is interrupted; the lock is released and check's undo run,
   * RELEASE_MS at most, then the connections close. Meanwhile the step unwinds (its commands abandoned,
   * its waits ended) to its report. Files on robots are only replaced by a rename: each is old or new, never half.
   */
  private interrupted() {
    console.error('provision: interrupted; releasing the run lock and closing connections. Run the command again to finish.');
    for (const o of this.outcomes.values()) {
      if (o.status === 'failed' || o.status === 'unreachable' || o.status === 'interrupted') continue;
      o.status = 'interrupted';
      o.details.push('not finished: the run was interrupted (Ctrl-C)');
    }
    this.notes.push('the run was interrupted (Ctrl-C): run the command again to finish');
    this.stopRefresh();
    const release = async () => {
      await this.locking;
      const undo = [...this.interruptHooks].map((hook) => hook().catch(() => undefined));
      await Promise.all([this.locking ? this.releaseLock() : undefined, ...undo]);
    };
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_MS)));
    this.stopping = Promise.race([release(), bound]).finally(() => {
      clearTimeout(timer);
      this.released = true;
      this.close();
    });
  }

  /** `hook` runs if the operator presses Ctrl-C before the returned function removes it. */
  onInterrupt(hook: () => Promise<unknown>): () => void {
    this.interruptHooks.add(hook);
    return () => this.interruptHooks.delete(hook);
  }

  static overStandIns(inventory: Inventory, options: RunOptions, reach: Map<string, Reach>) {
    return new Fleet(inventory, options, { reach }, []);
  }

  /** This run without `names` (robots being removed): steps over the view neither see nor merge them; all else is shared. */
  without(names: readonly string[]) {
    const view = Object.create(this) as Fleet;
    const robots = this.inventory.robots.filter((r) => !names.includes(r.name));
    // They leave for good: their block lines are revoked, not kept as drift (see runKeys).
    const retired = [...this.inventory.retired, ...names.filter((n) => !this.inventory.retired.includes(n))];
    Object.defineProperty(view, 'inventory', { value: { ...this.inventory, robots, retired } });
    return view;
  }

  /** Robots connected and not yet failed. */
  connected() {
    return this.inventory.robots.flatMap((robot) => {
      const r = this.reach.get(robot.name);
      const outcome = this.outcomes.get(robot.name);
      return r?.ok && outcome?.status !== 'failed' ? [{ robot, conn: r.conn }] : [];
    });
  }

  inLimit(robot: string) {
    return !this.options.limit || this.options.limit.has(robot);
  }

  changed(robot: string, detail: string) {
    const o = this.outcomes.get(robot);
    if (!o) return;
    if (o.status === 'ok') o.status = 'changed';
    o.details.push(detail);
    this.options.progress?.(robot, detail);
  }

  joined(robot: string, detail: string) {
    const o = this.outcomes.get(robot);
    if (!o || o.status === 'failed') return;
    if (o.status !== 'interrupted') o.status = 'joined';
    o.details.push(detail);
    this.options.progress?.(robot, detail);
  }

  note(robot: string, detail: string) {
    const o = this.outcomes.get(robot);
    o?.details.push(detail);
    o?.notes.push(detail);
    this.options.progress?.(robot, detail);
  }

  failed(robot: string, reason: string) {
    const o = this.outcomes.get(robot);
    if (!o) return;
    // After Ctrl-C a failure is most likely the interruption itself: the robot stays interrupted.
    if (interruption.aborted) return log(robot, `after Ctrl-C: ${reason}`);
    o.status = 'failed';
    o.details.push(reason);
    this.options.progress?.(robot, `failed: ${reason}`);
    this.options.events?.({ kind: 'robot-failed', robot, reason });
  }

  phase(title: string, total: number) {
    return startPhase(this.options.events, title, total);
  }

  /** `work` on every connected robot at once; an error fails that robot only. A title makes it a phase. */
  async eachConnected(work: (robot: Robot, conn: RobotConnection) => Promise<void>, title?: string) {
    const robots = this.connected();
    const phase = title ? this.phase(title, robots.length) : undefined;
    await Promise.all(
      robots.map(async ({ robot, conn }) => {
        try {
          await work(robot, conn);
        } catch (err) {
          this.failed(robot.name, (err as Error).message);
        }
        phase?.advance();
      }),
    );
    phase?.finish();
  }

  /** An unexpected error ended the step: every robot not yet failed says so (details in the log); never a crash. */
  stoppedBy(step: string, err: unknown) {
    if (interruption.aborted) return log('provision', `${step} stopped by Ctrl-C`);
    const message = err instanceof Error ? err.message : String(err);
    log('provision', `unexpected error in ${step}: ${err instanceof Error ? (err.stack ?? message) : message}`);
    for (const o of this.outcomes.values()) {
      if (o.status === 'failed' || o.status === 'unreachable') continue;
      this.failed(o.robot, `${step} stopped on an unexpected error: ${message} (details in ${logFile}; --debug prints them)`);
    }
  }

  exitCode() {
    if (interruption.aborted) return 130;
    return [...this.outcomes.values()].some((o) => o.status === 'unreachable' || o.status === 'failed') ? 1 : 0;
  }

  /**
   * Take the run lock on every connected robot; if another run holds any, release ours and fail every
   * robot (two runs must never act at once). `opening`, the step's first command, runs in the same
   * remote call right after the lock (one round trip less); the step reads it with `firstRead`.
   * The gate (the first connected robot) goes first, alone: of two runs started together on one fleet,
   * the one that loses it has taken nothing, so the winner meets no lock of it and exactly one run
   * proceeds. The others start once the gate's answer says its lock is ours, while its opening still
   * runs (a manager's opening may take seconds at 100 robots: not a wait for the whole fleet).
   */
  async lock(opening?: (robot: Robot) => string | RemoteCommand) {
    if (interruption.aborted) return false;
    const conflicts: string[] = [];
    const locked = new Map<string, RobotConnection>();
    const robots = this.connected();
    const phase = this.phase('taking the run lock', robots.length);
    const lockOne = async ({ robot, conn }: { robot: Robot; conn: RobotConnection }, onOurs?: () => void) => {
      try {
        const got = await this.lockOn(robot, conn, opening?.(robot), onOurs);
        if (got === 'locked') locked.set(robot.name, conn);
        else if (got !== 'failed') conflicts.push(got);
        return got;
      } catch (err) {
        this.failed(robot.name, (err as Error).message);
        return 'failed';
      } finally {
        phase.advance();
      }
    };
    this.locking = (async () => {
      let rest = robots;
      let gate: Promise<unknown> | undefined;
      for (const next of robots) {
        rest = rest.slice(1);
        let ours = () => {};
        const taken = new Promise<'ours'>((resolve) => (ours = () => resolve('ours')));
        gate = lockOne(next, ours);
        if ((await Promise.race([gate, taken])) !== 'failed') break; // a gate that failed otherwise: the next robot is the gate
      }
      if (!conflicts.length) await Promise.all([gate, ...rest.map((r) => lockOne(r))]);
      else await gate;
      phase.finish();
    })();
    await this.locking;
    if (interruption.aborted) return false; // Ctrl-C's release frees what was taken
    if (!conflicts.length) {
      this.keepLocks(locked);
      return true;
    }
    this.opened.clear();
    await Promise.all(
      [...locked.values()].map((conn) => conn.exec(unlockCommand(this.runId), { uninterruptible: true }).catch(() => undefined)),
    );
    for (const { robot } of this.connected()) {
      this.failed(
        robot.name,
        `another provision run is working on the fleet: ${conflicts.join(', ')}. Wait for it to finish; a crashed run's lock (~/${LOCK_DIR}) expires ${STALE_LOCK_SECONDS / 60} min after its last refresh`,
      );
    }
    return false;
  }

  /** The lock on one robot: 'locked', 'failed' (said on the robot), or the text naming who holds it. */
  private async lockOn(robot: Robot, conn: RobotConnection, then?: string | RemoteCommand, onOurs?: () => void) {
    // Told as soon as the answer's lock line says so, before `then` has answered.
    const onStdout =
      onOurs &&
      ((soFar: string) => {
        const answer = lockAnswerSoFar(soFar);
        if (answer === 'ours') onOurs();
        return answer !== null;
      });
    const attempt = async (deadOwner?: string) => {
      const t0 = Date.now();
      const result = await conn.exec(lockCommand(this.runId, deadOwner, then), { uninterruptible: true, onStdout });
      if (result.code !== 0 && !result.stdout.includes('provision-lock '))
        throw new RemoteCommandError(robot.name, 'taking the run lock', result);
      return { lock: parseLock(result.stdout), result, at: { t0, t1: Date.now() } };
    };
    let { lock, result, at } = await attempt();
    const dead = lock.held && 'owner' in lock && ownerIsDeadLocalRun(lock.owner, this.me, processAlive);
    if (lock.held && 'owner' in lock && dead) ({ lock, result, at } = await attempt(lock.owner));
    if (lock.held) return heldText(robot.name, lock);
    if ('notLinux' in lock) {
      this.failed(robot.name, `${NOT_LINUX_LIKE}: uname -s says ${lock.notLinux}`);
      return 'failed';
    }
    if (lock.takenOverFrom)
      this.note(
        robot.name,
        `took over the run lock of ${lock.takenOverFrom} (${dead ? 'a run of this machine that has ended' : `not refreshed for ${STALE_LOCK_SECONDS / 60} min`})`,
      );
    if (lock.foreign) this.note(robot.name, `took over ${lock.foreign}`);
    if (then !== undefined) this.opened.set(robot.name, openedReads(then, { ...result, stdout: lock.after }));
    this.openedAt.set(robot.name, at);
    return 'locked';
  }

  /**
   * Refresh the locks every LOCK_REFRESH_SECONDS while the run lives (unref'd: it never keeps the process
   * alive). A lock found taken over fails its robot: another run may be working there.
   */
  private keepLocks(locked: Map<string, RobotConnection>) {
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      await Promise.all(
        [...locked].map(async ([robot, conn]) => {
          if (this.releasedOn.has(robot)) return; // released on its last call: nothing left to keep
          // A lost connection fails the step, not here; an answer not understood is tried again next time.
          const refresh = await conn.exec(refreshCommand(this.runId)).then(
            (answer) => parseRefresh(answer.stdout),
            () => null,
          );
          if (!refresh || refresh.refreshed || !locked.has(robot) || this.releasedOn.has(robot)) return;
          locked.delete(robot);
          this.failed(
            robot,
            `lost the run lock (now held by ${refresh.holder}): another run may be working on this robot; this run does nothing more there`,
          );
        }),
      );
      busy = false;
    };
    this.stopRefresh();
    const timer = setInterval(() => void tick(), this.lockRefreshMs);
    timer.unref();
    this.stopRefresh = () => {
      clearInterval(timer);
      locked.clear(); // an answer still on its way (after the release) is not a loss
    };
  }

  /** How often keepLocks refreshes (a test shortens it). */
  lockRefreshMs = LOCK_REFRESH_SECONDS * 1000;
  private stopRefresh = () => {};

  /** The output of the first command run with the lock if it was this one, else run now. */
  async firstRead(robot: Robot, conn: RobotConnection, command: string | RemoteCommand, what: string) {
    return (await this.firstReadTimed(robot, conn, command, what)).out;
  }

  /** `command`'s answer, got riding on another call (see runUp): firstRead takes it instead of running it. */
  keepAnswer(robot: string, command: string | RemoteCommand, answer: ExecResult) {
    const reads = this.opened.get(robot) ?? new Map<string, ExecResult>();
    this.opened.set(robot, reads.set(lineOf(command), answer));
  }

  /** `command`'s answer if it ran in the robot's opening call (taken: asked once); nothing is sent. */
  takeOpened(robot: string, command: string | RemoteCommand): ExecResult | undefined {
    const early = this.opened.get(robot)?.get(lineOf(command));
    this.opened.get(robot)?.delete(lineOf(command));
    return early;
  }

  /** firstRead, with when its call was sent (t0) and answered (t1): the lock's call if it ran there. */
  async firstReadTimed(robot: Robot, conn: RobotConnection, command: string | RemoteCommand, what: string) {
    const early = this.opened.get(robot.name)?.get(lineOf(command));
    this.opened.get(robot.name)?.delete(lineOf(command));
    const at = this.openedAt.get(robot.name);
    if (early && at) {
      if (early.code !== 0) throw new RemoteCommandError(robot.name, what, early);
      return { out: early.stdout, ...at };
    }
    const t0 = Date.now();
    const out = await conn.run(command, what);
    return { out, t0, t1: Date.now() };
  }

  /** A note on each robot whose login shell prints text, naming the start-up files that do (one more call, only there). */
  async noteLoginShells() {
    if (interruption.aborted) return;
    await Promise.all(
      [...this.reach.entries()].map(async ([robot, r]) => {
        if (!r.ok || r.conn.loginShellOutput === null) return;
        const found = await r.conn.run(findTalkersCommand(), 'finding what the login shell prints').then(parseTalkers, () => null);
        this.note(robot, talkativeShellNote(r.conn.loginShellOutput, found));
      }),
    );
  }

  /**
   * `command` and the release of this run's lock on `robot` in one remote call: the release runs after
   * it, whatever it answered (its answer comes back apart). For the robot's last call of the run only.
   * A release that did not answer is left to unlock(), which releases every robot not released here.
   */
  async releaseWith(robot: string, conn: RobotConnection, command: string | RemoteCommand, options: { timeoutMs?: number } = {}) {
    const ride = this.rides.get(robot);
    this.rides.delete(robot);
    const call = batch([...(ride?.parts ?? []), command, unlockCommand(this.runId)]);
    // A ride's own work may take longer than the command's bound.
    const result = await conn.exec(call, ride ? {} : options).catch((err: Error) => {
      ride?.reject(err);
      throw err;
    });
    const answers = splitBatch(result, call.parts);
    ride?.resolve(answers.slice(0, ride.parts.length));
    const [answer, release] = answers.slice(-2) as [ExecResult, ExecResult];
    if (release.code === 0) this.releasedOn.add(robot);
    return answer;
  }

  /**
   * `parts` sent first in the robot's releaseWith call (another step's last work on it: one remote call
   * less), answered apart; what no releaseWith took goes out alone with flushRides.
   */
  rideOnRelease(robot: string, conn: RobotConnection, parts: readonly RemoteCommand[]): Promise<ExecResult[]> {
    return new Promise((resolve, reject) => this.rides.set(robot, { conn, parts, resolve, reject }));
  }

  /** The rides no releaseWith took, each in a call of its own. */
  async flushRides() {
    const rides = [...this.rides.values()];
    this.rides.clear();
    await Promise.all(
      rides.map(({ conn, parts, resolve, reject }) => {
        const call = batch(parts);
        return conn.exec(call).then((r) => resolve(splitBatch(r, call.parts)), reject);
      }),
    );
  }

  /** Release this run's lock (where releaseWith did not); after Ctrl-C, wait for the release it started (see interrupted). */
  async unlock() {
    this.stopRefresh();
    await (this.stopping ?? this.releaseLock());
  }

  private async releaseLock() {
    await Promise.all(
      [...this.reach].map(([robot, r]) =>
        r.ok && !this.releasedOn.has(robot)
          ? r.conn.exec(unlockCommand(this.runId), { uninterruptible: true }).catch(() => undefined)
          : undefined,
      ),
    );
  }

  /** Not while Ctrl-C's release still needs the connections: it closes them itself. */
  close() {
    if (this.closed || (this.stopping && !this.released)) return;
    this.closed = true;
    this.stopRefresh();
    this.detachInterrupt();
    if (this.connections.dialer) closeAll(this.connections as Connections);
    else for (const r of this.reach.values()) if (r.ok) r.conn.close();
  }
}
