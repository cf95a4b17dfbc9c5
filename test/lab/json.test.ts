// The one --json contract on a real lab of 3 robots: every command's output validated against the
// schema (src/ui/json.ts = docs/provision.schema.json), and agreeing with what the robots say.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { finishLab, labDown, labUp, newOperator, onRobot, provision, type Operator } from './harness.js';
import { runResultSchema, type RunResultJson } from '../../src/ui/json.js';

let inventory: string;
let op: Operator;
const tokens: string[] = [];
const ROBOTS = ['Anton', 'Ida', 'Otto'];

async function json(args: string[]): Promise<RunResultJson> {
  const run = await provision(op, [...args, '-i', inventory, '--json']);
  const out = runResultSchema.parse(JSON.parse(run.stdout));
  expect(out.command).toBe(args[0]);
  expect(out.exitCode).toBe(run.code);
  expect(out.robots.map((r) => r.name)).toEqual(ROBOTS);
  return out;
}

// Each robot holds only the token its role needs: read them all, for the leak check at the end.
const readTokens = () =>
  ROBOTS.forEach((r) => tokens.push(...onRobot(r, 'cat ~/swarm_tokens/*_token 2>/dev/null || true').split('\n').filter(Boolean)));

beforeAll(() => {
  labDown();
  inventory = labUp(3);
  op = newOperator();
}, 240_000);

afterAll(() => finishLab(op, tokens), 120_000);

describe('--json of every command that reaches robots', () => {
  it('keys (dry run, then for real)', async () => {
    const dry = await json(['keys', '--dry-run']);
    expect(dry.dryRun).toBe(true);
    const out = await json(['keys']);
    expect(out).toMatchObject({ dryRun: false, exitCode: 0 });
    expect(out.robots.every((r) => r.status === 'changed')).toBe(true);
    expect(out.notes.join()).toMatch(/SSH mesh verified/);
    expect(out.mesh).toMatchObject({ robots: 3, verified: ROBOTS, failed: {} });
  }, 180_000);

  it('swarm: roles per robot, the swarm under its key', async () => {
    const out = await json(['swarm']);
    readTokens();
    expect(out.exitCode).toBe(0);
    expect(out.robots.map((r) => r.role)).toEqual(['manager', 'manager', 'manager']);
    expect(out.swarm?.managers).toEqual(ROBOTS);
    expect(out.swarm?.nodes).toHaveLength(3);
  }, 180_000);

  it('status: the common shape, its data under status', async () => {
    const out = await json(['status']);
    expect(out.exitCode).toBe(0);
    expect(out.status?.quorum).toBe(true);
    expect(out.status?.robots.map((r) => r.nodeId)).toEqual(
      ROBOTS.map((r) => onRobot(r, "docker info --format '{{.Swarm.NodeID}}'").trim()),
    );
    expect(out.robots.map((r) => r.role)).toEqual(['manager', 'manager', 'manager']);
  }, 60_000);

  it('rotate', async () => {
    const out = await json(['rotate', '--token', 'worker']);
    readTokens();
    expect(out.exitCode).toBe(0);
  }, 120_000);

  it("recover (a dry run: forcing a new cluster on a healthy swarm is not this suite's subject)", async () => {
    const out = await json(['recover', '--on', 'Anton', '--dry-run']);
    expect(out).toMatchObject({ dryRun: true, exitCode: 0 });
    expect(out.robots.find((r) => r.name === 'Anton')).toMatchObject({
      status: 'changed',
      details: [expect.stringMatching(/would run docker swarm init --force-new-cluster/)],
    });
  }, 120_000);

  it('reset', async () => {
    const out = await json(['reset', '--yes']);
    expect(out.exitCode).toBe(0);
    for (const r of ROBOTS) expect(onRobot(r, "docker info --format '{{.Swarm.LocalNodeState}}'").trim()).toBe('inactive');
  }, 180_000);

  it('bad input on a real run: JSON errors on stdout, exit 2, nothing contacted', async () => {
    const run = await provision(op, ['recover', '-i', inventory, '--on', 'Nobody', '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toEqual({
      command: 'recover',
      exitCode: 2,
      errors: [{ message: expect.stringMatching(/--on Nobody: no robot of that name/) }],
    });
  }, 30_000);
});
