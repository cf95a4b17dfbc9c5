// The live view on a terminal: phases as listr2 tasks with counts (`joining workers 37/93`), and each
// robot that fails, with its reason, at once. Renders progress events only; the report follows it.
import { DefaultRenderer, Listr, ListrDefaultRendererLogLevels, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import type { ProgressEvent, ProgressListener } from '../progress.js';
import { printable } from '../log.js';

/** Told it has a terminal: the caller checked. */
class TerminalRenderer extends DefaultRenderer {
  static override nonTTY = true;
}

// listr2 runs the tasks it is given when it starts, phases come later: so the view holds slots, untitled
// (hidden) tasks that a phase takes when it starts.
const SLOTS = 24;
const FAILURES_SHOWN = 10;

interface PhaseState {
  title: string;
  done: number;
  total: number;
  finished: boolean;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Wrapper = ListrTaskWrapper<any, any, any>;

const failuresTitle = (robots: readonly string[]) => `${robots.length} robot${robots.length === 1 ? '' : 's'} failed`;

export class LiveView {
  private readonly phases: PhaseState[] = [];
  private readonly phaseOf = new Map<number, number>(); // event phase id → slot
  private readonly slots: { task?: Wrapper; release?: () => void }[] = Array.from({ length: SLOTS }, () => ({}));
  private readonly failures: { task?: Wrapper; release?: () => void; robots: string[]; lines: string[] } = { robots: [], lines: [] };
  private ended = false;
  private running: Promise<unknown> | null = null;
  private readonly output: ProcessOutput;
  /** A run ended by process.exit (Ctrl-C) never ends the renderer: print what stderr held back, give the cursor back. */
  private readonly onExit = () => this.output.release();

  constructor(
    out: NodeJS.WriteStream,
    private readonly colour: boolean,
  ) {
    this.output = new ProcessOutput(out, out);
  }

  /** On the first event: prompts before it (a key's passphrase) keep the terminal. */
  private start(): void {
    const list = new Listr(
      [
        ...this.slots.map((_, i) => ({ task: (_ctx: unknown, task: Wrapper) => this.hold(i, task) })),
        {
          task: (_ctx: unknown, task: Wrapper) => this.holdFailures(task),
          rendererOptions: { persistentOutput: true, outputBar: FAILURES_SHOWN },
        },
      ],
      {
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false, // provision's own Ctrl-C handling releases the run lock
        renderer: TerminalRenderer,
        rendererOptions: {
          logger: new ListrLogger({ processOutput: this.output, useIcons: true }),
          formatOutput: 'truncate',
          ...(this.colour
            ? {}
            : { color: Object.fromEntries(Object.values(ListrDefaultRendererLogLevels).map((l) => [l, (s?: string) => s ?? ''])) }),
        },
      },
    );
    process.once('exit', this.onExit);
    this.running = list.run().catch(() => undefined);
  }

  readonly listener: ProgressListener = (event: ProgressEvent) => {
    if (!this.running) this.start();
    if (event.kind === 'robot-failed') return this.failed(event.robot, event.reason);
    if (event.kind === 'phase-started') {
      const slot = this.phases.length;
      if (slot >= SLOTS) return; // more phases than slots: the rest is not shown live (the report says all)
      this.phases.push({ title: event.title, done: 0, total: event.total, finished: false });
      this.phaseOf.set(event.phase, slot);
      return this.sync(slot);
    }
    const slot = this.phaseOf.get(event.phase);
    const state = slot === undefined ? undefined : this.phases[slot];
    if (slot === undefined || !state) return;
    if (event.kind === 'phase-advanced') Object.assign(state, { done: event.done, total: event.total });
    else state.finished = true;
    this.sync(slot);
  };

  /** Its last frame stays on the terminal. */
  async end(): Promise<void> {
    this.ended = true;
    if (!this.running) return;
    this.slots.forEach((_, i) => this.sync(i));
    this.syncFailures();
    await this.running;
    process.removeListener('exit', this.onExit);
  }

  private hold(slot: number, task: Wrapper): Promise<void> {
    return new Promise((resolve) => {
      Object.assign(this.slots[slot] as object, { task, release: resolve });
      this.sync(slot);
    });
  }

  private holdFailures(task: Wrapper): Promise<void> {
    return new Promise((resolve, reject) => {
      this.failures.task = task;
      // A red cross when robots failed, no trace when none did.
      this.failures.release = () => (this.failures.robots.length ? reject(new Error(failuresTitle(this.failures.robots))) : resolve());
      for (const line of this.failures.lines) task.output = line;
      this.syncFailures();
    });
  }

  private sync(slot: number): void {
    const { task, release } = this.slots[slot] ?? {};
    const state = this.phases[slot];
    if (!task) return;
    if (state) task.title = `${state.title} ${state.done}/${state.total}`;
    if (release && (state?.finished || this.ended)) release();
  }

  private failed(robot: string, reason: string): void {
    if (!this.failures.robots.includes(robot)) this.failures.robots.push(robot);
    // Its first line only: the report has the rest.
    const line = printable(`${robot}: ${reason.split('\n')[0]}`);
    this.failures.lines.push(line);
    if (this.failures.task) this.failures.task.output = line;
    this.syncFailures();
  }

  private syncFailures(): void {
    const { task, release, robots } = this.failures;
    if (task && robots.length) task.title = failuresTitle(robots);
    if (release && this.ended) release();
  }
}
