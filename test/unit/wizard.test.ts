import { afterEach, describe, expect, it } from '@jest/globals';
import { checkbox, confirm, select } from '@inquirer/prompts';
import { render } from '@inquirer/testing';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import type { Inventory } from '../../src/inventory/schema.js';
import type { Fleet } from '../../src/run/fleet.js';
import { parseFacts } from '../../src/remote/docker.js';
import { NO_TERMINAL, chooseRoles, readWizardRows, requireTerminal, rolesCommand } from '../../src/steps/roles.js';
import { readout, renderTable, wizardRows, type WizardPrompts, type WizardRow } from '../../src/ui/wizard.js';

const INVENTORY = `# the fleet
swarm:
  managers: auto     # or an odd number
  leader: Anton      # where swarm init runs

robots:
  - name: Anton              # first robot
    ip: 192.168.50.11
    zone: hall-a
  - name: Ida
    ip: 192.168.50.12        # hall a too
    zone: hall-a
  # Otto manages but never leads
  - name: Otto
    ip: 192.168.50.13
    canBecomeLeader: false
    zone: hall-b
  - name: Emil
    ip: 192.168.50.14
    zone: hall-b
defaults: { user: robot }
`;

function inventoryFile(): Inventory {
  const file = join(mkdtempSync(join(tmpdir(), 'provision-wizard-')), 'robots.yaml');
  writeFileSync(file, INVENTORY);
  return loadInventory(file);
}

const row = (name: string, ip: string, over: Partial<WizardRow> = {}): WizardRow => ({
  name,
  ip,
  reachable: true,
  arch: 'x86_64',
  cpus: 4,
  ramGiB: 7.6,
  swarmRole: 'none',
  leader: false,
  ...over,
});
// Anton leads a one-manager swarm; Emil is down.
const ROWS: WizardRow[] = [
  row('Anton', '192.168.50.11', { zone: 'hall-a', swarmRole: 'manager', leader: true }),
  row('Ida', '192.168.50.12', { zone: 'hall-a' }),
  row('Otto', '192.168.50.13', { zone: 'hall-b', arch: 'aarch64', cpus: 8, ramGiB: 15.5 }),
  row('Emil', '192.168.50.14', {
    zone: 'hall-b',
    reachable: false,
    arch: '',
    cpus: null,
    ramGiB: null,
    swarmRole: 'unknown',
    problem: 'no answer from 192.168.50.14:22 within 5 s',
  }),
];

describe('readout', () => {
  it('states managers and failures tolerated for 1, 2, 3 and 4 managers, warning on an even count', () => {
    expect(readout(['Anton'], ROWS)).toEqual(['1 manager — tolerates 0 failures']);
    expect(readout(['Anton', 'Ida'], ROWS)).toEqual([
      '2 managers — tolerates 0 failures',
      'warning: an even count adds no tolerance — 2 managers tolerate 0 failures, as 1 do; pick an odd number',
    ]);
    expect(readout(['Anton', 'Ida', 'Otto'], ROWS)).toEqual([
      '3 managers — tolerates 1 failure',
      'warning: zone hall-a holds 2 of 3 managers — losing it loses quorum',
    ]);
    expect(readout(['Anton', 'Otto', 'Emil', 'Ida'], ROWS)[0]).toBe('4 managers — tolerates 1 failure');
    expect(readout(['Anton', 'Otto', 'Emil', 'Ida'], ROWS)).toContain(
      'warning: an even count adds no tolerance — 4 managers tolerate 1 failure, as 3 do; pick an odd number',
    );
    expect(readout([], ROWS)).toEqual(['0 managers — tolerates 0 failures', 'warning: pick at least one manager']);
  });

  it('warns when an unreachable robot is picked', () => {
    expect(readout(['Anton', 'Otto', 'Emil'], ROWS)).toEqual([
      '3 managers — tolerates 1 failure',
      'warning: Emil is unreachable — it cannot become a manager now; a later provision swarm promotes it when it is back',
      'warning: zone hall-b holds 2 of 3 managers — losing it loses quorum',
    ]);
  });
});

