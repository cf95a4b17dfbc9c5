// The live view in a real terminal: a lab of 20 robots, `provision keys` then `provision swarm` run
// inside a tmux pane. While they run the pane shows phase counts; afterwards it holds the final
// report in colour. The same command piped (no terminal) prints plain lines and no escape code.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BRIDGE,
  LAB_PASSWORD,
  ROOT,
  captured,
  finishLab,
  labDown,
  labUp,
  newOperator,
  provision,
  assertLabRoute,
  type Operator,
} from './harness.js';

// A tmux server of this suite's own, its socket in the operator's temporary home: nothing else's
// sessions are touched and nothing is left behind.
const SESSION = 'liveview';
const ESC = '\x1b';
let inventory: string;
let op: Operator;

const tmux = (...args: string[]) => execFileSync('tmux', ['-S', join(op.home, 'tmux.sock'), ...args], { encoding: 'utf8' });
/** The pane with its scrollback; `-e` keeps colours as escape sequences. */
const capture = (escapes = false) => tmux('capture-pane', '-p', '-J', '-S', '-', ...(escapes ? ['-e'] : []), '-t', SESSION);

beforeAll(() => {
  labDown();
  inventory = labUp(20);
  assertLabRoute('10.88.0.11');
  op = newOperator();
}, 300_000);

afterAll(() => {
  try {
    captured.push(capture(true)); // for the secrets check
  } catch {
    // no pane left to capture
  }
  try {
    tmux('kill-server');
  } catch {
    // the server was not running
  }
  finishLab(op);
}, 120_000);

describe('live view in tmux on a lab of 20 robots', () => {
  const snapshots: string[] = [];

  it('keys then swarm in a terminal: phase counts while running, then the report in colour', async () => {
    const cli = `node ${join(ROOT, 'dist', 'cli.js')}`;
    const script = join(op.home, 'run.sh');
    writeFileSync(
      script,
      [
        `export HOME='${op.home}' PROVISION_LOG_DIR='${op.logDir}' PROVISION_ROUTE_DEV='${BRIDGE}' PROVISION_PASSWORD='${LAB_PASSWORD}' TERM=xterm-256color`,
        'unset NO_COLOR',
        `${cli} keys -i '${inventory}'; echo "keys exit $?"`,
        `${cli} swarm -i '${inventory}'; echo "swarm exit $?"`,
        'sleep 600',
      ].join('\n'),
    );
    tmux('new-session', '-d', '-s', SESSION, '-x', '200', '-y', '50', `sh ${script}`);
    tmux('set-option', '-t', SESSION, 'history-limit', '10000');
    const until = Date.now() + 240_000;
    for (;;) {
      const pane = capture();
      snapshots.push(pane);
      if (/swarm exit \d+/.test(pane)) break;
      if (Date.now() > until) throw new Error(`the runs did not end; pane:\n${pane}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    const final = capture();
    expect(final).toContain('keys exit 0');
    expect(final).toContain('swarm exit 0');

    // While running: a phase part-way, the count under 20 (screens taken before each run's end).
    const duringKeys = snapshots.filter((s) => !s.includes('keys exit'));
    const duringSwarm = snapshots.filter((s) => s.includes('keys exit') && !s.includes('swarm exit'));
    const partWay = (s: string) =>
      [
        ...s.matchAll(
          /(connecting|taking the run lock|preparing ~\/\.ssh|writing ~\/\.ssh|checking the SSH mesh|reading docker facts|writing ~\/swarm_tokens|joining managers|joining workers|labelling nodes) (\d+)\/(\d+)/g,
        ),
      ].some((m) => Number(m[2]) < Number(m[3]));
    expect(duringKeys.some(partWay)).toBe(true);
    expect(duringSwarm.some(partWay)).toBe(true);
    expect(duringSwarm.some((s) => /joining (workers|managers) \d+\/\d+/.test(s))).toBe(true);

    // Afterwards: every phase ticked with its full count, and each final report.
    expect(final).toMatch(/✔ connecting 20\/20/);
    expect(final).toMatch(/✔ writing ~\/\.ssh 20\/20/);
    expect(final).toMatch(/✔ checking the SSH mesh 20\/20/);
    expect(final).toMatch(/✔ joining workers \d+\/\d+/);
    expect(final).toMatch(/^provision keys$/m);
    expect(final).toMatch(/^provision swarm$/m);
    expect(final).toMatch(/SSH mesh verified: each of the 20 robots/);
    expect(final).toMatch(/7 managers — tolerates 3 failures/);
    expect(final).toMatch(/^ {2}Theo +joined +worker +~\/swarm_tokens: .*\n +joined as worker$/m);
    expect(final).not.toMatch(/failed/);

    // Colour: the status words (yellow changed, green joined) and listr2's green ticks.
    const coloured = capture(true);
    expect(coloured).toMatch(new RegExp(`${ESC}\\[[0-9;]*33m *changed`));
    expect(coloured).toMatch(new RegExp(`${ESC}\\[[0-9;]*32m *joined`));
    expect(coloured).toMatch(new RegExp(`${ESC}\\[[0-9;]*32m✔`));
  }, 300_000);

  it('the same run piped: plain lines, no escape code, no progress on a pipe', async () => {
    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^provision swarm$/m);
    expect(run.stdout).toMatch(/^ {2}Theo\s+ok\s+worker$/m);
    expect(run.stdout).toContain('nothing to change');
    expect(run.stdout + run.stderr).not.toContain(ESC);
    expect(run.stderr).toBe('');
  }, 120_000);
});
