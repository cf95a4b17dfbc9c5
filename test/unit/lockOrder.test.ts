// The run lock over a fleet of stand-in robots (each a home folder here, every command run by a real sh
// as sshd would get it): two runs started together, the gate robot, the refresh while the run lives.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { StandIn } from '../../src/ssh/connection.js';
import { localRobot, scratchOperator } from './standIns.js';

const root = scratchOperator('provision-lockorder-');

// Imported after HOME is set: the log lives under it.
const { RobotConnection } = await import('../../src/ssh/connection.js');
const { Fleet } = await import('../../src/run/fleet.js');
const { parseInventory } = await import('../../src/inventory/load.js');
const { LOCK_DIR } = await import('../../src/remote/lock.js');

const ROBOTS = ['Anton', 'Ida', 'Otto', 'Paula'];
const inventory = parseInventory(
  `robots:\n${ROBOTS.map((r, i) => `  - { name: ${r}, ip: 127.0.0.${11 + i}, user: ${r.toLowerCase()} }`).join('\n')}\n`,
  'stand-in.yaml',
);

let round = 0;
const freshHomes = () => {
  const dir = join(root, `round${++round}`);
  const homes = new Map(ROBOTS.map((r) => [r, join(dir, r)]));
  for (const h of homes.values()) mkdirSync(h, { recursive: true });
  return homes;
};

