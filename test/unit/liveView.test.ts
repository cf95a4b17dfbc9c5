// The terminal side of a run: notes shared by robots folded into one line, colour only where a
// terminal is, and the live view (listr2) drawing phases with counts and failures as they come.
import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { Fleet } from '../../src/run/fleet.js';
import type { Inventory } from '../../src/inventory/schema.js';
import { nameList, sharedNotes, unfolded } from '../../src/ui/fold.js';
import { renderOutcomes, type RunSummary } from '../../src/ui/report.js';
import { colourWanted, painter, progressMode } from '../../src/ui/terminal.js';
import { LiveView } from '../../src/ui/liveView.js';
import { startPhase } from '../../src/progress.js';

const ESC = '\x1b';

function fleetOf(names: string[]): Fleet {
  const inventory = {
    robots: names.map((name, i) => ({
      name,
      ip: `10.0.0.${i + 1}`,
      user: 'u',
      port: 22,
      sudo: false,
      role: 'auto',
      canBecomeManager: true,
      canBecomeLeader: true,
      labels: {},
    })),
    swarm: { managers: 'auto', init: {} },
  } as unknown as Inventory;
  return Fleet.overStandIns(inventory, { dryRun: false, maxHandshakes: 32 }, new Map());
}

/** The fleet's run as the report takes it (as cli.ts hands it over). */
const summary = (fleet: Fleet): RunSummary => ({
  outcomes: [...fleet.outcomes.values()].map((o, i) => ({ ...o, ip: fleet.inventory.robots[i]?.ip ?? '' })),
  dryRun: fleet.options.dryRun,
  notes: fleet.notes,
  exitCode: fleet.exitCode(),
});

const CLONE = 'reports the same Docker engine ID as Anton (cloned /etc/docker/key.json?)';

describe('notes that collapse', () => {
  it('names robots as people do', () => {
    expect(nameList(['Ida'])).toBe('Ida');
    expect(nameList(['Ida', 'Otto'])).toBe('Ida and Otto');
    expect(nameList(['Ida', 'Otto', 'Emil'])).toBe('Ida, Otto and Emil');
    expect(nameList(['Ida', 'Otto', ...Array.from({ length: 97 }, (_, i) => `R${i}`)])).toBe('Ida, Otto and 97 more');
  });

  it('folds a note two or more robots share, in order of first appearance, and keeps the others', () => {
    const shared = sharedNotes([
      { robot: 'Anton', notes: ['only mine'] },
      { robot: 'Ida', notes: [CLONE, 'same'] },
      { robot: 'Otto', notes: ['same', CLONE, CLONE] },
    ]);
    expect(shared).toEqual([
      { robots: ['Ida', 'Otto'], note: CLONE },
      { robots: ['Ida', 'Otto'], note: 'same' },
    ]);
  });

  it('drops only the notes, never a change with the same words', () => {
    expect(unfolded(['changed x', 'n', 'changed n', 'n'], ['n'], new Set(['n']))).toEqual(['changed x', 'changed n', 'n']);
    expect(unfolded(['a', 'n'], ['n'], new Set())).toEqual(['a', 'n']);
  });

  it('99 robots with one note: one line under the table naming them, not 99', () => {
    const names = ['Anton', 'Ida', 'Otto', ...Array.from({ length: 97 }, (_, i) => `Robot${i}`)];
    const fleet = fleetOf(names);
    for (const n of names.slice(1)) {
      fleet.changed(n, 'joined as worker');
      fleet.note(n, CLONE);
    }
    fleet.note('Ida', 'its login shell prints a greeting');
    fleet.failed('Otto', 'docker is not running');
    const text = renderOutcomes('provision swarm', summary(fleet));
    expect(text.split('\n').filter((l) => l.includes(CLONE))).toEqual([`  Ida, Otto and 97 more: ${CLONE}`]);
    expect(text).toMatch(/Ida +changed +joined as worker\n +its login shell prints a greeting\n/);
    expect(text).toMatch(/Otto +failed +joined as worker\n +docker is not running\n/); // a failure stays on its robot
    expect(text).not.toContain(ESC);
    // the JSON keeps every robot's own details
    expect(fleet.outcomes.get('Robot5')?.details).toEqual(['joined as worker', CLONE]);
  });

  it('a note of one robot stays on its line', () => {
    const fleet = fleetOf(['Anton', 'Ida']);
    fleet.note('Ida', CLONE);
    const text = renderOutcomes('provision swarm', summary(fleet));
    expect(text).toMatch(new RegExp(`Ida +ok +${CLONE.replace(/[().?/]/g, '\\$&')}`));
    expect(text).not.toContain(`Ida: ${CLONE}`);
  });
});

