// No crash, ever: `provision keys` over stand-in robots (RobotConnection.standIn: each robot a home
// folder here, every command run by a real sh exactly as sshd would get it), with a failure injected
// at each command one robot receives. The run must end with a per-robot report: that robot failed
// with a reason, the others done, exit 1, and no change claimed that did not happen.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecResult, StandIn } from '../../src/ssh/connection.js';
import { localRobot, scratchOperator } from './standIns.js';

const root = scratchOperator('provision-faults-');

// Imported after HOME is set: the operator key and the log live under it.
const { RobotConnection } = await import('../../src/ssh/connection.js');
const { Fleet } = await import('../../src/run/fleet.js');
const { runKeys } = await import('../../src/steps/keys.js');
const { parseInventory } = await import('../../src/inventory/load.js');

const ROBOTS = ['Anton', 'Ida', 'Otto'];
const inventory = parseInventory(
  `robots:\n${ROBOTS.map((r, i) => `  - { name: ${r}, ip: 127.0.0.${11 + i}, user: ${r.toLowerCase()} }`).join('\n')}\n`,
  'stand-in.yaml',
);

type Fault = 'exit 1' | 'connection lost' | 'login shell did not run it' | 'nonsense answer';
const inject: Record<Fault, () => Promise<ExecResult>> = {
  'exit 1': async () => ({ code: 1, stdout: '', stderr: 'injected: Input/output error' }),
  'connection lost': async () => {
    throw new Error('the connection to the robot was lost');
  },
  'login shell did not run it': async () => ({ code: 0, stdout: 'Welcome!\n', stderr: '' }),
  'nonsense answer': async () => ({
    code: 0,
    stdout: 'provision-output-begins\nWelcome!\u0007 not what you asked for\n',
    stderr: 'provision-output-begins\n',
  }),
};

let run = 0;
/** One keys run on fresh robots; `fault` hits Ida's command number `at`. Returns the fleet and Ida's home. */
async function keysRun(fault?: { kind: Fault; at: number }) {
  const homes = new Map(ROBOTS.map((r) => [r, join(root, `run${++run}`, r)]));
  let calls = 0;
  const reach = new Map(
    ROBOTS.map((name, i) => {
      const real = localRobot(homes.get(name) as string);
      const standIn: StandIn = (line, stdin) => {
        if (name !== 'Ida') return real(line, stdin);
        return fault && calls++ === fault.at ? inject[fault.kind]() : (fault || calls++, real(line, stdin));
      };
      const conn = RobotConnection.standIn({ name, host: `127.0.0.${11 + i}`, port: 22, username: name.toLowerCase() }, standIn);
      return [name, { ok: true as const, conn, hostKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOf${name}`, newHostKey: null }];
    }),
  );
  for (const name of ROBOTS) {
    mkdirSync(homes.get(name) as string, { recursive: true });
    chmodSync(homes.get(name) as string, 0o755); // whatever this machine's umask: StrictModes accepts the home
  }
  const fleet = Fleet.overStandIns(inventory, { dryRun: false, maxHandshakes: 32 }, reach);
  await runKeys(fleet, { verify: false }); // the mesh check would run ssh here: not on a stand-in
  return { fleet, idaHome: homes.get('Ida') as string, calls };
}

let cleanCalls = 0;
beforeAll(async () => {
  const clean = await keysRun();
  cleanCalls = clean.calls;
  expect(clean.fleet.exitCode()).toBe(0);
  for (const r of ROBOTS) expect(clean.fleet.outcomes.get(r)?.status).toBe('changed');
}, 60_000);

describe('a failure injected at each command of provision keys', () => {
  it('the clean run sends Ida two commands: the gather, and the three files in one write', () => {
    expect(cleanCalls).toBe(2);
  });

  for (const kind of Object.keys(inject) as Fault[]) {
    it(`${kind}: at every step, Ida fails with a reason, the others are done, exit 1, no claim without a change`, async () => {
      for (let at = 0; at < cleanCalls; at++) {
        const { fleet, idaHome } = await keysRun({ kind, at });
        const ida = fleet.outcomes.get('Ida');
        expect({ at, status: ida?.status }).toEqual({ at, status: 'failed' });
        expect(ida?.details.join('\n')).toMatch(
          /injected|connection to the robot was lost|login shell did not run|could not understand the robot's answer/,
        );
        expect(fleet.outcomes.get('Anton')?.status).toBe('changed');
        expect(fleet.outcomes.get('Otto')?.status).toBe('changed');
        expect(fleet.exitCode()).toBe(1);
        for (const claim of ida?.details ?? []) {
          const file = /^updated ~\/\.ssh\/(\S+)/.exec(claim)?.[1];
          if (file)
            expect({
              at,
              file,
              written:
                existsSync(join(idaHome, '.ssh', file)) && readFileSync(join(idaHome, '.ssh', file), 'utf8').includes('# BEGIN provision'),
            }).toEqual({ at, file, written: true });
        }
      }
    }, 120_000);
  }
});