describe('the table', () => {
  it('has one aligned row per robot, unreachable ones included', () => {
    const lines = renderTable(ROWS).split('\n');
    expect(lines[0]).toMatch(/^ROBOT\s+ADDRESS\s+REACHABLE\s+ARCH\s+CPUS\s+RAM\s+SWARM ROLE\s+ZONE\s+NOTE$/);
    expect(lines[1]).toMatch(/^Anton\s+192\.168\.50\.11\s+yes\s+x86_64\s+4\s+7\.6 GiB\s+manager \(leader\)\s+hall-a$/);
    expect(lines[3]).toMatch(/^Otto .*aarch64\s+8\s+15\.5 GiB\s+none\s+hall-b$/);
    expect(lines[4]).toMatch(/^Emil\s+192\.168\.50\.14\s+no\s+-\s+-\s+-\s+\?\s+hall-b\s+no answer from 192\.168\.50\.14:22 within 5 s$/);
    expect(lines.slice(1).map((l) => l.indexOf('192.168'))).toEqual([7, 7, 7, 7]);
  });
});

// A fleet whose connections answer the facts and node-list commands from fixtures.
function fakeFleet(inventory: Inventory): Fleet {
  const swarm = (id: string, manager: boolean) =>
    JSON.stringify({ NodeID: id, NodeAddr: '', LocalNodeState: 'active', ControlAvailable: manager, Error: '', RemoteManagers: null });
  const facts: Record<string, string> = {
    Anton: `arch=x86_64\ncpus=4\nmemkb=7969164\nhostname=anton\nswarm=${swarm('n-anton', true)}\n`,
    Ida: `arch=x86_64\ncpus=2\nmemkb=3984582\nhostname=ida\nswarm=${swarm('n-ida', false)}\n`,
    Otto: 'arch=aarch64\ncpus=8\nmemkb=16252928\nhostname=otto\ndocker_error=Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n',
  };
  const node = (id: string, role: string, leader: boolean, addr: string) =>
    JSON.stringify({
      ID: id,
      Spec: { Role: role, Availability: 'active' },
      Status: { State: 'ready', Addr: addr },
      ManagerStatus: leader ? { Leader: true } : null,
    });
  const conn = (name: string) => ({
    run: async () => facts[name] ?? '',
    exec: async () => ({
      code: 0,
      stdout: `${node('n-anton', 'manager', true, '192.168.50.11')}\n${node('n-ida', 'worker', false, '192.168.50.12')}\n`,
      stderr: '',
    }),
  });
  const up = inventory.robots.filter((r) => r.name !== 'Emil');
  const connected = () => up.map((robot) => ({ robot, conn: conn(robot.name), hostKey: '' }));
  return {
    inventory,
    options: { dryRun: false, connectTimeoutMs: 5000, maxHandshakes: 32 },
    reach: new Map([['Emil', { ok: false, status: 'unreachable', reason: 'no answer from 192.168.50.14:22 within 5 s' }]]),
    connected,
    eachConnected: async (work: (robot: unknown, conn: unknown) => Promise<void>) => {
      await Promise.all(connected().map(({ robot, conn }) => work(robot, conn)));
    },
    firstRead: (_robot: unknown, conn: { run: () => Promise<string> }) => conn.run(),
  } as unknown as Fleet;
}

describe('readWizardRows', () => {
  it('reads facts from every connected robot and keeps unreachable ones as rows', async () => {
    const rows = await readWizardRows(fakeFleet(inventoryFile()));
    expect(rows.map((r) => [r.name, r.reachable, r.arch, r.cpus, r.ramGiB, r.swarmRole, r.leader])).toEqual([
      ['Anton', true, 'x86_64', 4, 7.6, 'manager', true],
      ['Ida', true, 'x86_64', 2, 3.8, 'worker', false],
      ['Otto', true, 'aarch64', 8, 15.5, 'unknown', false],
      ['Emil', false, '', null, null, 'unknown', false],
    ]);
    expect(rows[2]?.problem).toMatch(/Docker engine is not running/);
    expect(rows[3]?.problem).toBe('no answer from 192.168.50.14:22 within 5 s');
  });
});

