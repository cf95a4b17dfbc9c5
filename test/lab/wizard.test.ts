// The role wizard in a real terminal (tmux), driven by keystrokes, against a real lab; then
// `provision swarm` applies what the operator chose.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BRIDGE, LAB_PASSWORD, ROOT, labDown, labUp, newOperator, onRobot, provision, type Operator } from './harness.js';

const SESSION = 'provision-wizard-test';
let inventory: string;
let op: Operator;

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
async function waitFor(pattern: RegExp, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const text = screen();
    if (pattern.test(text)) return text;
    if (Date.now() > end) throw new Error(`the wizard never showed ${pattern}; screen:\n${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

beforeAll(async () => {
  labDown();
  const labInventory = labUp(3);
  op = newOperator();
  inventory = join(op.home, 'robots.yaml');
  copyFileSync(labInventory, inventory);
  expect((await provision(op, ['keys', '-i', inventory])).code).toBe(0);
}, 180_000);

afterAll(() => {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // already ended
  }
  labDown();
}, 120_000);

describe('provision roles in a terminal', () => {
  it("writes the operator's choice into the inventory, keeping its comments; provision swarm applies it", async () => {
    const env = `HOME=${op.home} PROVISION_LOG_DIR=${op.logDir} PROVISION_ROUTE_DEV=${BRIDGE} PROVISION_PASSWORD=${LAB_PASSWORD}`;
    tmux(
      'new-session',
      '-d',
      '-s',
      SESSION,
      '-x',
      '160',
      '-y',
      '50',
      `env ${env} node ${join(ROOT, 'dist', 'cli.js')} roles -i ${inventory}; sleep 30`,
    );
    const table = await waitFor(/Managers — proposal 3 managers — tolerates 1 failure/);
    expect(table).toMatch(/Anton\s+10\.88\.0\.11\s+yes/);
    // Otto becomes a worker: down twice, space; Enter shows the readout; Enter again accepts.
    keys('Down');
    keys('Down');
    keys('Space');
    keys('Enter');
    await waitFor(/2 managers — tolerates 0 failures/);
    keys('Enter');
    await waitFor(/Leader/);
    keys('Enter');
    await waitFor(/Write these roles/);
    keys('y', 'Enter');
    await waitFor(/Run provision swarm now/);
    keys('n', 'Enter');
    await new Promise((r) => setTimeout(r, 1000));
    const saved = readFileSync(inventory, 'utf8');
    expect(saved).toContain('# written by scripts/lab.sh');
    expect(saved).toMatch(/name: Otto[\s\S]*?role: worker/);
    expect(saved).toMatch(/name: Anton[\s\S]*?role: manager/);

    const run = await provision(op, ['swarm', '-i', inventory]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Otto\s+joined\s+worker/);
    expect(
      onRobot('Anton', "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'")
        .split('\n')
        .filter((l) => /Leader|Reachable/.test(l)),
    ).toHaveLength(2);
  }, 120_000);
});
