// `provision keys` phase by phase against the stand-in executor (recorder.ts): for a given fleet,
// the exact commands each robot receives, in order, filed under the phase that sent them.
import { describe, expect, it } from '@jest/globals';
import { scratchOperator } from './standIns.js';
import type { SimRobot } from './recorder.js';
import type { ExecResult } from '../../src/ssh/connection.js';

scratchOperator('provision-keys-phases-');
const { Recorder, freshRobot } = await import('./recorder.js');
const { runKeys, keysOpening, keysPhases } = await import('../../src/steps/keys.js');
const { parseInventory } = await import('../../src/inventory/load.js');
const { Interrupted } = await import('../../src/interrupt.js');

const ROBOTS = ['Anton', 'Ida', 'Otto'];
const inventory = parseInventory(
  `robots:\n${ROBOTS.map((r, i) => `  - { name: ${r}, ip: 10.0.0.${i + 1}, user: ${r.toLowerCase()} }`).join('\n')}\n`,
  'stand-in.yaml',
);
const fresh = () => new Map<string, SimRobot>(ROBOTS.map((r) => [r, freshRobot()]));

/** One keys run as the CLI makes it: locked with the gather riding on the lock (none in a dry run). */
async function keys(robots: Map<string, SimRobot>, options: { dryRun?: boolean; limit?: Set<string> } = {}) {
  const rec = new Recorder(robots);
  const fleet = rec.fleet(inventory, { dryRun: false, ...options });
  if (!fleet.options.dryRun) expect(await fleet.lock(keysOpening(fleet))).toBe(true);
  const result = await runKeys(fleet);
  return { rec, fleet, result };
}

const [PREPARING, PLANNING, WRITING, STRICT_MODES, MESH] = keysPhases(false).map((p) => p.title);
const COMPARING = keysPhases(true)[2]?.title;
const LOCK = 'taking the run lock';
/** The three files in one remote call (each still written and reported on its own). */
const WRITES = [`${WRITING}: write .ssh/authorized_keys .ssh/known_hosts .ssh/config`];
const opening = (robot: string, dry = 0) => `${LOCK}: lock RUN 900 '' && gather-ssh ${robot.toLowerCase()}@${robot} ${dry} 1`;

describe('provision keys, phase by phase (stand-in executor): fresh, converged, dry', () => {
  it('names its phases in order', () => {
    expect(keysPhases(false).map((p) => p.title)).toEqual([
      'preparing ~/.ssh',
      'planning ~/.ssh',
      'writing ~/.ssh',
      'failing what StrictModes refuses',
      'checking the SSH mesh',
    ]);
    expect(COMPARING).toBe('comparing ~/.ssh');
  });

  it('fresh robots: the gather rides with the lock, the three files are written, the mesh check probes a ring', async () => {
    const { rec, fleet, result } = await keys(fresh());
    const next = { Anton: 'Ida', Ida: 'Otto', Otto: 'Anton' };
    for (const robot of ROBOTS)
      expect(rec.of(robot)).toEqual([opening(robot), ...WRITES, `${MESH}: mesh-probe ${next[robot as keyof typeof next]}`]);
    expect(fleet.outcomes.get('Anton')?.details).toEqual([
      'created ~/.ssh',
      'generated an ed25519 key pair',
      'updated ~/.ssh/authorized_keys (+6)',
      'updated ~/.ssh/known_hosts (+5)',
      'updated ~/.ssh/config (+15)',
    ]);
    expect(result).toEqual({ json: { mesh: { robots: 3, verified: ROBOTS, failed: {}, logins: 3 } } });
    expect(fleet.exitCode()).toBe(0);
  });

  it('files already right (a second run): read and probed, nothing written', async () => {
    const robots = fresh();
    await keys(robots);
    const { rec, fleet } = await keys(robots);
    expect(rec.of('Anton')).toEqual([opening('Anton'), `${MESH}: mesh-probe Ida`]);
    expect([...fleet.outcomes.values()].map((o) => [o.status, o.details])).toEqual(ROBOTS.map(() => ['ok', []]));
  });

  it('a dry run (no lock): each robot only read, in the gather phase; nothing changes, no mesh check', async () => {
    const robots = fresh();
    const { rec, fleet, result } = await keys(robots, { dryRun: true });
    for (const robot of ROBOTS) expect(rec.of(robot)).toEqual([`${PREPARING}: gather-ssh ${robot.toLowerCase()}@${robot} 1 1`]);
    expect(fleet.outcomes.get('Ida')?.details).toEqual([
      'would have created ~/.ssh',
      'would have generated an ed25519 key pair',
      'would update ~/.ssh/authorized_keys (+6)',
      'would update ~/.ssh/known_hosts (+5)',
      'would update ~/.ssh/config (+15)',
    ]);
    expect(robots).toEqual(fresh());
    expect(result).toBeUndefined();
  });
});

