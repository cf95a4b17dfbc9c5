// `provision rotate --keys` over stand-in robots (each a home folder here, every command run by a real
// sh, keys made by the real ssh-keygen): after EVERY command any robot receives, every robot still has
// a key its ~/.ssh/config offers for each other robot whose private and public halves agree and which
// that robot's authorized_keys trusts — no login can fail at any moment. Afterwards only new keys are
// trusted. No ssh is run: the mesh check is off.
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StandIn } from '../../src/ssh/connection.js';
import { localRobot, scratchOperator } from './standIns.js';

const root = scratchOperator('provision-rotate-');

const { RobotConnection } = await import('../../src/ssh/connection.js');
const { Fleet } = await import('../../src/run/fleet.js');
const { runKeys } = await import('../../src/steps/keys.js');
const { runRotateKeys } = await import('../../src/steps/rotateKeys.js');
const { parseInventory } = await import('../../src/inventory/load.js');
const { splitManagedBlock } = await import('../../src/remote/managedBlock.js');
const { keyOf } = await import('../../src/remote/sshFiles.js');

const ROBOTS = ['Anton', 'Ida', 'Otto'];
const inventory = parseInventory(
  `robots:\n${ROBOTS.map((r, i) => `  - { name: ${r}, ip: 127.0.0.${11 + i}, user: ${r.toLowerCase()} }`).join('\n')}\n`,
  'stand-in.yaml',
);
const homes = new Map(ROBOTS.map((r) => [r, join(root, r)]));
const home = (r: string) => homes.get(r) as string;
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

/** The key ssh on `from` can log in with to `to` right now: the first IdentityFile of its config whose halves agree and that `to` trusts. */
function workingKey(from: string, to: string): string | null {
  const config = splitManagedBlock(read(join(home(from), '.ssh/config'))).block ?? [];
  const at = config.indexOf(`Host ${to}`);
  const files: string[] = [];
  for (let i = at + 1; at >= 0 && i < config.length && !config[i]?.startsWith('Host '); i++) {
    const m = /^\s+IdentityFile ~\/(.+)$/.exec(config[i] as string);
    if (m) files.push(join(home(from), m[1] as string));
  }
  const trusted = new Set(
    read(join(home(to), '.ssh/authorized_keys'))
      .split('\n')
      .map(keyOf),
  );
  for (const file of files) {
    if (!existsSync(file)) continue;
    let derived: string | null;
    try {
      derived = keyOf(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      continue; // the file is being replaced: not usable at this instant
    }
    const pub = existsSync(`${file}.pub`) ? keyOf(read(`${file}.pub`)) : derived;
    if (pub !== derived) continue; // ssh would offer .pub and fail to sign with a private key that does not match
    if (derived && trusted.has(derived)) return derived;
  }
  return null;
}

const broken: string[] = [];
let watching = false;
let commands = 0;
function fleetOver() {
  const reach = new Map(
    ROBOTS.map((name, i) => {
      const real = localRobot(home(name));
      const standIn: StandIn = async (line, stdin) => {
        const result = await real(line, stdin);
        if (watching) {
          commands++;
          for (const a of ROBOTS)
            for (const b of ROBOTS)
              if (a !== b && !workingKey(a, b)) broken.push(`after command ${commands} (on ${name}): ${a} cannot log in to ${b}`);
        }
        return result;
      };
      const conn = RobotConnection.standIn({ name, host: `127.0.0.${11 + i}`, port: 22, username: name.toLowerCase() }, standIn);
      return [name, { ok: true as const, conn, hostKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOf${name}`, newHostKey: null }];
    }),
  );
  return Fleet.overStandIns(inventory, { dryRun: false, maxHandshakes: 32 }, reach);
}
const pubOf = (r: string) => keyOf(read(join(home(r), '.ssh/id_ed25519.pub')));

describe('provision rotate --keys', () => {
  it('keeps a working key between every pair after every command, then trusts only the new keys', async () => {
    for (const r of ROBOTS) {
      mkdirSync(home(r), { recursive: true });
      chmodSync(home(r), 0o755); // whatever this machine's umask: StrictModes accepts the home
    }
    await runKeys(fleetOver(), { verify: false });
    const before = new Map(ROBOTS.map((r) => [r, pubOf(r)]));
    for (const a of ROBOTS) for (const b of ROBOTS) if (a !== b) expect(workingKey(a, b)).toBe(before.get(a));

    watching = true;
    const fleet = fleetOver();
    await runRotateKeys(fleet, { settleMs: 0, verify: false });
    watching = false;

    expect(fleet.exitCode()).toBe(0);
    expect(commands).toBeGreaterThanOrEqual(ROBOTS.length * 6);
    expect(broken).toEqual([]);
    for (const r of ROBOTS) {
      const now = pubOf(r);
      expect(now).not.toBe(before.get(r));
      expect(existsSync(join(home(r), '.ssh/id_ed25519.next'))).toBe(false);
      const trusted = read(join(home(r), '.ssh/authorized_keys'));
      for (const other of ROBOTS) {
        expect(trusted).toContain(pubOf(other) as string);
        expect(trusted).not.toContain(before.get(other) as string);
      }
      expect(read(join(home(r), '.ssh/config'))).not.toContain('.next');
    }
    for (const a of ROBOTS) for (const b of ROBOTS) if (a !== b) expect(workingKey(a, b)).toBe(pubOf(a));
  }, 120_000);
});
