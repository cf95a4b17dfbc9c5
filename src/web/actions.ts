// provision ui --allow-actions: the page's buttons run `status`, `check` or `up` as the CLI itself
// (a child process: the same phases, lock and report), one run at a time; its progress lines and
// its JSON report go to the page, redacted.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { redact } from '../log.js';

export const ACTIONS = ['status', 'check', 'up'] as const;
export type Action = (typeof ACTIONS)[number];

export type RunEvent = { kind: 'line'; line: string } | { kind: 'done'; command: Action; code: number; report: object | null };

export class ActionRunner {
  private child: ChildProcess | null = null;

  constructor(
    private readonly inventoryFile: string,
    /** Secrets for the child, in its environment (never its argv). */
    private readonly env: Record<string, string>,
    private readonly emit: (event: RunEvent) => void,
  ) {}

  get busy(): boolean {
    return this.child !== null;
  }

  /** false: a run is already going. */
  start(command: Action): boolean {
    if (this.child) return false;
    const cli = process.argv[1] ?? '';
    const child = spawn(process.execPath, [cli, command, '-i', this.inventoryFile, '--json', '--verbose'], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C on the terminal reaches it once, through stop(). A second SIGINT
      // (the terminal's, then stop()'s) would kill it before it released its locks.
      detached: process.platform !== 'win32',
    });
    this.child = child;
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    createInterface({ input: child.stderr! }).on('line', (line) => this.emit({ kind: 'line', line: redact(line) }));
    const finish = (code: number) => {
      if (this.child !== child) return;
      this.child = null;
      let report: object | null = null;
      try {
        report = JSON.parse(redact(out)) as object;
      } catch {
        report = null;
      }
      this.emit({ kind: 'done', command, code, report });
    };
    child.on('close', (code) => finish(code ?? 1));
    child.on('error', (err) => {
      this.emit({ kind: 'line', line: redact(`could not start provision ${command}: ${err.message}`) });
      finish(1);
    });
    return true;
  }

  /** Ctrl-C on the server: the run gets it too (it releases its lock and stops within a second); resolves once it ended. */
  stop(waitMs = 1200): Promise<void> {
    const child = this.child;
    if (!child) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGINT');
    });
  }
}