describe('wizardRows (pure)', () => {
  const facts = (swarm: string) => parseFacts(`arch=x86_64\ncpus=4\nmemkb=7969164\nhostname=h\n${swarm}`, false);
  const active = (id: string, manager: boolean) =>
    `swarm=${JSON.stringify({ NodeID: id, LocalNodeState: 'active', ControlAvailable: manager, Error: '', RemoteManagers: null })}\n`;

  it('rows from facts, problems, who is connected and the leader node, in inventory order', () => {
    const robots = inventoryFile().robots;
    const rows = wizardRows(robots, {
      facts: new Map([
        ['Anton', facts(active('n-anton', true))],
        ['Ida', facts(active('n-ida', false))],
        ['Otto', facts('docker_error=permission denied while trying to connect to the Docker daemon socket\n')],
      ]),
      problems: new Map([['Emil', 'no answer from 192.168.50.14:22 within 5 s']]),
      connected: new Set(['Anton', 'Ida', 'Otto']),
      leaderNode: 'n-anton',
    });
    expect(rows.map((r) => [r.name, r.ip, r.zone, r.reachable, r.cpus, r.ramGiB, r.swarmRole, r.leader])).toEqual([
      ['Anton', '192.168.50.11', 'hall-a', true, 4, 7.6, 'manager', true],
      ['Ida', '192.168.50.12', 'hall-a', true, 4, 7.6, 'worker', false],
      ['Otto', '192.168.50.13', 'hall-b', true, 4, 7.6, 'unknown', false],
      ['Emil', '192.168.50.14', 'hall-b', false, null, null, 'unknown', false],
    ]);
    expect(rows.map((r) => r.problem)).toEqual([
      undefined,
      undefined,
      expect.stringMatching(/permission denied|docker/i),
      'no answer from 192.168.50.14:22 within 5 s',
    ]);
  });

  it('a robot out of the swarm is none; one connected at first but gone since is "not connected"; no leader node marks none', () => {
    const robots = inventoryFile().robots.slice(0, 2);
    const inactive = `swarm=${JSON.stringify({ NodeID: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null })}\n`;
    const rows = wizardRows(robots, {
      facts: new Map([['Anton', facts(inactive)]]),
      problems: new Map(),
      connected: new Set(['Anton']),
      leaderNode: undefined,
    });
    expect(rows.map((r) => [r.swarmRole, r.leader, r.problem])).toEqual([
      ['none', false, undefined],
      ['unknown', false, 'not connected'],
    ]);
  });
});

// Prompts that render the real @inquirer prompts and press keys on them, recording every screen.
type Ui = Awaited<ReturnType<typeof render>>;
type Keys = (ui: Ui, screens: string[]) => Promise<void>;
function driven(script: { checkbox: Keys; select: Keys; confirm: Keys[] }, screens: string[], printed: string[]): WizardPrompts {
  const confirms = [...script.confirm];
  const drive = async <T>(ui: Ui, keys: Keys): Promise<T> => {
    screens.push(ui.getScreen());
    await keys(ui, screens);
    return (await ui.answer) as T;
  };
  return {
    checkbox: async (config) => drive<string[]>(await render(checkbox, config), script.checkbox),
    select: async (config) => drive<string>(await render(select, config), script.select),
    confirm: async (config) =>
      drive<boolean>(await render(confirm, config), confirms.shift() ?? (() => Promise.reject(new Error('unexpected confirm')))),
    print: (text) => printed.push(text),
  };
}
const press = async (ui: Ui, screens: string[], ...keys: string[]) => {
  for (const key of keys) {
    if (key.length === 1)
      ui.events.type(key); // a character typed into the line
    else ui.events.keypress(key); // a named key: enter, space, down …
    await ui.nextRender();
  }
  screens.push(ui.getScreen());
};

