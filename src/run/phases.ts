// The runner (after k0sctl's phase manager): a step is an ordered list of phases over one state. A phase
// names its robots, its work and its dry run; the runner does progress, per-robot errors and a clean stop.
import type { Fleet } from './fleet.js';
import type { Phase as Progress } from '../progress.js';
import { throwIfInterrupted } from '../interrupt.js';

/** An error after which no later phase can do anything useful (no manager left, quorum lost). */
export class StopRun extends Error {}

export interface Phase<S> {
  title: string;
  /** Its robots. None: skipped. Omitted: a phase of the fleet as a whole. */
  robots?: (state: S) => readonly string[];
  /** The work on one robot, all at once (see eachRobot). */
  each?: (state: S, robot: string) => Promise<void>;
  /** The work on the fleet (or on `robots` in its own order). 'stop' ends the step. */
  run?: (state: S, progress: Progress) => Promise<void | 'stop'>;
  /** In a dry run, instead: say what it would do. Omitted: it runs (it only reads or compares there). */
  dryRun?: ((state: S) => void | 'stop') | 'skip';
  dryTitle?: string;
}

const IDLE: Progress = { advance: () => {}, grow: () => {}, finish: () => {} };

/** Run `phases` in order; the error that stopped the step, if any (robots' own errors are on their outcomes). */
export async function runPhases<S>(fleet: Fleet, state: S, phases: readonly Phase<S>[]) {
  const dry = fleet.options.dryRun;
  for (const phase of phases) {
    throwIfInterrupted(); // Ctrl-C: no phase starts after it (see Fleet.interrupted)
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

/** `work` on every robot at once; an error fails its robot; a StopRun goes up once all settle (none runs on after close). */
export async function eachRobot(fleet: Fleet, robots: readonly string[], work: (robot: string) => Promise<void>, progress = IDLE) {
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