describe('provision keys over fleets that are not all alike, phase by phase', () => {
  it('--limit Anton: Ida and Otto are only read (the gather as in a dry run); Anton alone is written, no mesh of one', async () => {
    const { rec, fleet } = await keys(fresh(), { limit: new Set(['Anton']) });
    expect(rec.of('Anton')).toEqual([opening('Anton'), ...WRITES]);
    for (const robot of ['Ida', 'Otto']) expect(rec.of(robot)).toEqual([opening(robot, 1)]);
    expect(fleet.outcomes.get('Ida')).toMatchObject({ status: 'ok', details: [] });
  });

  it('a foreign ~/.ssh (owned by root): nothing written there, the robot fails with the fix; the others mesh without it', async () => {
    const robots = fresh();
    Object.assign((robots.get('Ida') as SimRobot).ssh, { dir: true, dirOwner: 0 });
    const { rec, fleet } = await keys(robots);
    expect(rec.of('Ida')).toEqual([opening('Ida')]);
    expect(rec.of('Anton')).toEqual([opening('Anton'), ...WRITES, `${MESH}: mesh-probe Otto`]);
    expect(rec.of('Otto')).toEqual([opening('Otto'), ...WRITES, `${MESH}: mesh-probe Anton`]);
    expect(fleet.outcomes.get('Ida')?.status).toBe('failed');
    expect(fleet.outcomes.get('Ida')?.details.join('\n')).toMatch(/Fix: sudo chown/);
  });

  it('StrictModes refuses a group-writable home: the files are still written and the robot probed, then it fails with the fix', async () => {
    const robots = fresh();
    (robots.get('Otto') as SimRobot).ssh.homeMode = '775';
    const { rec, fleet } = await keys(robots);
    expect(rec.of('Otto')).toEqual([opening('Otto'), ...WRITES, `${MESH}: mesh-probe Anton`]);
    const details = fleet.outcomes.get('Otto')?.details ?? [];
    expect(details.slice(0, 5)).toEqual([
      'created ~/.ssh',
      'generated an ed25519 key pair',
      'updated ~/.ssh/authorized_keys (+6)',
      'updated ~/.ssh/known_hosts (+5)',
      'updated ~/.ssh/config (+15)',
    ]);
    expect(details[5]).toMatch(/writable by its group.*Fix: chmod go-w \/home\/robot$/);
    expect(fleet.outcomes.get('Otto')?.status).toBe('failed');
    expect(STRICT_MODES).toBeDefined();
  });

  it('the mesh check: a failed login gets follow-up probes (one from another robot, one to another) that pin the blame', async () => {
    const robots = fresh();
    (robots.get('Ida') as SimRobot).refuses = ['Otto'];
    const { rec, fleet } = await keys(robots);
    expect(rec.of('Ida').filter((c) => c.startsWith(MESH as string))).toEqual([`${MESH}: mesh-probe Otto`, `${MESH}: mesh-probe Anton`]);
    expect(rec.of('Anton').filter((c) => c.startsWith(MESH as string))).toEqual([`${MESH}: mesh-probe Ida`, `${MESH}: mesh-probe Otto`]);
    expect(fleet.outcomes.get('Ida')?.details.at(-1)).toMatch(/^SSH mesh check: ssh Otto failed here .*Permission denied/);
    expect(fleet.notes.at(-1)).toBe('SSH mesh: 2 of 3 robots verified (5 logins)');
  });

  it('merged on parts as on whole files: a user line holding a fleet key is not repeated in the block, kept, and a re-run writes nothing', async () => {
    const robots = fresh();
    await keys(robots);
    const ida = robots.get('Ida') as SimRobot;
    const otto = robots.get('Otto') as SimRobot;
    const ottoKey = /^(ssh-ed25519 AAAAKeyOf\S+) .*provision:robot:Otto$/m.exec(otto.files.authorized_keys ?? '')?.[1] as string;
    expect(ottoKey).toBeDefined();
    const mine = `${ottoKey} my own line for Otto\n`;
    ida.files.authorized_keys = mine + (ida.files.authorized_keys ?? '');
    const { fleet } = await keys(robots);
    expect(fleet.outcomes.get('Ida')?.details).toEqual(['updated ~/.ssh/authorized_keys (-1)']);
    expect(ida.files.authorized_keys?.startsWith(mine)).toBe(true);
    expect(ida.files.authorized_keys?.split(ottoKey).length).toBe(2); // once: the user's line, not the block
    expect(otto.files.authorized_keys).toContain(`${ottoKey} provision:robot:Otto`); // the others' blocks unchanged
    const again = await keys(robots);
    expect([...again.fleet.outcomes.values()].map((o) => o.details)).toEqual(ROBOTS.map(() => []));
  });

  it('a block no merge produced and that changed while read fails that robot; the next robot holding it is read instead', async () => {
    const robots = fresh();
    await keys(robots);
    const withEmil = (text: string | null) => (text ?? '').replace('# END provision', '[Emil]:22 ssh-ed25519 AAAAEmil\n# END provision');
    const ida = robots.get('Ida') as SimRobot;
    const otto = robots.get('Otto') as SimRobot;
    ida.files.known_hosts = withEmil(ida.files.known_hosts);
    otto.files.known_hosts = withEmil(otto.files.known_hosts);
    const rec = new Recorder(robots);
    const hooked = rec as unknown as { exec: (robot: string, line: string, stdin?: string | Buffer) => Promise<ExecResult> };
    const exec = hooked.exec.bind(rec);
    let idaCalls = 0;
    hooked.exec = async (robot, line, stdin) => {
      // Between Ida's gather and her whole read, her block changes (another hand on the robot).
      if (robot === 'Ida' && ++idaCalls === 2) ida.files.known_hosts = withEmil(ida.files.known_hosts);
      return exec(robot, line, stdin);
    };
    const fleet = rec.fleet(inventory, { dryRun: false });
    expect(await fleet.lock(keysOpening(fleet))).toBe(true);
    await runKeys(fleet);
    expect(rec.of('Ida')).toEqual([opening('Ida'), `-: gather-ssh ida@Ida 1 0`]);
    expect(fleet.outcomes.get('Ida')).toMatchObject({ status: 'failed', details: [expect.stringMatching(/changed while it was read/)] });
    expect(rec.of('Otto')).toEqual([opening('Otto'), `-: gather-ssh otto@Otto 1 0`, `${MESH}: mesh-probe Anton`]);
    expect(fleet.outcomes.get('Otto')?.details.join('\n')).toMatch(/Emil/);
    expect(rec.of('Anton')).toEqual([opening('Anton'), `${MESH}: mesh-probe Otto`]);
  });

  it('Ctrl-C while a block is read whole: the run is interrupted, the robots holding it are not failed as unreadable', async () => {
    const robots = fresh();
    await keys(robots);
    const withEmil = (text: string | null) => (text ?? '').replace('# END provision', '[Emil]:22 ssh-ed25519 AAAAEmil\n# END provision');
    for (const r of ['Ida', 'Otto'])
      (robots.get(r) as SimRobot).files.known_hosts = withEmil((robots.get(r) as SimRobot).files.known_hosts);
    const rec = new Recorder(robots);
    const hooked = rec as unknown as { exec: (robot: string, line: string, stdin?: string | Buffer) => Promise<ExecResult> };
    const exec = hooked.exec.bind(rec);
    const calls = new Map<string, number>();
    hooked.exec = async (robot, line, stdin) => {
      calls.set(robot, (calls.get(robot) ?? 0) + 1);
      if (robot !== 'Anton' && calls.get(robot) === 2) throw new Interrupted(); // the whole read, as Ctrl-C abandons it
      return exec(robot, line, stdin);
    };
    const fleet = rec.fleet(inventory, { dryRun: false });
    expect(await fleet.lock(keysOpening(fleet))).toBe(true);
    await runKeys(fleet).catch((err: unknown) => expect(err).toBeInstanceOf(Interrupted));
    for (const r of ['Ida', 'Otto'])
      expect(fleet.outcomes.get(r)?.details.join('\n') ?? '').not.toMatch(/could not be read whole|interrupted/);
  });

  it('the plan merges over every robot read: drift in a block is reported, not written away (no --prune)', async () => {
    const robots = fresh();
    await keys(robots);
    const ida = robots.get('Ida') as SimRobot;
    ida.files.known_hosts = (ida.files.known_hosts ?? '').replace('# END provision', '[Emil]:22 ssh-ed25519 AAAAEmil\n# END provision');
    const { rec, fleet } = await keys(robots);
    // Ida's block is none the plan renders: read whole once (a dry read), from her alone; the others' blocks are known.
    expect(rec.of('Ida')).toEqual([opening('Ida'), `-: gather-ssh ida@Ida 1 0`, `${MESH}: mesh-probe Otto`]);
    expect(rec.of('Otto')).toEqual([opening('Otto'), `${MESH}: mesh-probe Anton`]);
    expect(fleet.outcomes.get('Ida')?.details.join('\n')).toMatch(/Emil/);
    expect(PLANNING).toBe('planning ~/.ssh');
  });
});
