// rotate --keys, reset, recover and --install-service phase by phase against the stand-in executor
// (recorder.ts): the exact commands each robot receives, in order, filed under the phase that sent them.
import { describe, expect, it } from '@jest/globals';
import { scratchOperator } from './standIns.js';
import type { SimRobot } from './recorder.js';
import type { Robot } from '../../src/inventory/schema.js';
import type { Fleet } from '../../src/run/fleet.js';
import type { RemoteCommand } from '../../src/remote/shell.js';

scratchOperator('provision-step-phases-');
const { Recorder, freshRobot } = await import('./recorder.js');
const { runKeys, rotateKeysOpening } = await import('../../src/steps/keys.js');
const { runRotateKeys, ROTATE_KEYS_PHASES } = await import('../../src/steps/rotateKeys.js');
const { runReset, resetPhases } = await import('../../src/steps/reset.js');
const { runRecover, RECOVER_PHASES } = await import('../../src/steps/recover.js');
const { installService, SERVICE_PHASES } = await import('../../src/steps/service.js');
const { factsFirstCommand } = await import('../../src/steps/swarmState.js');
const { parseInventory } = await import('../../src/inventory/load.js');

const ROBOTS = ['Anton', 'Ida', 'Otto'];
const inventory = parseInventory(
  `robots:\n${ROBOTS.map((r, i) => `  - { name: ${r}, ip: 10.0.0.${i + 1}, user: ${r.toLowerCase()} }`).join('\n')}\n`,
  'stand-in.yaml',
);
const LOCK = 'taking the run lock';

/** Robots after `provision keys` (and `provision swarm`: Anton leads, Ida manages, Otto works). */
async function provisioned(): Promise<Map<string, SimRobot>> {
  const robots = new Map<string, SimRobot>(ROBOTS.map((r) => [r, freshRobot()]));
  await runKeys(new Recorder(robots).fleet(inventory), { verify: false });
  const roles = [{ role: 'manager', leader: true }, { role: 'manager' }, { role: 'worker' }] as const;
  ROBOTS.forEach((r, i) => Object.assign(robots.get(r) as SimRobot, { node: { id: `n${i + 1}`, ...roles[i] }, tokens: ['manager_token'] }));
  return robots;
}

/** A run as the CLI makes it: locked, with the step's first command riding on the lock (no lock in a dry run). */
async function stepRun(robots: Map<string, SimRobot>, first: (robot: Robot, fleet: Fleet) => string | RemoteCommand, dryRun = false) {
  const rec = new Recorder(robots);
  const fleet = rec.fleet(inventory, { dryRun });
  if (!dryRun) expect(await fleet.lock((robot) => first(robot, fleet))).toBe(true);
  return { rec, fleet };
}

describe('provision rotate --keys, phase by phase', () => {
  it('every robot: new pair, trusted everywhere, offered first, switched, config and trust back to one key, .next removed, mesh', async () => {
    const robots = await provisioned();
    const { rec, fleet } = await stepRun(robots, (r, fleet) => rotateKeysOpening(fleet)(r));
    const result = await runRotateKeys(fleet, { settleMs: 0 });
    const [, GENERATE, TRUST, , OFFER, SWITCH, OFFER_ONE, WITHDRAW, DROP, , MESH] = ROTATE_KEYS_PHASES.map((p) => p.title);
    expect(rec.of('Ida')).toEqual([
      `${LOCK}: lock RUN 900 '' && gather-ssh ida@Ida 0 0`, // the gather rides with the lock
      `${GENERATE}: new-key ida@Ida`,
      `${TRUST}: write .ssh/authorized_keys`,
      `${OFFER}: write .ssh/config`,
      `${SWITCH}: adopt-key`,
      `${OFFER_ONE}: write .ssh/config`,
      `${WITHDRAW}: write .ssh/authorized_keys`,
      `${DROP}: drop-next-key`,
      `${MESH}: mesh-probe Otto`,
    ]);
    expect(result).toMatchObject({ json: { rotated: ROBOTS, mesh: { verified: ROBOTS } } });
    expect(fleet.exitCode()).toBe(0);
    expect(robots.get('Otto')?.files.authorized_keys).toContain('AAAANewKeyOfIda');
    expect(robots.get('Otto')?.files.authorized_keys).not.toContain('AAAAKeyOfida');
  });

  it('a dry run reads and says what it would do: no command but the gather', async () => {
    const { rec, fleet } = await stepRun(await provisioned(), () => '', true);
    expect(await runRotateKeys(fleet, { settleMs: 0 })).toBeUndefined();
    expect(rec.of('Anton')).toEqual([`${ROTATE_KEYS_PHASES[0]?.title}: gather-ssh anton@Anton 1 0`]);
    expect(fleet.outcomes.get('Anton')?.details).toEqual([expect.stringMatching(/^would generate a new key pair/)]);
  });
});