describe('runWizard, driven by keystrokes', () => {
  it('pre-selects the proposal, offers leaders allowed to lead, and writes the accepted roles keeping comments', async () => {
    const inventory = inventoryFile();
    const screens: string[] = [];
    const printed: string[] = [];
    const result = await chooseRoles(
      inventory,
      ROWS,
      driven(
        {
          checkbox: (ui, s) => press(ui, s, 'enter'),
          select: (ui, s) => press(ui, s, 'enter'),
          confirm: [(ui, s) => press(ui, s, 'enter')],
        },
        screens,
        printed,
      ),
    );
    // The planner keeps Anton, spreads over zones (hall-a, hall-b), and skips unreachable Emil.
    const [boxScreen, , leaderScreen] = screens;
    expect(boxScreen).toMatch(/proposal 3 managers — tolerates 1 failure/);
    expect(boxScreen).toMatch(/◉ Anton .*manager \(leader\) now/);
    expect(boxScreen).toMatch(/◉ Ida /);
    expect(boxScreen).toMatch(/◉ Otto /);
    expect(boxScreen).toMatch(/◯ Emil .*UNREACHABLE/);
    // Otto may not lead: not offered. The inventory's leader is the default.
    expect(leaderScreen).toMatch(/❯ Anton/);
    expect(leaderScreen).toMatch(/Ida/);
    expect(leaderScreen).not.toMatch(/Otto/);
    expect(result).toEqual({
      managers: ['Anton', 'Ida', 'Otto'],
      leader: 'Anton',
      roles: { Anton: 'manager', Ida: 'manager', Otto: 'manager', Emil: 'worker' },
      saved: true,
    });
    const after = readFileSync(inventory.file, 'utf8');
    for (const comment of INVENTORY.match(/#.*$/gm) ?? []) expect(after).toContain(comment);
    expect(loadInventory(inventory.file).robots.map((r) => r.role)).toEqual(['manager', 'manager', 'manager', 'worker']);
  });

  it('shows the readout of a changed pick, warns on an even count and an unreachable pick, then saves the second Enter', async () => {
    const inventory = inventoryFile();
    const screens: string[] = [];
    const printed: string[] = [];
    const result = await chooseRoles(
      inventory,
      ROWS,
      driven(
        {
          // Cursor on Anton: down twice to Otto, untick it, Enter shows the readout of 2.
          checkbox: async (ui, s) => {
            await press(ui, s, 'down', 'down', 'space', 'enter');
            await press(ui, s, 'down', 'space', 'enter'); // tick Emil (unreachable): readout of 3 with a warning
            await press(ui, s, 'enter'); // accept
          },
          select: (ui, s) => press(ui, s, 'down', 'enter'), // Anton → Ida (Emil is disabled: unreachable)
          confirm: [(ui, s) => press(ui, s, 'enter')],
        },
        screens,
        printed,
      ),
    );
    const [, twoPicked, threePicked, , leaderScreen] = screens;
    expect(twoPicked).toMatch(/2 managers — tolerates 0 failures/);
    expect(twoPicked).toMatch(/warning: an even count adds no tolerance/);
    expect(twoPicked).toMatch(/Enter again to accept/);
    expect(threePicked).toMatch(/3 managers — tolerates 1 failure/);
    expect(threePicked).toMatch(/warning: Emil is unreachable/);
    expect(leaderScreen).toMatch(/- Emil .*\(cannot lead now\)/);
    expect(screens[3]).toMatch(/Enter again accepts: Anton, Ida, Emil$/);
    expect(result.managers).toEqual(['Anton', 'Ida', 'Emil']);
    expect(result.leader).toBe('Ida');
    expect(printed.join('\n')).toMatch(/note: Anton leads the running swarm/);
    const saved = loadInventory(inventory.file);
    expect(saved.swarm.leader).toBe('Ida');
    expect(saved.robots.map((r) => `${r.name}:${r.role}`)).toEqual(['Anton:manager', 'Ida:manager', 'Otto:worker', 'Emil:manager']);
    expect(readFileSync(inventory.file, 'utf8')).toContain('\n  leader: Ida        # where swarm init runs\n');
  });

  it('writes nothing when the operator says no', async () => {
    const inventory = inventoryFile();
    const result = await chooseRoles(
      inventory,
      ROWS,
      driven(
        {
          checkbox: (ui, s) => press(ui, s, 'enter'),
          select: (ui, s) => press(ui, s, 'enter'),
          confirm: [(ui, s) => press(ui, s, 'n', 'enter')],
        },
        [],
        [],
      ),
    );
    expect(result.saved).toBe(false);
    expect(readFileSync(inventory.file, 'utf8')).toBe(INVENTORY);
  });
});

describe('rolesCommand', () => {
  const tty = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY');
  const setTTY = (value: boolean) => Object.defineProperty(process.stdin, 'isTTY', { value, configurable: true });
  afterEach(() => {
    if (tty) Object.defineProperty(process.stdin, 'isTTY', tty);
    else delete (process.stdin as { isTTY?: boolean }).isTTY;
  });

  it('refuses without a terminal, naming the inventory fields to use instead', async () => {
    expect(() => requireTerminal(false)).toThrow(NO_TERMINAL);
    expect(NO_TERMINAL).toMatch(/role: manager\|worker\|auto/);
    expect(NO_TERMINAL).toMatch(/swarm\.leader/);
    expect(NO_TERMINAL).toMatch(/swarm\.managers/);
    setTTY(false);
    const inventory = inventoryFile();
    await expect(rolesCommand(fakeFleet(inventory))).rejects.toThrow(/needs a terminal/);
    expect(readFileSync(inventory.file, 'utf8')).toBe(INVENTORY);
  });

  it('runs the wizard with the facts of the fleet, then asks whether to run provision swarm', async () => {
    setTTY(true);
    const inventory = inventoryFile();
    const printed: string[] = [];
    const asked: string[] = [];
    const prompts: WizardPrompts = {
      checkbox: async (config) => {
        // Otto's docker does not answer and Emil is down: 2 robots can manage now, so the proposal is 1 manager.
        expect(config.choices.filter((c) => c.checked).map((c) => c.value)).toEqual(['Anton']);
        expect(config.validate([{ value: 'Anton' }])).toBe(true); // the proposal, whose readout is in the message: accepted at once
        expect(config.validate([{ value: 'Anton' }, { value: 'Ida' }])).toMatch(
          /^2 managers — tolerates 0 failures\nwarning: an even count/,
        );
        expect(config.validate([{ value: 'Anton' }, { value: 'Ida' }])).toBe(true); // Enter again on the same pick
        expect(config.validate([{ value: 'Otto' }])).toMatch(/Otto: the Docker engine is not running[\s\S]*none of these may lead now/);
        expect(config.validate([])).toMatch(/pick at least one manager/);
        return ['Anton', 'Ida'];
      },
      select: async (config) => {
        expect(config.choices.map((c) => c.value)).toEqual(['Anton', 'Ida']);
        expect(config.default).toBe('Anton');
        return 'Anton';
      },
      confirm: async (config) => {
        asked.push(config.message);
        return true;
      },
      print: (text) => printed.push(text),
    };
    expect(await rolesCommand(fakeFleet(inventory), prompts)).toBe(true);
    expect(printed[0]).toMatch(/^ROBOT/);
    expect(printed.join('\n')).toMatch(/2 managers — tolerates 0 failures/);
    expect(asked).toEqual([`Write these roles and leader Anton into ${inventory.file}?`, 'Run provision swarm now to apply these roles?']);
    expect(loadInventory(inventory.file).robots.map((r) => r.role)).toEqual(['manager', 'manager', 'worker', 'worker']);
  });
});