describe('colour', () => {
  it('only on a terminal, never with NO_COLOR, --no-color or TERM=dumb', () => {
    expect(colourWanted(true, {})).toBe(true);
    expect(colourWanted(false, {})).toBe(false);
    expect(colourWanted(undefined, {})).toBe(false);
    expect(colourWanted(true, { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted(true, { NO_COLOR: '' })).toBe(true); // no-color.org: set and not empty
    expect(colourWanted(true, {}, false)).toBe(false);
    expect(colourWanted(true, { TERM: 'dumb' })).toBe(false);
  });

  it('no escape code in the report without a terminal; failed red, changed yellow, joined green, ok dim on one', () => {
    const fleet = fleetOf(['Anton', 'Ida', 'Otto', 'Emil']);
    fleet.changed('Anton', 'updated ~/.ssh/config (+3)');
    fleet.joined('Ida', 'joined as worker');
    fleet.failed('Otto', 'docker is not running');
    const plain = renderOutcomes('provision swarm', summary(fleet), undefined, false, painter(colourWanted(false, {})));
    expect(plain).not.toContain(ESC);
    const coloured = renderOutcomes('provision swarm', summary(fleet), undefined, false, painter(colourWanted(true, {})));
    expect(coloured).toContain(`${ESC}[31mfailed`);
    expect(coloured).toContain(`${ESC}[33mchanged`);
    expect(coloured).toContain(`${ESC}[32mjoined`);
    expect(coloured).toContain(`${ESC}[2mok`);
    expect(coloured.replace(new RegExp(`${ESC}\\[\\d+m`, 'g'), '')).toBe(plain); // the same words, only coloured
  });
});

describe('progress mode', () => {
  it('live view on a terminal; lines with --verbose; nothing with --quiet, --json or without a terminal', () => {
    expect(progressMode({ stderrTTY: true })).toBe('live');
    expect(progressMode({ stderrTTY: true, verbose: true })).toBe('lines');
    expect(progressMode({ stderrTTY: false, verbose: true })).toBe('lines');
    expect(progressMode({ stderrTTY: false })).toBe('none');
    expect(progressMode({ stderrTTY: undefined })).toBe('none');
    expect(progressMode({ stderrTTY: true, quiet: true })).toBe('none');
    expect(progressMode({ stderrTTY: true, json: true })).toBe('none');
    expect(progressMode({ stderrTTY: true, live: false })).toBe('lines'); // the roles wizard prompts
  });
});

/** A stream that says it is a terminal, keeping what is written. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  Object.assign(stream, { isTTY: true, columns: 120, rows: 40 });
  return { stream, text: () => text };
}

describe('live view', () => {
  it('draws phases with counts and a failed robot with its reason (no colour when told)', async () => {
    const term = fakeTerminal();
    const view = new LiveView(term.stream, false);
    const connecting = startPhase(view.listener, 'connecting', 3);
    for (let i = 0; i < 3; i++) connecting.advance();
    connecting.finish();
    const joining = startPhase(view.listener, 'joining workers', 93);
    for (let i = 0; i < 37; i++) joining.advance();
    view.listener({
      kind: 'robot-failed',
      robot: 'Otto',
      reason: 'joining as worker failed (exit 1): SWMTKN-1-abcdef0123456789-xyz rejected\nmore',
    });
    await new Promise((r) => setTimeout(r, 150)); // a frame or two while running
    expect(term.text()).toContain('joining workers 37/93');
    joining.finish();
    await view.end();
    const out = term.text();
    expect(out).toContain('connecting 3/3');
    expect(out).toContain('1 robot failed');
    expect(out).toContain('Otto: joining as worker failed (exit 1): SWMTKN-1-<redacted> rejected');
    expect(out).not.toContain('more');
    expect(out).not.toMatch(new RegExp(`${ESC}\\[(3\\d|9\\d|2|22)m`)); // cursor movement only, no colour
  });

  it('without any event it draws nothing', async () => {
    const term = fakeTerminal();
    const view = new LiveView(term.stream, true);
    await view.end();
    expect(term.text()).toBe('');
  });
});