describe('provision reset, phase by phase', () => {
  it('--keys: the other manager demoted from the leader, the leader leaves last, tokens and ~/.ssh blocks removed', async () => {
    const { rec, fleet } = await stepRun(await provisioned(), (r) => factsFirstCommand(r));
    await runReset(fleet, { keys: true });
    const [, DEMOTE, LEAVE, CLEAN] = resetPhases({ keys: true }).map((p) => p.title);
    const cleanUp = (robot: string) => [
      `${CLEAN}: remove-tokens 0`,
      `${CLEAN}: gather-ssh ${robot.toLowerCase()}@${robot} 1 0`,
      ...['authorized_keys', 'known_hosts', 'config'].map((f) => `${CLEAN}: write .ssh/${f}`),
    ];
    expect(rec.of('Anton')).toEqual([
      `${LOCK}: lock RUN 900 '' && facts`,
      `${DEMOTE}: docker node demote n2`,
      `${LEAVE}: docker swarm leave --force`,
      ...cleanUp('Anton'),
    ]);
    expect(rec.of('Ida')).toEqual([
      `${LOCK}: lock RUN 900 '' && facts`,
      '-: node-ls',
      `${LEAVE}: docker swarm leave --force`,
      ...cleanUp('Ida'),
    ]);
    const leaves = rec.sent.filter((s) => s.command.startsWith('docker swarm leave')).map((s) => s.robot);
    expect(leaves.at(-1)).toBe('Anton');
    expect(fleet.outcomes.get('Ida')?.details).toEqual([
      'demoted to worker before leaving',
      'left the swarm',
      'remove ~/swarm_tokens',
      ...['authorized_keys', 'known_hosts', 'config'].map((f) => `remove the provision block from ~/.ssh/${f}`),
    ]);
  });

  it('a dry run sends only reads', async () => {
    const { rec, fleet } = await stepRun(await provisioned(), () => '', true);
    await runReset(fleet, { keys: false });
    expect(rec.of('Ida')).toEqual(['reading docker facts: facts', '-: node-ls', 'removing ~/swarm_tokens: remove-tokens 1']);
    expect(fleet.outcomes.get('Ida')?.details).toEqual([
      'would demote to worker before leaving',
      'would leave the swarm',
      'would remove ~/swarm_tokens',
    ]);
  });
});

describe('provision recover, phase by phase', () => {
  it('--on Ida: only Ida is sent the forced new cluster, after every robot is read', async () => {
    const { rec, fleet } = await stepRun(await provisioned(), (r) => factsFirstCommand(r));
    await runRecover(fleet, 'ida');
    const [, FORCE] = RECOVER_PHASES.map((p) => p.title);
    expect(rec.of('Ida')).toEqual([
      `${LOCK}: lock RUN 900 '' && facts`,
      `${FORCE}: docker swarm init --force-new-cluster --advertise-addr 10.0.0.2`,
    ]);
    for (const robot of ['Anton', 'Otto']) expect(rec.of(robot)).toEqual([`${LOCK}: lock RUN 900 '' && facts`]);
  });

  it('--on Otto (a worker): nothing is changed, Otto fails', async () => {
    const { rec, fleet } = await stepRun(await provisioned(), (r) => factsFirstCommand(r));
    await runRecover(fleet, 'Otto');
    expect(rec.sent.map((s) => s.command)).toEqual(ROBOTS.map(() => "lock RUN 900 '' && facts"));
    expect(fleet.outcomes.get('Otto')?.status).toBe('failed');
  });
});

describe('--install-service, phase by phase', () => {
  it('the install script on every robot, with its address', async () => {
    const { rec, fleet } = await stepRun(await provisioned(), (r) => factsFirstCommand(r));
    await installService(fleet);
    const [INSTALL] = SERVICE_PHASES.map((p) => p.title);
    expect(rec.of('Otto').slice(1)).toEqual([
      `${INSTALL}: install-service 0 /usr/local/lib/provision/provision-join.sh /etc/systemd/system/provision-join.service 1 10.0.0.3`,
    ]);
    expect(fleet.outcomes.get('Otto')?.details).toEqual([
      'boot-time join: wrote /usr/local/lib/provision/provision-join.sh, /etc/systemd/system/provision-join.service',
      'boot-time join: enabled provision-join.service',
    ]);
  });
});
