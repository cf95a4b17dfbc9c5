// `provision keys` as the fleet grows (stand-in executor): what a robot sends back on a re-run does not
// grow with the fleet. Each robot's three ~/.ssh blocks hold a line per robot; read whole, N robots
// would send N² bytes a run (~1 GB of CLI memory at 1000 robots). The gather sends each block's sha256.
import { describe, expect, it } from '@jest/globals';
import { scratchOperator } from './standIns.js';
import type { SimRobot } from './recorder.js';
import type { ExecResult } from '../../src/ssh/connection.js';

scratchOperator('provision-keys-scale-');
const { Recorder, freshRobot } = await import('./recorder.js');
const { runKeys, keysOpening } = await import('../../src/steps/keys.js');
const { parseInventory } = await import('../../src/inventory/load.js');

type Exec = (robot: string, line: string, stdin: string | Buffer | undefined) => Promise<ExecResult>;

/** A fresh keys run then a re-run over `n` robots: the bytes each robot answered in the re-run, on average. */
async function rerunBytesPerRobot(n: number): Promise<{ bytes: number; changed: number }> {
  const names = Array.from({ length: n }, (_, i) => `R${i + 1}`);
  const inventory = parseInventory(
    `robots:\n${names.map((r, i) => `  - { name: ${r}, ip: 10.0.${Math.floor(i / 200)}.${(i % 200) + 1}, user: u }`).join('\n')}\n`,
    'scale.yaml',
  );
  const robots = new Map<string, SimRobot>(names.map((r) => [r, freshRobot()]));
  let bytes = 0;
  const run = async () => {
    const rec = new Recorder(robots);
    const counted = rec as unknown as { exec: Exec };
    const exec = counted.exec.bind(rec);
    counted.exec = async (robot, line, stdin) => {
      const r = await exec(robot, line, stdin);
      bytes += r.stdout.length;
      return r;
    };
    const fleet = rec.fleet(inventory, { dryRun: false });
    expect(await fleet.lock(keysOpening(fleet))).toBe(true);
    await runKeys(fleet, { verify: false });
    return fleet;
  };
  await run();
  bytes = 0;
  const fleet = await run();
  return { bytes: bytes / n, changed: [...fleet.outcomes.values()].filter((o) => o.details.length).length };
}

describe('provision keys at scale (stand-in executor)', () => {
  it('a re-run: each robot answers as many bytes at 150 robots as at 10, and nothing changes', async () => {
    const small = await rerunBytesPerRobot(10);
    const large = await rerunBytesPerRobot(150);
    expect(small.changed).toBe(0);
    expect(large.changed).toBe(0);
    // Whole files would be ~15× (a line per robot in each of three blocks); a few digits of names and addresses differ.
    expect(large.bytes).toBeLessThan(small.bytes * 1.1);
  }, 60_000);
});
