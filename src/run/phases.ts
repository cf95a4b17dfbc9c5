// The runner: a step is an ordered list of phases run over one state (k0sctl's phase manager is the
// model). A phase says which robots it concerns (decided from the state), what it does, and what it
// would do in a dry run; the runner does the rest: progress per robot, every robot's error caught
// and reported on that robot, the step stopped cleanly by an error that ends it, never a crash.
import type { Fleet } from './fleet.js';
import type { Phase as Progress } from '../progress.js';

/** An error after which no later phase can do anything useful (no manager left, quorum lost). */
export class StopRun extends Error {}

export interface Phase<S> {
  /** What the live view shows while it runs (`writing ~/swarm_tokens 12/40`). */
  title: string;
  /** The robots it concerns (by name), from the state. None: the phase is skipped. Omitted: a phase of the fleet as a whole. */
  robots?: (state: S) => readonly string[];
  /** The work on one robot; all of them at once. An error fails that robot only (a StopRun ends the step once all settle). */
  each?: (state: S, robot: string) => Promise<void>;
  /** The work on the fleet as a whole (or on `robots` in an order of its own: `progress` counts them). 'stop' ends the step. */
  run?: (state: S, progress: Progress) => Promise<void | 'stop'>;
  /**
   * In a dry run, instead of each/run: say what it would do (nothing that changes a robot is sent).
   * Omitted: the phase runs in a dry run too, and sends nothing that changes a robot there (it reads,
   * or compares). 'skip': nothing to say.
   */
  dryRun?: ((state: S) => void | 'stop') | 'skip';
  /** The title while a dry run runs the phase itself (it reads or compares, and changes nothing). */
  dryTitle?: string;
}

const IDLE: Progress = { advance: () => {}, grow: () => {}, finish: () => {} };

/**
 * Run `phases` in order over `state`. Returns the error that stopped the step, if one did; every
 * robot's own error is already on its outcome.
 */
export async function runPhases<S>(fleet: Fleet, state: S, phases: readonly Phase<S>[]): Promise<StopRun | null> {
  const dry = fleet.options.dryRun;
  for (const phase of phases) {
    if (dry && phase.dryRun) {
      if (phase.dryRun !== 'skip' && phase.dryRun(state) === 'stop') return null;
      continue;
    }
    const robots = phase.robots?.(state);
    if (robots && !robots.length) continue;
    const progress = robots ? fleet.phase((dry && phase.dryTitle) || phase.title, robots.length) : IDLE;
    try {
      if (phase.run && (await phase.run(state, progress)) === 'stop') return null;
      const each = phase.each;
      if (each && robots) await eachRobot(fleet, robots, (robot) => each(state, robot), progress);
    } catch (err) {
      if (err instanceof StopRun) return err;
      throw err;
    } finally {
      progress.finish();
    }
  }
  return null;
}

/**
 * `work` on every robot at once; a robot's error fails it. Every robot's work settles before an
 * error that stops the step goes on up (nothing runs on after the connections close).
 */
export async function eachRobot(
  fleet: Fleet,
  robots: readonly string[],
  work: (robot: string) => Promise<void>,
  progress = IDLE,
): Promise<void> {
  let stop: StopRun | null = null;
  await Promise.all(
    robots.map(async (robot) => {
      try {
        await work(robot);
      } catch (err) {
        if (err instanceof StopRun) stop ??= err;
        else fleet.failed(robot, (err as Error).message);
      }
      progress.advance();
    }),
  );
  if (stop) throw stop;
}