/** A run over the robots whose homes are `homes`; `wrap` may change what one robot answers. */
function fleetOver(homes: Map<string, string>, wrap: (name: string, real: StandIn) => StandIn = (_, real) => real) {
  const reach = new Map(
    ROBOTS.map((name, i) => {
      const conn = RobotConnection.standIn(
        { name, host: `127.0.0.${11 + i}`, port: 22, username: name.toLowerCase() },
        wrap(name, localRobot(homes.get(name) as string)),
      );
      return [name, { ok: true as const, conn, hostKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOf${name}`, newHostKey: null }];
    }),
  );
  return Fleet.overStandIns(inventory, { dryRun: false, maxHandshakes: 32 }, reach);
}

const lockFiles = (homes: Map<string, string>) => ROBOTS.map((r) => readdirSync(join(homes.get(r) as string, LOCK_DIR)));

describe('two runs started together on one fleet', () => {
  it('30 times: exactly one proceeds, the other refuses naming the holder and keeps no lock', async () => {
    for (let i = 0; i < 30; i++) {
      const homes = freshHomes();
      const runs = [fleetOver(homes), fleetOver(homes)];
      const got = await Promise.all(runs.map((f) => f.lock()));
      expect(got.filter(Boolean)).toHaveLength(1);
      const [winner, loser] = got[0] ? runs : [...runs].reverse();
      if (!winner || !loser) throw new Error('two runs');
      for (const r of ROBOTS) {
        expect(winner.outcomes.get(r)?.status).toBe('ok');
        expect(loser.outcomes.get(r)?.details.join('\n')).toMatch(
          new RegExp(`another provision run is working on the fleet: Anton \\(held by ${winner.runId} for \\d+ s\\)\\. Wait`),
        );
      }
      for (const files of lockFiles(homes)) expect(files).toEqual([expect.stringMatching(new RegExp(`\\.${winner.runId}$`))]);
      await winner.unlock();
      for (const h of homes.values()) expect(readdirSync(h)).toEqual([]);
    }
  }, 120_000);

  it('the gate goes alone first; a gate that fails for another reason hands it to the next robot', async () => {
    const homes = freshHomes();
    const calls: string[] = [];
    const fleet = fleetOver(homes, (name, real) => async (line, stdin) => {
      calls.push(`${name} asked`);
      const answer = name === 'Anton' ? { code: 0, stdout: 'provision-output-begins\nnonsense\n', stderr: '' } : await real(line, stdin);
      calls.push(`${name} answered`);
      return answer;
    });
    expect(await fleet.lock()).toBe(true);
    expect(calls.slice(0, 4)).toEqual(['Anton asked', 'Anton answered', 'Ida asked', 'Ida answered']);
    expect(calls.slice(4).sort()).toEqual(['Otto answered', 'Otto asked', 'Paula answered', 'Paula asked']);
    expect(fleet.outcomes.get('Anton')).toMatchObject({ status: 'failed' });
    expect(fleet.outcomes.get('Anton')?.details.join()).toMatch(/could not understand the robot's answer to taking the run lock/);
    await fleet.unlock();
  });
});

describe("the gate's opening (the step's first command, in the lock's call)", () => {
  it('the others are asked once its answer says the lock is ours, before its opening has answered; its opening is read whole', async () => {
    const homes = freshHomes();
    const calls: string[] = [];
    const fleet = fleetOver(homes, (name, real) => async (line, stdin, onStdout) => {
      calls.push(`${name} asked`);
      const answer = await real(line, stdin, onStdout);
      calls.push(`${name} answered`);
      return answer;
    });
    const opening = (robot: { name: string }) => (robot.name === 'Anton' ? 'sleep 1; echo slow opening' : 'echo quick');
    expect(await fleet.lock(opening)).toBe(true);
    expect(calls[0]).toBe('Anton asked');
    const antonAnswered = calls.indexOf('Anton answered');
    for (const r of ['Ida', 'Otto', 'Paula']) expect(calls.indexOf(`${r} asked`)).toBeLessThan(antonAnswered);
    const conn = (name: string) => {
      const r = fleet.reach.get(name);
      if (!r?.ok) throw new Error(name);
      return r.conn;
    };
    const anton = inventory.robots[0];
    if (!anton) throw new Error('Anton');
    expect(await fleet.firstRead(anton, conn('Anton'), opening(anton), 'the opening')).toBe('slow opening\n');
    for (const files of lockFiles(homes)) expect(files).toEqual([expect.stringMatching(new RegExp(`\\.${fleet.runId}$`))]);
    await fleet.unlock();
  });
});

describe('while the run lives', () => {
  it('its locks are refreshed; a lock taken over fails that robot and is left to its new holder; the release stops it', async () => {
    const homes = freshHomes();
    const fleet = fleetOver(homes);
    fleet.lockRefreshMs = 100;
    expect(await fleet.lock()).toBe(true);
    const first = lockFiles(homes);
    await new Promise((r) => setTimeout(r, 2200)); // the owner's time is the robot's date +%s: whole seconds
    const later = lockFiles(homes);
    for (const [i, files] of later.entries()) {
      expect(files).toHaveLength(1);
      expect(files).not.toEqual(first[i]);
    }
    // another run takes Otto's lock over (as lock.sh would: one rename)
    const otto = join(homes.get('Otto') as string, LOCK_DIR);
    const theirs = `owner.${Math.floor(Date.now() / 1000)}.other@pc:7:ff`;
    renameSync(join(otto, readdirSync(otto)[0] as string), join(otto, theirs));
    await new Promise((r) => setTimeout(r, 600));
    expect(fleet.outcomes.get('Otto')).toMatchObject({ status: 'failed' });
    expect(fleet.outcomes.get('Otto')?.details.join()).toMatch(/lost the run lock \(now held by other@pc:7:ff\)/);
    expect(fleet.outcomes.get('Ida')?.status).toBe('ok');
    expect(readdirSync(otto)).toEqual([theirs]);
    await fleet.unlock();
    expect(readdirSync(otto)).toEqual([theirs]);
    for (const r of ['Anton', 'Ida', 'Paula']) expect(readdirSync(homes.get(r) as string)).toEqual([]);
    fleet.close();
  }, 20_000);
});

describe("the release riding on a robot's last call (Fleet.releaseWith)", () => {
  it('releases after the command whatever it answered; unlock() releases only the rest, also where the ride failed; no refresh fails a released robot', async () => {
    const homes = freshHomes();
    const releases: string[] = [];
    let idaDown = false;
    const fleet = fleetOver(homes, (name, real) => async (line, stdin) => {
      if (name === 'Ida' && idaDown) {
        idaDown = false; // the ride's call is lost; the connection answers again for unlock()
        throw new Error('connection lost');
      }
      const answer = await real(line, stdin);
      if (/release/.test(Buffer.from(/echo (\S+) \| base64/.exec(line)?.[1] ?? '', 'base64').toString())) releases.push(name);
      return answer;
    });
    fleet.lockRefreshMs = 100;
    expect(await fleet.lock()).toBe(true);
    const conn = (name: string) => {
      const r = fleet.reach.get(name);
      if (!r?.ok) throw new Error(name);
      return r.conn;
    };
    const ok = await fleet.releaseWith('Anton', conn('Anton'), 'echo probed');
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringContaining('probed') });
    const failed = await fleet.releaseWith('Otto', conn('Otto'), '(echo refused >&2; exit 3)');
    expect(failed).toMatchObject({ code: 3, stderr: expect.stringContaining('refused') });
    idaDown = true;
    await expect(fleet.releaseWith('Ida', conn('Ida'), 'echo probed')).rejects.toThrow('connection lost');
    for (const r of ['Anton', 'Otto']) expect(readdirSync(homes.get(r) as string)).toEqual([]);
    expect(readdirSync(join(homes.get('Ida') as string, LOCK_DIR))).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 400)); // refresh ticks: the released robots are not "lost"
    for (const r of ROBOTS) expect(fleet.outcomes.get(r)?.status).toBe('ok');
    releases.length = 0;
    await fleet.unlock();
    expect(releases.sort()).toEqual(['Ida', 'Paula']);
    for (const h of homes.values()) expect(readdirSync(h)).toEqual([]);
    fleet.close();
  }, 20_000);
});
