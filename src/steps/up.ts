// `provision up`'s composition: keys, then swarm, over the same connections and run lock (the CLI adds
// the report and --check; test/unit/upRoundTrips.test.ts counts what it sends).
import type { Fleet } from '../run/fleet.js';
import type { Robot } from '../inventory/schema.js';
import { batch } from '../remote/shell.js';
import { checkMeshLast, keysOpening, runKeys } from './keys.js';
import { runSwarm, type SwarmReport } from './swarm.js';
import { pathMtuReads } from './preflight.js';
import { factsFirstCommand, preflightFirstCommand } from './swarmState.js';

/** With the run lock, in one remote call: keys' first read and swarm's, facts and preflight (each answers its phase, see Fleet.firstRead). */
export const upOpening = (fleet: Pick<Fleet, 'inLimit' | 'options'>) => (robot: Robot) =>
  batch([keysOpening(fleet)(robot), factsFirstCommand(robot), preflightFirstCommand(robot)]);

/**
 * `last`: nothing follows (no --check, no --install-service): the keys' mesh check goes after the swarm,
 * each robot's run lock released in the call of its probe (one remote call less per robot). Otherwise the
 * mesh check ends the keys part, as `provision keys` alone would, and the lock stays for what follows.
 */
export async function runUp(
  fleet: Fleet,
  options: { verify: boolean; last: boolean },
): Promise<{ keys: { json: object } | void; report: SwarmReport }> {
  // A robot's ~/.ssh write carries its path-MTU read (the preflight's, used where some robot joins);
  // planned once for the robots connected at the first write, not once per robot (N² at 1000).
  let reads: ((robot: string) => string | undefined) | undefined;
  const rideOnWrite = (robot: Robot) =>
    (reads ??= pathMtuReads(
      fleet,
      fleet.connected().map((c) => c.robot),
    ))(robot.name);
  const keys = await runKeys(fleet, { verify: options.verify, mesh: options.last ? 'later' : 'now', rideOnWrite });
  const report = await runSwarm(fleet);
  if (!keys?.meshed) return { keys, report };
  return { keys: await checkMeshLast(fleet, keys.meshed), report };
}
